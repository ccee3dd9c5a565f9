"""Error responses documented on every route, so clients and schema checkers know them."""
from __future__ import annotations

from pydantic import BaseModel


class ErrorItem(BaseModel):
    description: str
    errorCode: int | None = None


class ErrorBody(BaseModel):
    message: str
    errors: list[ErrorItem]
    trackingId: str


ERRORS: dict[int | str, dict] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "The request is not valid; the message says what to fix.",
        401: "No or bad access token.",
        403: "The token lacks the scope, or the administrator may not do this.",
        404: "Not found (or not yours).",
        409: "Conflicts with the current state (duplicate, allocation used up).",
        413: "The request body is too large.",
        429: "Too many requests.",
    }.items()
}
