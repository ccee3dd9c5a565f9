"""The operations face: ``GET /healthz``, ``GET /readyz``, ``GET /metrics`` and the middleware that counts,
times and logs every request. Installed by ``rtmhub.app``; not in the API's OpenAPI document (these are
for load balancers and Prometheus, not API clients) and not behind the API's or the pages' sign-in.
"""
from __future__ import annotations

import hmac
import logging
import time
import uuid
from collections.abc import Iterator
from functools import lru_cache

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import Metric
from sqlalchemy import text
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rtmhub.db import Database
from rtmhub.domain.customers import service as customers
from rtmhub.ops import metrics
from rtmhub.ops.logs import TRACKING_ID

log = logging.getLogger("rtmhub.ops")
access_log = logging.getLogger("rtmhub.access")
router = APIRouter(include_in_schema=False)
# Probes and scrapes arrive every few seconds from every balancer: their access lines are DEBUG.
QUIET = frozenset({"/healthz", "/readyz", "/metrics"})


def _error(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The upstream error shape, like every other refusal of rtmhub."""
    return JSONResponse(status_code=status, headers=headers, content={
        "message": message, "errors": [{"description": message, "errorCode": status}],
        "trackingId": getattr(request.state, "tracking_id", "RTMHUB_unknown")})


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers: nothing else is looked at (a database outage must not restart every app process)."""
    return {"status": "ok"}


@lru_cache(maxsize=1)
def schema_heads() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    from rtmhub.migrate import alembic_config

    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def readiness(db: Database) -> str | None:
    """None when the database answers and is migrated to the head of the migrations; else what is wrong."""
    try:
        conn = db.engine.connect()
    except Exception:  # noqa: BLE001 - any failure to connect means "not ready"; the log says why
        log.warning("readiness: the database cannot be reached", exc_info=True)
        return "The database cannot be reached; see the server log."
    try:
        with conn:
            try:
                current = frozenset(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
            except Exception as exc:  # noqa: BLE001 - no version table: never migrated
                log.warning("readiness: the database has no schema version (%s)", type(exc).__name__)
                current = frozenset()
    except Exception:  # noqa: BLE001 - the connection broke while closing
        return "The database cannot be reached; see the server log."
    heads = schema_heads()
    if current != heads:
        return (f"The database schema is at {', '.join(sorted(current)) or 'no version'}, not at "
                f"{', '.join(sorted(heads))}: run `rtmhub init` to migrate it.")
    return None


@router.get("/readyz")
def readyz(request: Request):
    problem = readiness(request.app.state.db)
    if problem is not None:
        return _error(request, 503, problem, {"Retry-After": "10"})
    return {"status": "ready", "database": "ok", "schema": ", ".join(sorted(schema_heads()))}


def _units(db: Database) -> Iterator[Metric]:
    used = metrics.gauge("rtmhub_package_units_used", "Units of a package assigned to users, summed over all "
                         "customers (read from the database at scrape time).", ["package"])
    allocated = metrics.gauge("rtmhub_package_units_allocated", "Units of a package allocated, summed over all "
                              "customers that limit it (customers with an unlimited allocation are left out).",
                              ["package"])
    up = metrics.gauge("rtmhub_database_up", "1 when the scrape's database query succeeded.", [])
    try:
        with db.unit_of_work(write=False) as s:
            totals = customers.units_by_package(s)
    except Exception:  # noqa: BLE001 - a scrape must still answer with the process's own counters
        log.warning("metrics: the units query failed", exc_info=True)
        up.add_metric([], 0)
        yield up
        return
    for row in totals:
        used.add_metric([row.package], row.used)
        if row.allocated is not None:
            allocated.add_metric([row.package], row.allocated)
    up.add_metric([], 1)
    yield from (used, allocated, up)


@router.get("/metrics")
def prometheus(request: Request):
    token = request.app.state.settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            return _error(request, 401, "GET /metrics needs the bearer token set in RTMHUB_METRICS_TOKEN.",
                          {"WWW-Authenticate": "Bearer"})
    db = request.app.state.db
    body = metrics.exposition([metrics.ScrapeCollector(lambda: _units(db))])
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def route_template(routes: list[BaseRoute], scope: Scope, path: str, root_path: str) -> str:
    """The template of the route that answered (``/v1/people/{personId}``), never the raw path, so the
    number of label values stays that of the routes. FastAPI routes leave themselves in the scope; the
    others (docs, static files) are found by matching again."""
    route = scope.get("route")
    if route is not None and hasattr(route, "path_format"):
        return route.path_format
    probe = {"type": "http", "path": path, "root_path": root_path, "method": scope.get("method", "GET")}
    partial = None
    for candidate in routes:
        match, _ = candidate.matches(probe)
        if match == Match.FULL or (match == Match.PARTIAL and partial is None):
            template = (candidate.path + "/{path}" if isinstance(candidate, Mount)
                        else getattr(candidate, "path_format", None) or getattr(candidate, "path", None))
            if match == Match.FULL:
                return template or "unmatched"
            partial = template
    return partial or "unmatched"


class Observability:
    """The outermost middleware: gives the request its tracking id (``RequestGuard`` keeps it), then counts
    and times it by route template and status and writes its access line, also for requests the guard
    refuses."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]):
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracking = f"RTMHUB_{uuid.uuid4()}"
        scope.setdefault("state", {})["tracking_id"] = tracking
        token = TRACKING_ID.set(tracking)
        path, root_path = scope.get("path", ""), scope.get("root_path", "")
        started = time.perf_counter()
        status = 500  # if nothing was answered, the server's error page was

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(self.routes, scope, path, root_path)
            method = scope.get("method", "GET")
            metrics.record_request(method, route, status, seconds)
            duration_ms = round(seconds * 1000, 1)
            access_log.log(logging.DEBUG if route in QUIET else logging.INFO, "%s %s %s %.1f ms", method, route,
                           status, duration_ms, extra={"method": method, "route": route, "status": status,
                                                       "duration_ms": duration_ms, "trackingId": tracking})
            TRACKING_ID.reset(token)


def install(app: FastAPI) -> None:
    """The operations routes first (nothing may shadow them), and the observing middleware, which
    ``rtmhub.app`` adds last so that it is the outermost."""
    app.include_router(router)


def observe(app: FastAPI) -> None:
    app.add_middleware(Observability, routes=app.router.routes)
