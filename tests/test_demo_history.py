"""The demo's ninety days of ledger history: today's state exactly as the users and allocations are now,
history behind it (growth, churn, package and allocation changes) that never exceeds an allocation, and
the same shape on every load."""
from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select

from rtmhub.db import utcnow
from rtmhub.demo import load_demo
from rtmhub.demo_history import HISTORY_DAYS
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.customers.models import Customer, CustomerPackage
from rtmhub.domain.usage.models import AllocationInterval, PackageInterval
from rtmhub.domain.usage.repository import day_start
from rtmhub.domain.usage.service import daily_units
from rtmhub.domain.users.models import User
from tests.conftest import empty_tables

OPERATOR = Caller.operator("demo-tests")


def _load(db):
    with db.unit_of_work() as s:
        load_demo(s, OPERATOR)


def test_demo_ledger_ends_in_todays_state(db):
    _load(db)
    now = utcnow()
    with db.unit_of_work(write=False) as s:
        holders = {(u.id, u.package) for u in s.scalars(select(User).where(User.package.is_not(None)))}
        intervals = s.execute(select(PackageInterval.user_id, PackageInterval.package, PackageInterval.started,
                                         PackageInterval.ended)).all()
        assert {(r.user_id, r.package) for r in intervals if r.ended is None} == holders
        assert len([r for r in intervals if r.ended is None]) == len(holders)  # one open interval each
        packages = {(p.customer_id, p.package, p.allocation) for p in s.scalars(select(CustomerPackage))}
        allocations = s.execute(select(AllocationInterval.customer_id, AllocationInterval.package,
                                           AllocationInterval.allocation, AllocationInterval.started,
                                           AllocationInterval.ended)).all()
        assert {(a.customer_id, a.package, a.allocation) for a in allocations if a.ended is None} == packages
    onboarded = now - timedelta(days=HISTORY_DAYS)
    assert all(onboarded - timedelta(seconds=5) <= r.started <= now for r in intervals)
    assert all(r.started < r.ended <= now for r in intervals if r.ended is not None)
    # history behind today: users who came and went, package changes, allocation changes
    user_ids = {u for u, _p in holders}
    assert len([r for r in intervals if r.user_id not in user_ids]) >= 10
    by_user = defaultdict(set)
    for r in intervals:
        by_user[r.user_id].add(r.package)
    assert len([u for u in user_ids if len(by_user[u]) > 1]) >= 2
    assert len([a for a in allocations if a.ended is not None]) >= 2
    # every day's use fits the allocation in force at some moment of that day
    first = now.date() - timedelta(days=HISTORY_DAYS - 1)
    with db.unit_of_work(write=False) as s:
        for row in daily_units(s, first, now.date()):
            for i, units in enumerate(row.units):
                day = first + timedelta(days=i)
                limits = [a.allocation for a in allocations if a.customer_id == row.customer_id
                          and a.package == row.package and a.started < day_start(day + timedelta(days=1))
                          and (a.ended is None or a.ended > day_start(day))]
                assert limits, (row.package, day)
                assert None in limits or units <= max(limits), (row.package, day, units, limits)
            # growth: fewer units on the first day than today
            assert row.units[0] <= row.units[-1] or row.package == "cx_essentials"


def test_demo_history_has_the_same_shape_every_time(db):
    def shape():
        _load(db)
        today = utcnow().date()
        with db.unit_of_work(write=False) as s:
            external = {c.id: c.external_id for c in s.scalars(select(Customer))}
            return sorted((external[r.customer_id], r.package, tuple(r.units))
                          for r in daily_units(s, today - timedelta(days=HISTORY_DAYS - 1), today))

    first = shape()
    empty_tables(db)
    assert shape() == first and len(first) == 8
