"""The SCIM error (RFC 7644 §3.12): ``{schemas:[…Error], status:"400", scimType, detail}``."""
from __future__ import annotations

from fastapi.responses import JSONResponse

from rtmhub.errors import Conflict, DomainError, Forbidden, NotFound, PayloadTooLarge, Unauthorized, Unavailable

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
MEDIA_TYPE = "application/scim+json"


class ScimError(Exception):
    def __init__(self, status: int, detail: str, scim_type: str | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type


def bad(detail: str, scim_type: str = "invalidValue") -> ScimError:
    return ScimError(400, detail, scim_type)


def from_domain(exc: DomainError) -> ScimError:
    detail = exc.message
    if isinstance(exc, Unauthorized):
        return ScimError(401, detail)
    if isinstance(exc, Forbidden):
        return ScimError(403, detail)
    if isinstance(exc, NotFound):
        return ScimError(404, detail)
    if isinstance(exc, Conflict):
        return ScimError(409, detail, "uniqueness")
    if isinstance(exc, PayloadTooLarge):
        return ScimError(413, detail, "tooMany")
    if isinstance(exc, Unavailable):
        return ScimError(503, detail)
    return ScimError(exc.status if 400 <= exc.status < 500 else 400, detail, "invalidValue")


def body(err: ScimError) -> dict:
    data: dict = {"schemas": [ERROR_SCHEMA], "status": str(err.status), "detail": err.detail}
    if err.scim_type:
        data["scimType"] = err.scim_type
    return data


def response(err: ScimError, headers: dict | None = None) -> JSONResponse:
    if err.status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="rtmhub SCIM"'}
    if err.status == 503:
        headers = {**(headers or {}), "Retry-After": "1"}
    return JSONResponse(body(err), status_code=err.status, media_type=MEDIA_TYPE, headers=headers)
