"""Writing the ledger of package use, and counting units per day from it (issue 11, decision 33).

Every change of a user's package goes through ``record_user_packages`` in the transaction that makes it,
and every change of a customer's packages, allocations or name through ``record_allocations``: the ledger
cannot miss a change that committed, nor hold one that rolled back."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from rtmhub import bulk_sql
from rtmhub.bulk_sql import execute_many
from rtmhub.db import DriverStatement
from rtmhub.domain.customers.models import Customer, CustomerPackage
from rtmhub.domain.usage.models import AllocationInterval, PackageInterval
from rtmhub.domain.usage.repository import intervals_by_customer_package_user
from rtmhub.domain.usage.schemas import DailyUnits, PackageChange

CLOSE_CHUNK = 500  # user ids per UPDATE … IN (…): well under every database's parameter limit
_INSERT_INTERVAL = insert(cast(Table, PackageInterval.__table__))
# One user's interval (a request's change): on the driver's connection, without SQLAlchemy's execution around
# it, which cost more than the row (decision 57).
_OPEN_ONE = DriverStatement(_INSERT_INTERVAL)


def record_user_packages(session: Session, changes: Iterable[PackageChange], at: datetime) -> None:
    """Close the open interval of each user whose package went or changed, and open one for each user who
    got a package, all at ``at``. Set-wise: one UPDATE per chunk of users and one INSERT for the batch.
    A user changed more than once in the batch counts from its first state to its last: the states in
    between lasted no time at all, and an interval of no time counts nowhere."""
    net: dict[str, PackageChange] = {}
    for change in changes:
        first = net.get(change.user_id)
        net[change.user_id] = change if first is None else replace(change, old_package=first.old_package)
    closing: list[str] = []
    opening: list[dict] = []
    for change in net.values():
        if change.old_package == change.new_package:
            continue
        if change.old_package is not None:
            closing.append(change.user_id)
        if change.new_package is not None:
            opening.append({"partner_id": change.partner_id, "customer_id": change.customer_id,
                            "user_id": change.user_id, "email": change.email, "package": change.new_package,
                            "started": at, "ended": None})
    for i in range(0, len(closing), CLOSE_CHUNK):
        session.execute(update(PackageInterval)
                        .where(PackageInterval.user_id.in_(closing[i:i + CLOSE_CHUNK]),
                               PackageInterval.ended.is_(None))
                        .values(ended=at)
                        .execution_options(synchronize_session=False))
    if len(opening) == 1 and bulk_sql.PLAIN_FROM_ROWS > 1:
        # Where execute_many would hand the one row to SQLAlchemy's execution (a single change): the prebuilt
        # statement instead, after the flush that session.execute does first.
        session.flush()
        _OPEN_ONE.execute(session, opening[0])
    elif opening:
        # One plain executemany (COPY on PostgreSQL): a bulk import opens thousands of intervals a batch.
        execute_many(session, _INSERT_INTERVAL, opening)


def record_customer_removed(session: Session, customer: Customer, at: datetime) -> None:
    """The customer is being deleted with its users: every interval of it still open closes at ``at``
    (one UPDATE, whatever the number of users), and so do its allocation intervals."""
    session.execute(update(PackageInterval)
                    .where(PackageInterval.customer_id == customer.id, PackageInterval.ended.is_(None))
                    .values(ended=at)
                    .execution_options(synchronize_session=False))
    record_allocations(session, customer, at, removed=True)


def record_allocations(session: Session, customer: Customer, at: datetime, *, removed: bool = False) -> None:
    """Bring the customer's open allocation intervals in line with its packages now: an interval whose
    package went, or whose allocation, name, external id or org id changed, closes at ``at`` and the new
    state opens one. ``removed``: the customer is being deleted, so every open interval closes."""
    current: dict[str, int | None] = {} if removed else {
        row.package: row.allocation
        for row in session.scalars(select(CustomerPackage).where(CustomerPackage.customer_id == customer.id))}
    identity = (customer.org_id, customer.name, customer.external_id, customer.partner_id)
    open_rows = session.scalars(select(AllocationInterval).where(AllocationInterval.customer_id == customer.id,
                                                                 AllocationInterval.ended.is_(None))).all()
    kept: set[str] = set()
    for row in open_rows:
        same = (row.package in current and current[row.package] == row.allocation
                and (row.org_id, row.customer_name, row.external_id, row.partner_id) == identity)
        if same:
            kept.add(row.package)
        else:
            row.ended = at
    for package, allocation in sorted(current.items()):
        if package not in kept:
            session.add(AllocationInterval(partner_id=customer.partner_id, customer_id=customer.id,
                                           org_id=customer.org_id, customer_name=customer.name,
                                           external_id=customer.external_id, package=package,
                                           allocation=allocation, started=at))
    session.flush()


def last_held_day(ended: datetime | None, end: date) -> date:
    """The last day (UTC) an interval ending at ``ended`` was held, within a period ending on ``end``: an
    interval ending exactly at midnight was not held on the day that midnight starts."""
    if ended is None:
        return end
    return min(end, (ended - timedelta(microseconds=1)).date())


def daily_units(session: Session, start: date, end: date, partner_ids: tuple[str, ...] | None = None,
                customer_id: str | None = None) -> Iterator[DailyUnits]:
    """Units in use per customer, package and day from ``start`` to ``end`` (inclusive, UTC days), in
    customer and package order, one (customer, package) at a time so a million intervals stream through at
    flat memory. A unit counts on a day when a user held the package at any moment of it; a user counts once
    per day and package however often the package came and went that day. Customers and packages with no
    unit in use on any day of the period yield nothing."""
    days = (end - start).days + 1
    key: tuple[str, str] | None = None
    diff: list[int] = []
    user: str | None = None
    span_first = span_last = start
    for customer, package, user_id, started, ended in intervals_by_customer_package_user(
            session, start, end, partner_ids, customer_id):
        first = max(start, started.date())
        last = last_held_day(ended, end)
        if (customer, package) != key:
            if key is not None:
                _add_span(diff, start, span_first, span_last)
                yield _finish(key, start, diff)
            key, diff, user = (customer, package), [0] * (days + 1), None
        if user_id != user:
            if user is not None:
                _add_span(diff, start, span_first, span_last)
            user, span_first, span_last = user_id, first, last
        elif first <= span_last:  # overlaps a day already counted for this user
            span_last = max(span_last, last)
        else:
            _add_span(diff, start, span_first, span_last)
            span_first, span_last = first, last
    if key is not None:
        _add_span(diff, start, span_first, span_last)
        yield _finish(key, start, diff)


def _add_span(diff: list[int], start: date, first: date, last: date) -> None:
    if last < first:
        return
    diff[(first - start).days] += 1
    diff[(last - start).days + 1] -= 1


def _finish(key: tuple[str, str], start: date, diff: list[int]) -> DailyUnits:
    units, running = [], 0
    for step in diff[:-1]:
        running += step
        units.append(running)
    return DailyUnits(customer_id=key[0], package=key[1], first_day=start, units=units)
