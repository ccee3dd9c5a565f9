"""The REST API under /v1: the upstream Webex Wholesale, People, Licenses, Locations and Organizations
contract, plus rtmhub's own additions (bulk people, CSV imports, tasks, the audit log)."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """The API's routers, its error rendering and its OpenAPI document on ``app``."""
    from rtmhub.api import audit, billing, errors, locations, people, tasks, wholesale

    errors.install(app)
    for module in (wholesale, billing, people, locations, tasks, audit):
        app.include_router(module.router)
    app.include_router(billing.download_router)  # signed links: the one /v1 route without a bearer token
    app.openapi = lambda: _openapi_without_422(app)  # type: ignore[method-assign]


def _openapi_without_422(app: FastAPI) -> dict[str, Any]:
    """Invalid requests are answered 400 in the upstream error shape, never FastAPI's 422: say so."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                if isinstance(operation, dict):
                    operation.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema
