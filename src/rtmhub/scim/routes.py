"""The SCIM 2.0 endpoints under /identity/scim/{orgId}/v2 (RFC 7644) over the users service and the
directory groups. Every write is one transaction (each Bulk operation its own); every error is a SCIM error."""
from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from rtmhub import ids
from rtmhub.db import Database, is_locked
from rtmhub.domain.access import service as access
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.directory import groups as dir_groups
from rtmhub.domain.directory import people
from rtmhub.domain.directory import service as directory
from rtmhub.domain.directory.models import DirectoryGroup
from rtmhub.domain.users.models import User
from rtmhub.errors import DomainError
from rtmhub.scim import errors as scim_errors
from rtmhub.scim import filters, resources, schemas
from rtmhub.scim.errors import MEDIA_TYPE, ScimError, bad
from rtmhub.scim.patch import Patcher

log = logging.getLogger("rtmhub.scim")
PREFIX = "/identity/scim/{orgId}/v2"
router = APIRouter(prefix=PREFIX, include_in_schema=False)
SCOPE_RW = "identity:people_rw"
SCOPE_READ = "identity:people_read"
ORG_NOT_FOUND = "Organization not found; check the orgId."
USER_NOT_FOUND = "User not found; check the id."
GROUP_NOT_FOUND = "Group not found; check the id."
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


def scim_json(body: Any, status: int = 200, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


# --- the request edge ----------------------------------------------------------------------

def _authenticate(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    db: Database = request.app.state.db
    with db.unit_of_work(write=False) as session:
        caller, stale = access.authenticate_bearer(session, token.strip() if scheme.lower() == "bearer" else None,
                                                   request_id=getattr(request.state, "tracking_id", None))
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


def _record_failure(ctx: Ctx, operation: str, exc: Exception) -> None:
    """The directory page's event log keeps refused writes too, in a unit of its own (the request's rolled
    back); best effort."""
    reason = str(getattr(exc, "detail", None) or getattr(exc, "message", None) or exc)
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


# --- users ---------------------------------------------------------------------------------

def _user(session: Session, customer: Customer, user_id: str) -> User:
    raw = ids.decode("PEOPLE", user_id)
    user = people.user_by_id(session, customer, raw) if raw else None
    if user is None:
        raise ScimError(404, USER_NOT_FOUND)
    return user


def _managers(session: Session, customer: Customer, rows: list[User]) -> dict[str, User]:
    keys = {u.manager.lower() for u in rows if u.manager}
    if not keys:
        return {}
    found = session.scalars(select(User).where(User.customer_id == customer.id, User.email_key.in_(keys)))
    return {u.email_key: u for u in found}


def _user_doc(session: Session, ctx: Ctx, customer: Customer, user: User) -> dict:
    managers = _managers(session, customer, [user])
    return resources.user_doc(user, ctx.base, managers.get((user.manager or "").lower()))


def _manager_email(session: Session, customer: Customer, given: resources.UserInput, user_id: str | None) -> str | None:
    if not given.manager_id:
        return None
    manager = people.user_by_id(session, customer, given.manager_id) if ids.decode("PEOPLE", given.manager_id) else None
    if manager is None or manager.id == user_id:
        raise bad("manager.value must be the id of another user of this organisation.")
    return manager.email


def _write_user(session: Session, ctx: Ctx, customer: Customer, doc: Any, user: User | None) -> User:
    resources.check_schemas(doc, schemas.USER)
    given = resources.UserInput(doc)
    fields = given.fields(_manager_email(session, customer, given, user.id if user else None))
    if user is None:
        return people.create_person(session, ctx.caller, customer, fields, given.attributes())
    return people.update_person(session, ctx.caller, customer, user, fields, given.attributes())


def create_user(ctx: Ctx, doc: Any) -> tuple[int, dict]:
    with ctx.db.unit_of_work() as s:
        customer = _customer(s, ctx, write=True)
        user = _write_user(s, ctx, customer, doc, None)
        directory.user_synced(s, ctx.caller, customer, user, "user.create")
        return 201, _user_doc(s, ctx, customer, user)


def replace_user(ctx: Ctx, user_id: str, doc: Any) -> tuple[int, dict]:
    with ctx.db.unit_of_work() as s:
        customer = _customer(s, ctx, write=True)
        user = _write_user(s, ctx, customer, doc, _user(s, customer, user_id))
        directory.user_synced(s, ctx.caller, customer, user, "user.replace")
        return 200, _user_doc(s, ctx, customer, user)


def patch_user(ctx: Ctx, user_id: str, body: Any) -> tuple[int, dict]:
    with ctx.db.unit_of_work() as s:
        customer = _customer(s, ctx, write=True)
        user = _user(s, customer, user_id)
        current = _user_doc(s, ctx, customer, user)
        patched = Patcher(current, schemas.USER, schemas.USER_URNS, USER_ATTRS).apply(body)
        _write_user(s, ctx, customer, patched, user)
        directory.user_synced(s, ctx.caller, customer, user, "user.patch")
        return 200, _user_doc(s, ctx, customer, user)


def delete_user(ctx: Ctx, user_id: str) -> tuple[int, None]:
    with ctx.db.unit_of_work() as s:
        customer = _customer(s, ctx, write=True, deleting=True)
        user = _user(s, customer, user_id)
        email = user.email
        people.delete_person(s, ctx.caller, customer, user)
        directory.user_removed(s, customer, email)
    return 204, None


def get_user(ctx: Ctx, user_id: str) -> tuple[int, dict]:
    with ctx.db.unit_of_work(write=False) as s:
        customer = _customer(s, ctx)
        return 200, _user_doc(s, ctx, customer, _user(s, customer, user_id))


def _user_candidates(node: Any) -> Any:
    """A database pre-selection for the equality terms a filter requires; None: every user."""
    terms = filters.simple_equals(node)
    conditions = []
    for attr, value in terms.items():
        if attr == "id":
            conditions.append(User.id == value)
        elif attr == "externalid":
            conditions.append(User.external_id == value)
        elif attr in ("username", "emails.value", "emails"):
            key = value.lower()
            conditions.append(or_(and_(User.user_name.is_(None), User.email_key == key),
                                  func.lower(User.user_name) == key, User.email_key == key)
                              if attr == "username" else User.email_key == key)
    return and_(*conditions) if conditions else None


def list_users(ctx: Ctx, flt: str | None, start: int, count: int, attributes: list[str] | None,
               excluded: list[str] | None) -> tuple[int, dict]:
    node = filters.parse_filter(flt) if flt else None
    with ctx.db.unit_of_work(write=False) as s:
        customer = _customer(s, ctx)
        stmt = select(User).where(User.customer_id == customer.id)
        if node is None:
            total = s.scalar(select(func.count()).select_from(User).where(User.customer_id == customer.id)) or 0
            rows = list(s.scalars(stmt.order_by(User.created, User.id).offset(start - 1).limit(count))) if count else []
            managers = _managers(s, customer, rows)
            docs = [resources.user_doc(u, ctx.base, managers.get((u.manager or "").lower())) for u in rows]
        else:
            pre = _user_candidates(node)
            if pre is not None:
                stmt = stmt.where(pre)
            rows = list(s.scalars(stmt.order_by(User.created, User.id)))
            managers = _managers(s, customer, rows)
            hits = [u for u in rows if filters.matches(node, resources.user_doc(
                u, ctx.base, managers.get((u.manager or "").lower()), complete=True), schemas.USER, schemas.USER_URNS)]
            total = len(hits)
            docs = [resources.user_doc(u, ctx.base, managers.get((u.manager or "").lower()))
                    for u in hits[start - 1:start - 1 + count]]
        return 200, _list(total, start, [resources.project(d, attributes, excluded) for d in docs])


def _list(total: int, start: int, docs: list[dict]) -> dict:
    return {"schemas": [schemas.LIST], "totalResults": total, "itemsPerPage": len(docs), "startIndex": start,
            "Resources": docs}


# --- groups --------------------------------------------------------------------------------

def _group(session: Session, customer: Customer, group_id: str) -> DirectoryGroup:
    group = None
    if ids.decode("PEOPLE", group_id):
        group = session.scalar(select(DirectoryGroup).where(DirectoryGroup.id == group_id,
                                                            DirectoryGroup.customer_id == customer.id))
    if group is None:
        raise ScimError(404, GROUP_NOT_FOUND)
    return group


def _members(session: Session, group: DirectoryGroup) -> list[User]:
    member_ids = dir_groups.member_ids(session, group.id)
    if not member_ids:
        return []
    found = {u.id: u for u in session.scalars(select(User).where(User.id.in_(member_ids)))}
    return [found[i] for i in member_ids if i in found]


def _group_doc(session: Session, ctx: Ctx, group: DirectoryGroup, with_members: bool = True) -> dict:
    return resources.group_doc(group, ctx.base, _members(session, group) if with_members else None)


def _member_ids(session: Session, customer: Customer, values: list[str]) -> list[str]:
    wanted = [v for v in values if ids.decode("PEOPLE", v)]
    if len(wanted) != len(values):
        raise bad("Each member value must be the id of a user of this organisation.")
    if wanted:
        found = set(session.scalars(select(User.id).where(User.customer_id == customer.id, User.id.in_(wanted))))
        missing = [v for v in wanted if v not in found]
        if missing:
            raise bad(f"Member {missing[0]} is not a user of this organisation.")
    return wanted


def create_group(ctx: Ctx, doc: Any) -> tuple[int, dict]:
    resources.check_schemas(doc, schemas.GROUP)
    given = resources.GroupInput(doc)
    with ctx.db.unit_of_work() as s:
        customer = _customer(s, ctx, write=True)
        group = dir_groups.create_group(s, ctx.caller, customer, given.display_name, given.external_id,
                                        _member_ids(s, customer, given.members))
        directory.group_synced(s, ctx.caller, customer, group.display_name, [],
                               dir_groups.member_ids(s, group.id), "group.create")
        return 201, _group_doc(s, ctx, group)


def _write_group(s: Session, ctx: Ctx, customer: Customer, group: DirectoryGroup, doc: Any) -> None:
    resources.check_schemas(doc, schemas.GROUP)
    given = resources.GroupInput(doc)
    dir_groups.update_group(s, ctx.caller, customer, group, display_name=given.display_name,
                            external_id=given.external_id, set_external_id=True,
                            members=_member_ids(s, customer, given.members))


def replace_group(ctx: Ctx, group_id: str, doc: Any) -> tuple[int, dict]:
    with ctx.db.unit_of_work() as s:
        customer = _customer(s, ctx, write=True)
        group = _group(s, customer, group_id)
        before = dir_groups.member_ids(s, group.id)
        _write_group(s, ctx, customer, group, doc)
        directory.group_synced(s, ctx.caller, customer, group.display_name, before,
                               dir_groups.member_ids(s, group.id), "group.replace")
        return 200, _group_doc(s, ctx, group)


def patch_group(ctx: Ctx, group_id: str, body: Any) -> tuple[int, dict]:
    with ctx.db.unit_of_work() as s:
        customer = _customer(s, ctx, write=True)
        group = _group(s, customer, group_id)
        current = _group_doc(s, ctx, group)
        patched = Patcher(current, schemas.GROUP, schemas.GROUP_URNS, GROUP_ATTRS).apply(body)
        before = dir_groups.member_ids(s, group.id)
        _write_group(s, ctx, customer, group, patched)
        directory.group_synced(s, ctx.caller, customer, group.display_name, before,
                               dir_groups.member_ids(s, group.id), "group.patch")
        return 200, _group_doc(s, ctx, group)


def delete_group(ctx: Ctx, group_id: str) -> tuple[int, None]:
    with ctx.db.unit_of_work() as s:
        customer = _customer(s, ctx, write=True, deleting=True)
        group = _group(s, customer, group_id)
        name, before = group.display_name, dir_groups.member_ids(s, group.id)
        dir_groups.delete_group(s, ctx.caller, customer, group)
        directory.group_synced(s, ctx.caller, customer, name, before, [], "group.delete")
    return 204, None


def get_group(ctx: Ctx, group_id: str, attributes: list[str] | None, excluded: list[str] | None) -> tuple[int, dict]:
    skip_members = bool(excluded and any(e.lower().endswith("members") for e in excluded)) or bool(
        attributes and not any(a.lower().split(":")[-1].startswith("members") for a in attributes))
    with ctx.db.unit_of_work(write=False) as s:
        customer = _customer(s, ctx)
        doc = _group_doc(s, ctx, _group(s, customer, group_id), not skip_members)
        return 200, resources.project(doc, attributes, excluded)


def list_groups(ctx: Ctx, flt: str | None, start: int, count: int, attributes: list[str] | None,
                excluded: list[str] | None) -> tuple[int, dict]:
    node = filters.parse_filter(flt) if flt else None
    skip_members = bool(excluded and any(e.lower().endswith("members") for e in excluded))
    with ctx.db.unit_of_work(write=False) as s:
        customer = _customer(s, ctx)
        rows = dir_groups.list_groups(s, customer)
        terms = filters.simple_equals(node) if node is not None else {}
        if "displayname" in terms:
            rows = [g for g in rows if g.display_key == terms["displayname"].strip().lower()]
        if "id" in terms:
            rows = [g for g in rows if g.id == terms["id"]]
        needs_members = node is not None and "member" in (flt or "").lower()
        if node is not None:
            docs = [_group_doc(s, ctx, g, needs_members) for g in rows]
            keep = [i for i, d in enumerate(docs) if filters.matches(node, d, schemas.GROUP, schemas.GROUP_URNS)]
            rows = [rows[i] for i in keep]
        total = len(rows)
        page = rows[start - 1:start - 1 + count]
        docs = [resources.project(_group_doc(s, ctx, g, not skip_members), attributes, excluded) for g in page]
        return 200, _list(total, start, docs)


def group_members(ctx: Ctx, group_id: str, start: int, count: int, member_type: str | None) -> tuple[int, dict]:
    with ctx.db.unit_of_work(write=False) as s:
        customer = _customer(s, ctx)
        group = _group(s, customer, group_id)
        members = _members(s, group) if (member_type or "user").lower() == "user" else []
        page = members[start - 1:start - 1 + count]
        return 200, {"schemas": [schemas.LIST], "displayName": group.display_name, "totalResults": len(members),
                     "itemsPerPage": len(page), "startIndex": start,
                     "members": [{"type": "user", "value": u.id, "display": u.display_name} for u in page]}


# --- bulk ----------------------------------------------------------------------------------

_BULK_REF = re.compile(r"bulkId:[^/]+")
_PATH = re.compile(r"^/(Users|Groups)(?:/([^/]+))?$", re.I)


def _resolve_refs(value: Any, created: dict[str, str], missing: set[str]) -> Any:
    if isinstance(value, str) and value.startswith("bulkId:"):
        ref = value[len("bulkId:"):]
        if ref in created:
            return created[ref]
        missing.add(ref)
        return value
    if isinstance(value, dict):
        return {k: _resolve_refs(v, created, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(v, created, missing) for v in value]
    return value


def _bulk_one(ctx: Ctx, method: str, path: str, data: Any) -> tuple[int, Any]:
    m = _PATH.match(path)
    if not m:
        raise ScimError(400, f"path {path!r} is not /Users, /Groups or one of their resources.", "invalidPath")
    kind, rid = m.group(1).lower(), m.group(2)
    if method == "POST" and rid is None:
        return (create_user if kind == "users" else create_group)(ctx, data)
    if rid is None:
        raise ScimError(400, f"{method} needs a resource path such as /{m.group(1)}/{{id}}.", "invalidPath")
    if method == "PUT":
        return (replace_user if kind == "users" else replace_group)(ctx, rid, data)
    if method == "PATCH":
        return (patch_user if kind == "users" else patch_group)(ctx, rid, data)
    if method == "DELETE":
        return (delete_user if kind == "users" else delete_group)(ctx, rid)
    raise ScimError(400, f"method must be POST, PUT, PATCH or DELETE, not {method!r}.", "invalidSyntax")


def bulk(ctx: Ctx, body: Any) -> tuple[int, dict]:
    if not isinstance(body, dict):
        raise ScimError(400, "The body must be a JSON object.", "invalidSyntax")
    if schemas.BULK_REQUEST not in (body.get("schemas") or [schemas.BULK_REQUEST]):
        raise ScimError(400, f"schemas must be [\"{schemas.BULK_REQUEST}\"].", "invalidSyntax")
    operations = next((v for k, v in body.items() if k.lower() == "operations"), None)
    if not isinstance(operations, list):
        raise ScimError(400, "Operations must be a list.", "invalidSyntax")
    if len(operations) > schemas.MAX_BULK:
        raise ScimError(413, f"At most {schemas.MAX_BULK} operations in one Bulk request ({len(operations)} given).",
                        "tooMany")
    with ctx.db.unit_of_work(write=False) as session:
        _customer(session, ctx)  # a foreign or unknown org fails the whole request, as every endpoint does
    fail_on = body.get("failOnErrors")
    if fail_on is not None and (isinstance(fail_on, bool) or not isinstance(fail_on, int) or fail_on < 1):
        raise ScimError(400, "failOnErrors must be a positive integer.", "invalidValue")
    created: dict[str, str] = {}
    results: list[dict] = []
    errors = 0
    for op in operations:
        if fail_on is not None and errors >= fail_on:
            break
        if not isinstance(op, dict):
            raise ScimError(400, "Each operation must be an object.", "invalidSyntax")
        method = str(op.get("method", "")).upper()
        bulk_id = op.get("bulkId")
        out: dict[str, Any] = {"method": method}
        if bulk_id is not None:
            out["bulkId"] = bulk_id
        try:
            missing: set[str] = set()
            path = _BULK_REF.sub(lambda m, seen=missing: _resolve_refs(m.group(0), created, seen),
                                 str(op.get("path", "")))
            data = _resolve_refs(op.get("data"), created, missing)
            if missing:
                raise ScimError(409, f"bulkId {sorted(missing)[0]} does not name an earlier operation that succeeded.",
                                "invalidValue")
            if method == "POST" and not bulk_id:
                raise ScimError(400, "A POST operation needs a bulkId.", "invalidValue")
            status, doc = _bulk_one(ctx, method, path, data)
            out["status"] = str(status)
            if isinstance(doc, dict) and "meta" in doc:
                out["location"] = doc["meta"]["location"]
                out["version"] = doc["meta"]["version"]
                if method == "POST" and bulk_id:
                    created[str(bulk_id)] = doc["id"]
            elif method == "DELETE":
                out["location"] = f"{ctx.base}{path}"
        except Exception as exc:  # each operation fails alone, as a SCIM error
            errors += 1
            if _logged(exc):
                _record_failure(ctx, f"Bulk {method} {op.get('path', '')}"[:60], exc)
            err = exc if isinstance(exc, ScimError) else (
                scim_errors.from_domain(exc) if isinstance(exc, DomainError) else None)
            if err is None:
                if not is_locked(exc):
                    log.exception("unhandled SCIM bulk error")
                err = ScimError(503 if is_locked(exc) else 500, "The operation failed; retry it.")
            out["status"] = str(err.status)
            out["response"] = scim_errors.body(err)
        results.append(out)
    return 200, {"schemas": [schemas.BULK_RESPONSE], "Operations": results}


# --- routes --------------------------------------------------------------------------------

def _list_args(request: Request) -> tuple[str | None, int, int, list[str] | None, list[str] | None]:
    return (request.query_params.get("filter") or None,
            _int_param(request, "startIndex", 1, 1, 10_000_000),
            _int_param(request, "count", 100, 0, schemas.MAX_RESULTS),
            _list_param(request, "attributes"), _list_param(request, "excludedAttributes"))


@router.get("/Users")
async def users_list(request: Request, orgId: str) -> Response:
    try:
        args = _list_args(request)
    except ScimError as exc:
        return scim_errors.response(exc)
    return await _run(request, orgId, lambda ctx: list_users(ctx, *args))


@router.post("/Users")
async def users_create(request: Request, orgId: str) -> Response:
    return await _run(request, orgId, create_user, write=True, body=True)


@router.get("/Users/{userId}")
async def users_get(request: Request, orgId: str, userId: str) -> Response:
    attributes, excluded = _list_param(request, "attributes"), _list_param(request, "excludedAttributes")

    def work(ctx: Ctx) -> tuple[int, dict]:
        status, doc = get_user(ctx, userId)
        return status, resources.project(doc, attributes, excluded)
    return await _run(request, orgId, work)


@router.put("/Users/{userId}")
async def users_replace(request: Request, orgId: str, userId: str) -> Response:
    return await _run(request, orgId, lambda ctx, doc: replace_user(ctx, userId, doc), write=True, body=True)


@router.patch("/Users/{userId}")
async def users_patch(request: Request, orgId: str, userId: str) -> Response:
    return await _run(request, orgId, lambda ctx, doc: patch_user(ctx, userId, doc), write=True, body=True)


@router.delete("/Users/{userId}")
async def users_delete(request: Request, orgId: str, userId: str) -> Response:
    return await _run(request, orgId, lambda ctx: delete_user(ctx, userId), write=True)


@router.get("/Groups")
async def groups_list(request: Request, orgId: str) -> Response:
    try:
        args = _list_args(request)
    except ScimError as exc:
        return scim_errors.response(exc)
    return await _run(request, orgId, lambda ctx: list_groups(ctx, *args))


@router.post("/Groups")
async def groups_create(request: Request, orgId: str) -> Response:
    return await _run(request, orgId, create_group, write=True, body=True)


@router.get("/Groups/{groupId}/Members")
async def groups_members(request: Request, orgId: str, groupId: str) -> Response:
    try:
        start = _int_param(request, "startIndex", 1, 1, 10_000_000)
        count = _int_param(request, "count", MEMBERS_MAX, 0, MEMBERS_MAX)
    except ScimError as exc:
        return scim_errors.response(exc)
    member_type = request.query_params.get("memberType")
    return await _run(request, orgId, lambda ctx: group_members(ctx, groupId, start, count, member_type))


@router.get("/Groups/{groupId}")
async def groups_get(request: Request, orgId: str, groupId: str) -> Response:
    attributes, excluded = _list_param(request, "attributes"), _list_param(request, "excludedAttributes")
    return await _run(request, orgId, lambda ctx: get_group(ctx, groupId, attributes, excluded))


@router.put("/Groups/{groupId}")
async def groups_replace(request: Request, orgId: str, groupId: str) -> Response:
    return await _run(request, orgId, lambda ctx, doc: replace_group(ctx, groupId, doc), write=True, body=True)


@router.patch("/Groups/{groupId}")
async def groups_patch(request: Request, orgId: str, groupId: str) -> Response:
    return await _run(request, orgId, lambda ctx, doc: patch_group(ctx, groupId, doc), write=True, body=True)


@router.delete("/Groups/{groupId}")
async def groups_delete(request: Request, orgId: str, groupId: str) -> Response:
    return await _run(request, orgId, lambda ctx: delete_group(ctx, groupId), write=True)


def _search_args(body: Any) -> tuple[str | None, int, int, list[str] | None, list[str] | None]:
    """A SearchRequest (RFC 7644 §3.4.3) as the list arguments."""
    if not isinstance(body, dict):
        raise ScimError(400, "The body must be a JSON object.", "invalidSyntax")

    def names(key: str) -> list[str] | None:
        value = body.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ScimError(400, f"{key} must be a list of attribute names.", "invalidValue")
        return [v.strip() for v in value if v.strip()] or None

    def number(key: str, default: int, minimum: int, maximum: int) -> int:
        value = body.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScimError(400, f"{key} must be an integer.", "invalidValue")
        return max(minimum, min(value, maximum))

    flt = body.get("filter")
    if flt is not None and not isinstance(flt, str):
        raise ScimError(400, "filter must be a string.", "invalidFilter")
    return (flt or None, number("startIndex", 1, 1, 10_000_000), number("count", 100, 0, schemas.MAX_RESULTS),
            names("attributes"), names("excludedAttributes"))


@router.post("/Users/.search")
async def users_search(request: Request, orgId: str) -> Response:
    return await _run(request, orgId, lambda ctx, body: list_users(ctx, *_search_args(body)), body=True)


@router.post("/Groups/.search")
async def groups_search(request: Request, orgId: str) -> Response:
    return await _run(request, orgId, lambda ctx, body: list_groups(ctx, *_search_args(body)), body=True)


@router.post("/.search")
async def root_search(request: Request, orgId: str) -> Response:
    def work(ctx: Ctx, body: Any) -> tuple[int, dict]:
        flt, start, count, attributes, excluded = _search_args(body)
        _, found_users = list_users(ctx, flt, 1, schemas.MAX_RESULTS, attributes, excluded)
        _, found_groups = list_groups(ctx, flt, 1, schemas.MAX_RESULTS, attributes, excluded)
        docs = found_users["Resources"] + found_groups["Resources"]
        page = docs[start - 1:start - 1 + count]
        return 200, _list(found_users["totalResults"] + found_groups["totalResults"], start, page)
    return await _run(request, orgId, work, body=True)


@router.post("/Bulk")
async def bulk_route(request: Request, orgId: str) -> Response:
    return await _run(request, orgId, bulk, write=True, body=True)


def _discovery(request: Request, orgId: str, make: Callable[[Ctx], tuple[int, Any]]) -> Any:
    async def run() -> Response:
        def work(ctx: Ctx) -> tuple[int, Any]:
            with ctx.db.unit_of_work(write=False) as s:
                _customer(s, ctx)
            return make(ctx)
        return await _run(request, orgId, work)
    return run()


@router.get("/ServiceProviderConfig")
async def service_provider_config(request: Request, orgId: str) -> Response:
    return await _discovery(request, orgId, lambda ctx: (200, schemas.service_provider_config(ctx.base,
                                                                                              ctx.max_payload)))


@router.get("/Schemas")
async def schemas_list(request: Request, orgId: str) -> Response:
    def make(ctx: Ctx) -> tuple[int, dict]:
        docs = schemas.schema_docs(ctx.base)
        return 200, _list(len(docs), 1, docs)
    return await _discovery(request, orgId, make)


@router.get("/Schemas/{schemaId}")
async def schemas_get(request: Request, orgId: str, schemaId: str) -> Response:
    def make(ctx: Ctx) -> tuple[int, dict]:
        for doc in schemas.schema_docs(ctx.base):
            if doc["id"] == schemaId:
                return 200, doc
        raise ScimError(404, "Schema not found.")
    return await _discovery(request, orgId, make)


@router.get("/ResourceTypes")
async def resource_types_list(request: Request, orgId: str) -> Response:
    def make(ctx: Ctx) -> tuple[int, dict]:
        docs = schemas.resource_type_docs(ctx.base)
        return 200, _list(len(docs), 1, docs)
    return await _discovery(request, orgId, make)


@router.get("/ResourceTypes/{typeId}")
async def resource_types_get(request: Request, orgId: str, typeId: str) -> Response:
    def make(ctx: Ctx) -> tuple[int, dict]:
        for doc in schemas.resource_type_docs(ctx.base):
            if doc["id"] == typeId:
                return 200, doc
        raise ScimError(404, "Resource type not found.")
    return await _discovery(request, orgId, make)


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def unknown(request: Request, orgId: str, rest: str) -> Response:
    if _KNOWN.match(rest):
        return scim_errors.response(ScimError(405, f"{request.method} is not allowed on /{rest}."))
    return scim_errors.response(ScimError(404, f"No SCIM resource at /{rest}."))


_KNOWN = re.compile(r"^(\.search|Users/\.search|Groups/\.search|ServiceProviderConfig|ResourceTypes(/[^/]+)?|"
                    r"Schemas(/[^/]+)?|Users(/[^/]+)?|"
                    r"Groups(/[^/]+(/Members)?)?|Bulk)/?$")
