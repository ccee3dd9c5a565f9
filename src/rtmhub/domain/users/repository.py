"""Queries on users that the faces need, each scoped by the customer or the caller it is given."""
from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, exists, select
from sqlalchemy.orm import Session

from rtmhub.domain import paging
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.access.service import scope_customers
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.packages.models import BASE_LICENCES
from rtmhub.domain.users.models import USER_ORDER, User
from rtmhub.domain.users.schemas import SubscriberFilter
from rtmhub.errors import NotFound, msg


def get_user_by_email(session: Session, customer: Customer, email: str) -> User:
    """A user of ``customer`` by e-mail, compared case-insensitively (D6)."""
    user = session.scalar(select(User).where(User.customer_id == customer.id,
                                             User.email_key == email.strip().lower()))
    if user is None:
        raise NotFound(msg("Person not found; check the email."))
    return user


def licence_holders(session: Session, customer: Customer, package: str, offset: int = 0,
                    limit: int = 300, cursor: str | None = None) -> tuple[list[User], str | None]:
    """The users of ``customer`` who hold the licence of ``package`` (a base licence is a flag of its own,
    a package is the user's one package, R1), and the cursor of the page's last one; ``cursor``: one such cursor
    of an earlier page, read from instead of ``offset`` (decision 62)."""
    stmt = select(User).where(User.customer_id == customer.id)
    if package in BASE_LICENCES:
        stmt = stmt.where(getattr(User, package).is_(True))
    else:
        stmt = stmt.where(User.package == package)
    rows, last = paging.fetch_cursor_page(session, stmt, USER_ORDER, offset, limit, cursor)
    return [row[0] for row in rows], last


def _subscriber_conditions(flt: SubscriberFilter, customer_id: Any = Customer.id) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [User.package.is_not(None)]
    if flt.customer_id is not None:
        conditions.append(customer_id == flt.customer_id)
    if flt.user_id is not None:
        conditions.append(User.id == flt.user_id)
    if flt.external_customer_id is not None:
        conditions.append(Customer.external_id == flt.external_customer_id)
    if flt.email is not None:
        conditions.append(User.email_key == flt.email.strip().lower())
    if flt.status is not None:
        conditions.append(User.status == flt.status)
    if flt.assigned_since is not None:
        conditions.append(User.package_assigned >= flt.assigned_since)
    if flt.changed_since is not None:
        conditions.append(User.package_assigned >= flt.changed_since)
    return conditions


def _subscriber_keys(flt: SubscriberFilter) -> tuple[paging.Key, paging.Key]:
    return (User.package_assigned, flt.descending), (User.id, False)


def _users_only(session: Session, caller: Caller, flt: SubscriberFilter,
                partner_ids: tuple[str, ...] | None) -> Select | None:
    """The subscribers' query without the join to their customers, when the join drops no row: the filter
    names no customer column but its id, and no customer lies outside the scope (a customer filter out of
    scope selects nothing either way). The first key of a deep page is then found in an index of users
    alone, instead of joining every row before the page to its customer."""
    if flt.external_customer_id is not None or (caller.customer_id and not caller.is_partner):
        return None
    ids = partner_ids if partner_ids is not None else (None if caller.system else caller.partner_ids)
    if ids is not None and flt.customer_id is None and session.scalar(
            select(exists().where(Customer.partner_id.not_in(ids)))):
        return None
    return select(User).where(and_(*_subscriber_conditions(flt, User.customer_id)))


# A subscriber of a list as a plain row of the columns the answer shows. Read as entities, a page of 100
# spent most of its time building identity-mapped objects that are read once and thrown away (decision 49).
SUBSCRIBER_COLUMNS = (User.id, User.email, User.package, User.status, User.package_assigned, User.created,
                      User.customer_id, Customer.external_id.label("external_customer_id"))


def list_subscribers(session: Session, caller: Caller, flt: SubscriberFilter,
                     partner_ids: tuple[str, ...] | None = None, offset: int = 0,
                     limit: int = 50, cursor: str | None = None) -> tuple[list[Row], str | None]:
    """Rows of ``SUBSCRIBER_COLUMNS``, one page in the filter's order, and the cursor of the page's last row.
    ``cursor``: one such cursor of an earlier page (of the same order), read from instead of ``offset``."""
    stmt = scope_customers(select(*SUBSCRIBER_COLUMNS).join(Customer, Customer.id == User.customer_id)
                           .where(and_(*_subscriber_conditions(flt))), caller, partner_ids)
    boundary = _users_only(session, caller, flt, partner_ids) if offset >= paging.SEEK_FROM and not cursor else None
    return paging.fetch_cursor_page(session, stmt, _subscriber_keys(flt), offset, limit, cursor, boundary=boundary)
