"""The SCIM edge: who calls (bearer token, identity scopes, the organisation), one unit of work per request,
errors as SCIM errors, and the query parameters every resource reads."""
from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from rtmhub import ids
from rtmhub.db import Database, is_locked
from rtmhub.domain.access import service as access
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.directory import service as directory
from rtmhub.errors import DomainError
from rtmhub.scim import errors as scim_errors
from rtmhub.scim import resources, schemas
from rtmhub.scim.errors import MEDIA_TYPE, ScimError, bad

log = logging.getLogger("rtmhub.scim")
PREFIX = "/identity/scim/{orgId}/v2"
router = APIRouter(prefix=PREFIX, include_in_schema=False)
SCOPE_RW = "identity:people_rw"
SCOPE_READ = "identity:people_read"
ORG_NOT_FOUND = "Organization not found; check the orgId."
USER_NOT_FOUND = "User not found; check the id."
MEMBERS_MAX = 500
USER_ATTRS = {schemas.USER: {**schemas.attribute_index(schemas.USER), **resources.COMMON},
              schemas.ENTERPRISE: schemas.attribute_index(schemas.ENTERPRISE),
              schemas.WEBEX_USER: {}}
GROUP_ATTRS = {schemas.GROUP: {**schemas.attribute_index(schemas.GROUP), **resources.COMMON}}


@dataclass
class Ctx:
    db: Database
    caller: Caller
    org_raw: str | None
    base: str
    max_payload: int
    # Inside a Bulk request: its one transaction and the organisation it resolved (each operation then runs
    # in a SAVEPOINT of that transaction, see bulk.py); None for every other request.
    session: Session | None = None
    customer: Customer | None = None
    sync_log: directory.SyncLog | None = None  # its sync log lines, written once at its end


def scim_json(body: Any, status: int = 200, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


# --- the request edge ----------------------------------------------------------------------

def _authenticate(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    db: Database = request.app.state.db
    given = token.strip() if scheme.lower() == "bearer" else None
    tracking = getattr(request.state, "tracking_id", None)
    found = access.cached_bearer(given, request_id=tracking)  # the API's token cache (decision 38)
    if found is None:
        with db.unit_of_work(write=False) as session:
            found = access.authenticate_bearer(session, given, request_id=tracking)
    caller, stale = found
    if stale is not None:
        try:
            with db.unit_of_work() as session:
                access.touch_token(session, stale)
        except Exception:  # best effort, as the API does
            log.warning("could not record the use of API token %s", stale)
    return caller


def _ctx(request: Request, org_id: str) -> Ctx:
    settings = request.app.state.settings
    public = (settings.public_url or "").rstrip("/") or str(request.base_url).rstrip("/")
    caller = dataclasses.replace(_authenticate(request), directory=True)  # R12: the directory's own writes
    return Ctx(request.app.state.db, caller, ids.decode("ORGANIZATION", org_id),
               f"{public}/identity/scim/{org_id}/v2", settings.max_body_bytes)


def _need(ctx: Ctx, write: bool) -> None:
    scopes = ctx.caller.scopes
    if write:
        if SCOPE_RW not in scopes:
            raise ScimError(403, f"This request needs the scope '{SCOPE_RW}', which the access token does not have.")
        if ctx.caller.read_only:
            raise ScimError(403, "A read-only administrator cannot change anything.")
    elif SCOPE_RW not in scopes and SCOPE_READ not in scopes:
        raise ScimError(403, f"This request needs the scope '{SCOPE_READ}' or '{SCOPE_RW}'.")


def _customer(session: Session, ctx: Ctx, write: bool = False, deleting: bool = False) -> Customer:
    if ctx.org_raw is None:
        raise ScimError(404, ORG_NOT_FOUND)
    return access.resolve_customer(session, ctx.caller, ctx.org_raw, by="org_id", write=write, deleting=deleting,
                                   not_found=ORG_NOT_FOUND)


@contextmanager
def _writing(ctx: Ctx, deleting: bool = False) -> Iterator[tuple[Session, Customer]]:
    """The session and organisation a write runs in: a unit of work of its own, or, inside a Bulk request,
    the request's transaction and the organisation it resolved once (the write check, R53 and read-only,
    is still made for every operation)."""
    if ctx.session is not None and ctx.customer is not None:
        access.require_writable(ctx.session, ctx.caller, ctx.customer.partner_id, deleting=deleting)
        yield ctx.session, ctx.customer
        return
    with ctx.db.unit_of_work() as session:
        yield session, _customer(session, ctx, write=True, deleting=deleting)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise ScimError(400, "The request needs a JSON body.", "invalidSyntax")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ScimError(400, f"The body is not valid JSON: {exc}", "invalidSyntax") from None


def _logged(exc: Exception) -> bool:
    """Whether a failed write goes to the sync event log: a refusal of what the directory sent (400, 409, 413),
    not a request the token may not make (401, 403, 404), which leaves no trace in the organisation."""
    return isinstance(exc, (ScimError, DomainError)) and exc.status not in (401, 403, 404)


def failure_reason(exc: Exception) -> str:
    return str(getattr(exc, "detail", None) or getattr(exc, "message", None) or exc)


def _record_failure(ctx: Ctx, operation: str, exc: Exception) -> None:
    """The directory page's event log keeps refused writes too, in a unit of its own (the request's rolled
    back); best effort."""
    reason = failure_reason(exc)
    try:
        with ctx.db.unit_of_work() as session:
            directory.record_failure(session, ctx.caller, ctx.org_raw, operation, reason)
    except Exception:  # noqa: BLE001 - the answer to the directory matters more than the log line
        log.warning("could not record a refused SCIM write")


def _failure(exc: BaseException) -> JSONResponse:
    if isinstance(exc, ScimError):
        return scim_errors.response(exc)
    if isinstance(exc, DomainError):
        return scim_errors.response(scim_errors.from_domain(exc))
    if is_locked(exc):
        return scim_errors.response(ScimError(503, "The database is busy; retry shortly."))
    log.exception("unhandled SCIM error")
    return scim_errors.response(ScimError(500, "An internal error occurred."))


async def _run(request: Request, org_id: str, work: Callable[[Ctx], Any], *, write: bool = False,
               body: bool = False) -> Response:
    ctx: Ctx | None = None
    try:
        payload = await _json_body(request) if body else None
        ctx = await run_in_threadpool(_ctx, request, org_id)
        _need(ctx, write)
        result = await run_in_threadpool(work, ctx, payload) if body else await run_in_threadpool(work, ctx)
    except Exception as exc:  # every failure is a SCIM error (no 500 page)
        if write and ctx is not None and _logged(exc):
            await run_in_threadpool(_record_failure, ctx, f"{request.method} {request.url.path.rsplit('/v2', 1)[-1]}",
                                    exc)
        return _failure(exc)
    if isinstance(result, Response):
        return result
    status, doc = result
    if status == 204:
        return Response(status_code=204)
    headers = None
    if status == 201 and isinstance(doc, dict) and "meta" in doc:
        headers = {"Location": doc["meta"]["location"]}
    if isinstance(doc, dict) and schemas.WEBEX_USER in doc:
        doc = resources.project(doc, None, None)
    if isinstance(doc, dict) and isinstance(doc.get("meta"), dict) and doc["meta"].get("version"):
        headers = {**(headers or {}), "ETag": doc["meta"]["version"]}
    return scim_json(doc, status, headers)


def _int_param(request: Request, name: str, default: int, minimum: int, maximum: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise bad(f"{name} must be an integer.", "invalidValue") from None
    return max(minimum, min(value, maximum))


def _list_param(request: Request, name: str) -> list[str] | None:
    text = request.query_params.get(name)
    return [p.strip() for p in text.split(",") if p.strip()] if text else None



def _list(total: int, start: int, docs: list[dict]) -> dict:
    return {"schemas": [schemas.LIST], "totalResults": total, "itemsPerPage": len(docs), "startIndex": start,
            "Resources": docs}

