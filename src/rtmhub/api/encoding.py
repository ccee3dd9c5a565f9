"""JSON answers encoded once, straight from the serializers' plain dicts (decision 38).

FastAPI passes an endpoint's returned dict through ``jsonable_encoder``, which inspects every value of every
item (dataclass, pydantic model, enum, path … checks) before ``JSONResponse`` encodes it: for a page of 100
subscribers that was a third of the request's time. The serializers (``api/serializers.py``) already give
JSON's own types, so the read endpoints encode the dict directly. The bytes are the same as
``JSONResponse``'s (same ``json.dumps`` arguments); a value json cannot take goes through
``jsonable_encoder`` as before, so nothing answers differently.
"""
from __future__ import annotations

import json
from typing import Any

from fastapi import Response
from fastapi.encoders import jsonable_encoder


def _fallback(value: Any) -> Any:
    return jsonable_encoder(value)


def encode(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"),
                      default=_fallback).encode("utf-8")


def json_response(body: Any, response: Response | None = None, status_code: int = 200) -> Response:
    """``body`` as an application/json answer. ``response`` is the endpoint's injected response: FastAPI drops
    its headers (``Link``, ``Location``) when an endpoint returns a response of its own, so they are
    carried over here, as FastAPI does for a returned dict."""
    answer = Response(encode(body), status_code=status_code, media_type="application/json")
    if response is not None:
        if response.status_code:
            answer.status_code = response.status_code
        answer.raw_headers.extend(response.headers.raw)
    return answer
