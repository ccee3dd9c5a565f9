"""Queries on users that the faces need, each scoped by the customer or the caller it is given."""
from __future__ import annotations

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import Session

from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.access.service import scope_customers
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.packages.models import BASE_LICENCES
from rtmhub.domain.users.models import User
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
                    limit: int = 300) -> list[User]:
    """The users of ``customer`` who hold the licence of ``package``: a base licence is a flag of its own,
    a package is the user's one package (R1)."""
    stmt = select(User).where(User.customer_id == customer.id)
    if package in BASE_LICENCES:
        stmt = stmt.where(getattr(User, package).is_(True))
    else:
        stmt = stmt.where(User.package == package)
    return list(session.scalars(stmt.order_by(User.created, User.id).offset(offset).limit(limit)))


def subscribers_query(caller: Caller, flt: SubscriberFilter, partner_ids: tuple[str, ...] | None = None) -> Select:
    """Subscribers (users while they hold a package, decision 5) with their customer, in the caller's scope
    (or the sub-partner's, ``partner_ids``), filtered and sorted by package assignment time."""
    stmt = scope_customers(select(User, Customer).join(Customer, Customer.id == User.customer_id)
                           .where(User.package.is_not(None)), caller, partner_ids)
    conditions = []
    if flt.customer_id is not None:
        conditions.append(Customer.id == flt.customer_id)
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
    if conditions:
        stmt = stmt.where(and_(*conditions))
    key = User.package_assigned
    return stmt.order_by(key.desc() if flt.descending else key.asc(), User.id)


def list_subscribers(session: Session, caller: Caller, flt: SubscriberFilter,
                     partner_ids: tuple[str, ...] | None = None, offset: int = 0,
                     limit: int = 50) -> list[tuple[User, Customer]]:
    rows = session.execute(subscribers_query(caller, flt, partner_ids).offset(offset).limit(limit)).tuples()
    return list(rows.all())
