"""The SCIM 2.0 endpoints under /identity/scim/{orgId}/v2 (RFC 7644): thin routes over the users, groups and bulk
modules. Every write is one transaction (each Bulk operation its own); every error is a SCIM error."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from rtmhub.scim import errors as scim_errors
from rtmhub.scim import resources, schemas
from rtmhub.scim.bulk import bulk
from rtmhub.scim.edge import MEMBERS_MAX, Ctx, _customer, _int_param, _list, _list_param, _run, router
from rtmhub.scim.errors import ScimError
from rtmhub.scim.groups import (
    create_group,
    delete_group,
    get_group,
    group_members,
    list_groups,
    patch_group,
    replace_group,
)
from rtmhub.scim.users import create_user, delete_user, get_user, list_users, patch_user, replace_user

# --- routes --------------------------------------------------------------------------------

def _list_args(request: Request) -> tuple[str | None, int, int, list[str] | None, list[str] | None]:
    return (request.query_params.get("filter") or None,
            _int_param(request, "startIndex", 1, 1, 10_000_000),
            _int_param(request, "count", 100, 0, schemas.MAX_RESULTS),
            _list_param(request, "attributes"), _list_param(request, "excludedAttributes"))


async def _listing(request: Request, orgId: str, lister: Callable[..., tuple[int, dict]]) -> Response:
    """A GET list of Users or Groups: its query parameters checked first (a bad one is a SCIM 400)."""
    try:
        args = _list_args(request)
    except ScimError as exc:
        return scim_errors.response(exc)
    return await _run(request, orgId, lambda ctx: lister(ctx, *args))


@router.get("/Users")
async def users_list(request: Request, orgId: str) -> Response:
    return await _listing(request, orgId, list_users)


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
    return await _listing(request, orgId, list_groups)


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


def _one(docs: list[dict], doc_id: str, what: str) -> tuple[int, dict]:
    for doc in docs:
        if doc["id"] == doc_id:
            return 200, doc
    raise ScimError(404, f"{what} not found.")


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
    return await _discovery(request, orgId, lambda ctx: _one(schemas.schema_docs(ctx.base), schemaId, "Schema"))


@router.get("/ResourceTypes")
async def resource_types_list(request: Request, orgId: str) -> Response:
    def make(ctx: Ctx) -> tuple[int, dict]:
        docs = schemas.resource_type_docs(ctx.base)
        return 200, _list(len(docs), 1, docs)
    return await _discovery(request, orgId, make)


@router.get("/ResourceTypes/{typeId}")
async def resource_types_get(request: Request, orgId: str, typeId: str) -> Response:
    return await _discovery(request, orgId,
                            lambda ctx: _one(schemas.resource_type_docs(ctx.base), typeId, "Resource type"))


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def unknown(request: Request, orgId: str, rest: str) -> Response:
    if _KNOWN.match(rest):
        return scim_errors.response(ScimError(405, f"{request.method} is not allowed on /{rest}."))
    return scim_errors.response(ScimError(404, f"No SCIM resource at /{rest}."))


_KNOWN = re.compile(r"^(\.search|Users/\.search|Groups/\.search|ServiceProviderConfig|ResourceTypes(/[^/]+)?|"
                    r"Schemas(/[^/]+)?|Users(/[^/]+)?|"
                    r"Groups(/[^/]+(/Members)?)?|Bulk)/?$")
