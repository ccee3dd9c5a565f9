"""The one error shape of the upstream contract: {message, errors:[{description, errorCode}], trackingId}."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rtmhub.db import is_locked, unavailable
from rtmhub.errors import DomainError, Unavailable

log = logging.getLogger("rtmhub")


def tracking_id(request: Request) -> str:
    return getattr(request.state, "tracking_id", "RTMHUB_unknown")


def error_response(request: Request, status: int, message: str,
                   errors: list[tuple[str, int | None]] | None = None, headers: dict | None = None) -> JSONResponse:
    items = [{"description": d, "errorCode": c if c is not None else status} for d, c in (errors or [(message, None)])]
    return JSONResponse(status_code=status, headers=headers,
                        content={"message": message, "errors": items, "trackingId": tracking_id(request)})


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) if parts else "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError):
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Unavailable) else None
        return error_response(request, exc.status, exc.message,
                              [(e.description, e.error_code) for e in exc.errors], headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                errors.append(("The request body is not valid JSON: " + str(err.get("ctx", {}).get("error", "")), 400))
                continue
            where = _field(tuple(err.get("loc", ())))
            errors.append((f"{where}: {err.get('msg', 'invalid value')}", 400))
        message = "; ".join(d for d, _ in errors) or "The request is not valid."
        return error_response(request, 400, message, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        message = {404: "The requested resource was not found.",
                   405: "This method is not allowed on this resource."}.get(exc.status_code, str(exc.detail))
        return error_response(request, exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        if is_locked(exc):
            # A lock wait that ran out outside a unit of work (decision 23): busy, not broken.
            return await _domain(request, unavailable(exc))
        log.exception("unhandled error (tracking id %s)", tracking_id(request))
        # Rendered by the outermost middleware, outside RequestGuard: add its trackingid header here.
        return error_response(request, 500, "An internal error occurred; report the trackingId to the operator.",
                              headers={"trackingid": tracking_id(request)})
