"""SCIM Groups over the directory groups: documents, writes, members, filters and pages."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from rtmhub import ids
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.directory import groups as dir_groups
from rtmhub.domain.directory import service as directory
from rtmhub.domain.directory.models import DirectoryGroup
from rtmhub.scim import filters, resources, schemas
from rtmhub.scim.edge import GROUP_ATTRS, Ctx, _customer, _list, _writing
from rtmhub.scim.errors import bad
from rtmhub.scim.patch import Patcher

# --- groups --------------------------------------------------------------------------------

def _group(session: Session, customer: Customer, group_id: str) -> DirectoryGroup:
    # An id that is no UUID is simply not found (decoded here, as the SCIM ids are plain UUIDs).
    return dir_groups.get_group(session, customer, group_id if ids.decode("PEOPLE", group_id) else None)


def _group_doc(session: Session, ctx: Ctx, group: DirectoryGroup, with_members: bool = True) -> dict:
    return resources.group_doc(group, ctx.base, dir_groups.member_users(session, group) if with_members else None)


def _member_ids(session: Session, customer: Customer, values: list[str]) -> list[str]:
    if not all(ids.decode("PEOPLE", v) for v in values):
        raise bad("Each member value must be the id of a user of this organisation.")
    return dir_groups.organisation_members(session, customer, values)


def create_group(ctx: Ctx, doc: Any) -> tuple[int, dict]:
    resources.check_schemas(doc, schemas.GROUP)
    given = resources.GroupInput(doc)
    with _writing(ctx) as (s, customer):
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
    with _writing(ctx) as (s, customer):
        group = _group(s, customer, group_id)
        before = dir_groups.member_ids(s, group.id)
        _write_group(s, ctx, customer, group, doc)
        directory.group_synced(s, ctx.caller, customer, group.display_name, before,
                               dir_groups.member_ids(s, group.id), "group.replace")
        return 200, _group_doc(s, ctx, group)


def patch_group(ctx: Ctx, group_id: str, body: Any) -> tuple[int, dict]:
    with _writing(ctx) as (s, customer):
        group = _group(s, customer, group_id)
        current = _group_doc(s, ctx, group)
        patched = Patcher(current, schemas.GROUP, schemas.GROUP_URNS, GROUP_ATTRS).apply(body)
        before = dir_groups.member_ids(s, group.id)
        _write_group(s, ctx, customer, group, patched)
        directory.group_synced(s, ctx.caller, customer, group.display_name, before,
                               dir_groups.member_ids(s, group.id), "group.patch")
        return 200, _group_doc(s, ctx, group)


def delete_group(ctx: Ctx, group_id: str) -> tuple[int, None]:
    with _writing(ctx, deleting=True) as (s, customer):
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
        members = dir_groups.member_users(s, group) if (member_type or "user").lower() == "user" else []
        page = members[start - 1:start - 1 + count]
        return 200, {"schemas": [schemas.LIST], "displayName": group.display_name, "totalResults": len(members),
                     "itemsPerPage": len(page), "startIndex": start,
                     "members": [{"type": "user", "value": u.id, "display": u.display_name} for u in page]}
