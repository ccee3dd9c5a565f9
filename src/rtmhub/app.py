"""Assembles the ASGI application from its faces: the REST API (/v1) and the web pages (/).

The only module that knows every face; no face imports another. The in-process task worker is
started here too, so one `rtmhub serve` is a complete installation."""
from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from rtmhub import api, openapi_docs, scim, security_headers, web
from rtmhub.db import Database
from rtmhub.ops import http as ops_http
from rtmhub.request_guard import RequestGuard
from rtmhub.settings import Settings, get_settings

_heap_settled = False


def settle_heap() -> None:
    """Moves what start-up built (modules, routes, schemas: about 130,000 objects) out of the cyclic
    collector's sight, once per process. A full collection otherwise walks all of them and stalls the
    request that triggers it for 60-130 ms on these machines, which made single requests of a few ms
    take 100 ms (decision 49). Objects are still freed by reference counting; only cycles among the
    frozen ones would stay, and start-up leaves none after the collection before the freeze."""
    global _heap_settled
    if not _heap_settled:
        _heap_settled = True
        gc.collect()
        gc.freeze()


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if settings.inprocess_worker:
            from rtmhub.jobs.worker import Worker

            worker = Worker(app.state.db)
            worker.start_thread()
        settle_heap()
        yield
        if worker is not None:
            worker.stop.set()

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None, redoc_url=None,  # served by openapi_docs, without a CDN or inline script
        title="rtmhub",
        version="0.1.0",
        description="Self-hosted Partner Hub and Control Hub for wholesale Route-to-Market. The REST API follows "
                    "the Webex Wholesale, People, Licenses, Locations and Organizations contract.",
    )
    app.state.settings = settings
    app.state.db = database or Database(settings.database_url, echo=settings.log_sql, background_checkpoints=True)
    ops_http.install(app)  # /healthz, /readyz, /metrics: first, so no page route shadows them
    api.install(app)
    scim.install(app)  # /identity/scim/{orgId}/v2: directory sync
    openapi_docs.install(app)
    web.install(app)
    app.add_middleware(RequestGuard, max_body=settings.max_body_bytes, max_upload=settings.max_upload_bytes)
    ops_http.observe(app)  # outermost: counts and logs every request, those the guard refuses too
    security_headers.install(app, settings.public_url)
    return app
