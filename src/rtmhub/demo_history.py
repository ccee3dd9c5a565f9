"""Ninety days of plausible ledger history for the demo, so the usage charts and billing reports show
something on the first run: users who got their package at onboarding or later (growth), users who came
and went (churn), a package change or two, and an allocation change per customer.

The demo creates everything "now"; this rewrites one demo customer's ledger rows as if it had been
onboarded 90 days ago. Today's state is kept exactly: the open package intervals are the current holders
(the users the demo made, with the package each holds now) and the open allocation intervals are the
customer's packages now, written by ``record_allocations`` itself. Units are held continuously (no
weekend dips), and no day's use exceeds the allocation in force that day. Seeded: the same shape on every
run (the dates move with today)."""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from rtmhub.db import UTC
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.packages.models import REFUSED_CHANGES
from rtmhub.domain.usage.models import AllocationInterval, PackageInterval
from rtmhub.domain.usage.service import record_allocations

HISTORY_DAYS = 90
ONBOARDED_SHARE = 0.55  # of today's holders, the share who got their package on the first day
CHURN_SHARE = 0.2  # users who came and went, as a share of today's holders
PACKAGE_CHANGES = 2


@dataclass(frozen=True)
class Holder:
    user_id: str
    email: str
    package: str


class _Days:
    """Units held per package and day index (0: the first day of the history, HISTORY_DAYS - 1: today)."""

    def __init__(self, limits: dict[str, int | None]):
        self.limits = limits
        self.used = {p: [0] * HISTORY_DAYS for p in limits}

    def fits(self, package: str, first: int, last: int) -> bool:
        limit = self.limits.get(package)
        if package not in self.used:
            return False
        return limit is None or all(self.used[package][d] < limit for d in range(first, last + 1))

    def hold(self, package: str, first: int, last: int) -> None:
        for d in range(first, last + 1):
            self.used[package][d] += 1


def _at(day: date, rng: random.Random) -> datetime:
    """A moment within office hours of ``day`` (UTC)."""
    return datetime.combine(day, time(rng.randint(6, 15), rng.randrange(60)), tzinfo=UTC)


def backdate(session: Session, customer: Customer, holders: list[Holder], rng: random.Random, now: datetime,
             emails: list[str]) -> None:
    """Replace ``customer``'s ledger rows with ninety days of history ending in today's state. ``emails``
    are addresses for the users who came and went (used in order)."""
    session.execute(delete(PackageInterval).where(PackageInterval.customer_id == customer.id))
    session.execute(delete(AllocationInterval).where(AllocationInterval.customer_id == customer.id))
    today = now.date()
    first_day = today - timedelta(days=HISTORY_DAYS - 1)
    onboarded = now - timedelta(days=HISTORY_DAYS)
    record_allocations(session, customer, onboarded)
    allocations = {row.package: row for row in session.scalars(
        select(AllocationInterval).where(AllocationInterval.customer_id == customer.id,
                                         AllocationInterval.ended.is_(None)))}
    user_packages = sorted({h.package for h in holders})
    days = _Days({p: allocations[p].allocation if p in allocations else None for p in user_packages})

    def day_of(index: int) -> date:
        return first_day + timedelta(days=index)

    def row(user_id: str, email: str, package: str, started: datetime, ended: datetime | None) -> dict:
        return {"partner_id": customer.partner_id, "customer_id": customer.id, "user_id": user_id,
                "email": email, "package": package, "started": started, "ended": ended}

    rows: list[dict] = []
    changing = {h.user_id for h in rng.sample(holders, min(PACKAGE_CHANGES, len(holders)))} \
        if len(user_packages) > 1 else set()
    for holder in holders:
        start = 0 if rng.random() < ONBOARDED_SHARE else rng.randint(1, HISTORY_DAYS - 2)
        started = onboarded if start == 0 else _at(day_of(start), rng)
        if holder.user_id in changing and start < HISTORY_DAYS - 10:
            # A package change: the user held another of the customer's packages first.
            old = rng.choice([p for p in user_packages if p != holder.package
                              and (p, holder.package) not in REFUSED_CHANGES])
            change = rng.randint(start + 5, HISTORY_DAYS - 3)
            if days.fits(old, start, change):
                changed = _at(day_of(change), rng)
                rows.append(row(holder.user_id, holder.email, old, started, changed))
                days.hold(old, start, change)
                start, started = change, changed
        rows.append(row(holder.user_id, holder.email, holder.package, started, None))
        days.hold(holder.package, start, HISTORY_DAYS - 1)
    weights = [sum(1 for h in holders if h.package == p) for p in user_packages]
    for email in emails[:max(2, round(len(holders) * CHURN_SHARE))]:
        package = rng.choices(user_packages, weights)[0]
        first = 0 if rng.random() < 0.4 else rng.randint(1, HISTORY_DAYS - 20)
        last = rng.randint(first + 3, HISTORY_DAYS - 2)
        if not days.fits(package, first, last):
            continue
        days.hold(package, first, last)
        # Deleted since (the ledger outlives its users): an id no current user has.
        user_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        rows.append(row(user_id, email, package, onboarded if first == 0 else _at(day_of(first), rng),
                        _at(day_of(last), rng)))
    session.execute(insert(PackageInterval), rows)
    _allocation_change(session, customer, allocations, days, rng, onboarded, day_of)


def _allocation_change(session: Session, customer: Customer, allocations: dict[str, AllocationInterval],
                       days: _Days, rng: random.Random, onboarded: datetime, day_of) -> None:
    """The customer's first limited user package had another allocation until some day: raised since when
    its use then fitted a smaller one, else lowered."""
    limited = [p for p, limit in days.limits.items() if limit is not None]
    if not limited:
        return
    package = limited[0]
    current = allocations[package]
    change = rng.randint(30, 60)
    peak = max(days.used[package][:change + 1])
    earlier = max(peak, (current.allocation or 0) * 4 // 5)
    earlier = -(-earlier // 5) * 5  # a round number, as people choose them
    if earlier == current.allocation:
        earlier += 10
    changed = _at(day_of(change), rng)
    session.add(AllocationInterval(partner_id=current.partner_id, customer_id=customer.id, org_id=current.org_id,
                                   customer_name=current.customer_name, external_id=current.external_id,
                                   package=package, allocation=earlier, started=onboarded, ended=changed))
    current.started = changed
    session.flush()
