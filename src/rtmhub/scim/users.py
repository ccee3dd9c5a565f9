"""SCIM Users over the users service (directory/people): documents, writes, filters and pages."""
from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from rtmhub import ids
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.directory import people
from rtmhub.domain.directory import service as directory
from rtmhub.domain.users.models import User
from rtmhub.scim import filters, resources, schemas
from rtmhub.scim.edge import USER_ATTRS, USER_NOT_FOUND, Ctx, _customer, _list, _writing
from rtmhub.scim.errors import ScimError, bad
from rtmhub.scim.patch import Patcher

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
    with _writing(ctx) as (s, customer):
        user = _write_user(s, ctx, customer, doc, None)
        directory.user_synced(s, ctx.caller, customer, user, "user.create", created=True, log=ctx.sync_log)
        return 201, _user_doc(s, ctx, customer, user)


def replace_user(ctx: Ctx, user_id: str, doc: Any) -> tuple[int, dict]:
    with _writing(ctx) as (s, customer):
        user = _write_user(s, ctx, customer, doc, _user(s, customer, user_id))
        directory.user_synced(s, ctx.caller, customer, user, "user.replace", log=ctx.sync_log)
        return 200, _user_doc(s, ctx, customer, user)


def patch_user(ctx: Ctx, user_id: str, body: Any) -> tuple[int, dict]:
    with _writing(ctx) as (s, customer):
        user = _user(s, customer, user_id)
        current = _user_doc(s, ctx, customer, user)
        patched = Patcher(current, schemas.USER, schemas.USER_URNS, USER_ATTRS).apply(body)
        _write_user(s, ctx, customer, patched, user)
        directory.user_synced(s, ctx.caller, customer, user, "user.patch", log=ctx.sync_log)
        return 200, _user_doc(s, ctx, customer, user)


def delete_user(ctx: Ctx, user_id: str) -> tuple[int, None]:
    with _writing(ctx, deleting=True) as (s, customer):
        user = _user(s, customer, user_id)
        email = user.email
        people.delete_person(s, ctx.caller, customer, user)
        directory.user_removed(s, customer, email, log=ctx.sync_log)
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
