"""Queries of the ledger that more than one service reads."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from sqlalchemy import Row, or_, select
from sqlalchemy.orm import Session

from rtmhub.db import UTC
from rtmhub.domain.usage.models import PackageInterval

STREAM_ROWS = 10_000  # rows fetched at a time: a report over a million intervals stays at flat memory


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def held_within(start: date, end: date, partner_ids: tuple[str, ...] | None = None,
                customer_id: str | None = None):
    """The conditions of intervals held at some moment of the days ``start``..``end`` (inclusive, UTC).
    An interval that ended the instant it started was never held and counts nowhere."""
    conditions = [PackageInterval.started < day_start(end + timedelta(days=1)),
                  or_(PackageInterval.ended.is_(None),
                      (PackageInterval.ended > day_start(start)) & (PackageInterval.ended > PackageInterval.started))]
    if partner_ids is not None:
        conditions.append(PackageInterval.partner_id.in_(partner_ids))
    if customer_id is not None:
        conditions.append(PackageInterval.customer_id == customer_id)
    return conditions


def intervals_by_customer_package_user(session: Session, start: date, end: date,
                                       partner_ids: tuple[str, ...] | None = None,
                                       customer_id: str | None = None) -> Iterator[Row]:
    """Intervals held within the days, ordered by customer, package, user and start, streamed."""
    stmt = (select(PackageInterval.customer_id, PackageInterval.package, PackageInterval.user_id,
                   PackageInterval.started, PackageInterval.ended)
            .where(*held_within(start, end, partner_ids, customer_id))
            .order_by(PackageInterval.customer_id, PackageInterval.package, PackageInterval.user_id,
                      PackageInterval.started, PackageInterval.id)
            .execution_options(yield_per=STREAM_ROWS))
    yield from session.execute(stmt)


def intervals_for_user_report(session: Session, start: date, end: date,
                              partner_ids: tuple[str, ...]) -> Iterator[Row]:
    """Intervals held within the days with the user's e-mail, in the order of the USER report, streamed."""
    stmt = (select(PackageInterval.customer_id, PackageInterval.package, PackageInterval.user_id,
                   PackageInterval.email, PackageInterval.started, PackageInterval.ended)
            .where(*held_within(start, end, partner_ids))
            .order_by(PackageInterval.customer_id, PackageInterval.package, PackageInterval.user_id,
                      PackageInterval.started, PackageInterval.id)
            .execution_options(yield_per=STREAM_ROWS))
    yield from session.execute(stmt)
