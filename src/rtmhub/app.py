"""Assembles the ASGI application from its faces: the REST API (/v1) and the web pages (/).

The only module that knows every face; no face imports another. The in-process task worker is
started here too, so one `rtmhub serve` is a complete installation."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from rtmhub import api, openapi_docs, scim, security_headers, web
from rtmhub.db import Database
from rtmhub.ops import http as ops_http
from rtmhub.request_guard import RequestGuard
from rtmhub.settings import Settings, get_settings


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if settings.inprocess_worker:
            from rtmhub.jobs.worker import Worker

            worker = Worker(app.state.db)
            worker.start_thread()
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
    app.state.db = database or Database(settings.database_url, echo=settings.log_sql)
    ops_http.install(app)  # /healthz, /readyz, /metrics: first, so no page route shadows them
    api.install(app)
    scim.install(app)  # /identity/scim/{orgId}/v2: directory sync
    openapi_docs.install(app)
    web.install(app)
    app.add_middleware(RequestGuard, max_body=settings.max_body_bytes, max_upload=settings.max_upload_bytes)
    ops_http.observe(app)  # outermost: counts and logs every request, those the guard refuses too
    security_headers.install(app, settings.public_url)
    return app
