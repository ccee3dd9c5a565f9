"""The content of a billing report (issue 11, ``docs/billing.md``): CSV read only from the ledger of package
use, so the same period and ledger always give the same bytes.

Every value depends only on ledger rows that had started before the period ended, and on an interval's end
only when that end falls within the period: a later change (a rename, a deletion, a package taken away
today) closes or opens rows after the period and leaves the file unchanged."""
from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TextIO

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from rtmhub import ids
from rtmhub.domain.usage.models import AllocationInterval
from rtmhub.domain.usage.repository import day_start, intervals_for_user_report
from rtmhub.domain.usage.schemas import DailyUnits
from rtmhub.domain.usage.service import daily_units, last_held_day

REPORT_TYPES = ("PARTNER", "CUSTOMER", "USER")

PARTNER_COLUMNS = ("externalId", "customerName", "orgId", "package", "billableDays", "peakUnits",
                   "averageUnits", "allocation")
CUSTOMER_COLUMNS = ("externalId", "customerName", "orgId", "package", "date", "units", "allocation")
USER_COLUMNS = ("email", "userId", "externalId", "orgId", "package", "from", "to", "days")

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class _Identity:
    external_id: str
    name: str
    org_id: str


_UNKNOWN = _Identity("", "", "")


class _Allocations:
    """The allocation intervals of the period's customers, which grow with customers and packages, not with
    users: the customer as the ledger last named it before the period ended, and each package's allocation
    in effect at the end of a given day."""

    def __init__(self, session: Session, start: date, end: date, partner_ids: tuple[str, ...]) -> None:
        self.period_end = day_start(end + timedelta(days=1))
        self._identity: dict[str, tuple[datetime, int, _Identity]] = {}
        self._spans: dict[tuple[str, str], list[tuple[datetime, datetime | None, int | None]]] = {}
        rows = session.execute(
            select(AllocationInterval.id, AllocationInterval.customer_id, AllocationInterval.package,
                   AllocationInterval.allocation, AllocationInterval.started, AllocationInterval.ended,
                   AllocationInterval.external_id, AllocationInterval.customer_name, AllocationInterval.org_id)
            .where(AllocationInterval.partner_id.in_(partner_ids),
                   AllocationInterval.started < self.period_end,
                   or_(AllocationInterval.ended.is_(None), AllocationInterval.ended > day_start(start)))
            .order_by(AllocationInterval.customer_id, AllocationInterval.package, AllocationInterval.started,
                      AllocationInterval.id))
        for row_id, customer_id, package, allocation, started, ended, external_id, name, org_id in rows:
            self._spans.setdefault((customer_id, package), []).append((started, ended, allocation))
            known = self._identity.get(customer_id)
            if known is None or (started, row_id) > known[:2]:
                self._identity[customer_id] = (started, row_id, _Identity(external_id, name,
                                                                          ids.encode("ORGANIZATION", org_id)))

    def identity(self, customer_id: str) -> _Identity:
        known = self._identity.get(customer_id)
        return known[2] if known else _UNKNOWN

    def at_end_of(self, customer_id: str, package: str, day: date) -> str:
        """The allocation in effect at the last instant of ``day``; empty when unlimited or none."""
        instant = day_start(day + timedelta(days=1))
        for started, ended, allocation in reversed(self._spans.get((customer_id, package), ())):
            if started < instant and (ended is None or ended >= instant):
                return "" if allocation is None else str(allocation)
        return ""


def write_report(session: Session, out: TextIO, report_type: str, start: date, end: date,
                 partner_ids: tuple[str, ...]) -> int:
    """Write the ``report_type`` report of the customers of ``partner_ids`` over the UTC days ``start`` to
    ``end`` inclusive as CSV to ``out``; return the number of lines after the header."""
    if report_type not in REPORT_TYPES:
        raise ValueError(f"unknown report type {report_type!r}")
    if end < start:
        raise ValueError("the period ends before it starts")
    writer = csv.writer(out, lineterminator="\n")
    allocations = _Allocations(session, start, end, partner_ids)
    lines = 0
    if report_type == "PARTNER":
        writer.writerow(PARTNER_COLUMNS)
        for line in _partner_lines(session, start, end, partner_ids, allocations):
            writer.writerow(line)
            lines += 1
    elif report_type == "CUSTOMER":
        writer.writerow(CUSTOMER_COLUMNS)
        for line in _customer_lines(session, start, end, partner_ids, allocations):
            writer.writerow(line)
            lines += 1
    else:
        writer.writerow(USER_COLUMNS)
        for line in _user_lines(session, start, end, partner_ids, allocations):
            writer.writerow(line)
            lines += 1
    return lines


def _units(session: Session, start: date, end: date, partner_ids: tuple[str, ...]) -> Iterator[DailyUnits]:
    if not partner_ids:
        return iter(())
    return daily_units(session, start, end, partner_ids)


def _partner_lines(session: Session, start: date, end: date, partner_ids: tuple[str, ...],
                   allocations: _Allocations) -> Iterator[tuple[str, ...]]:
    days = (end - start).days + 1
    for usage in _units(session, start, end, partner_ids):
        unit_days = sum(usage.units)
        if not unit_days:
            continue
        who = allocations.identity(usage.customer_id)
        average = (Decimal(unit_days) / Decimal(days)).quantize(CENT, rounding=ROUND_HALF_UP)
        yield (who.external_id, who.name, who.org_id, usage.package, str(unit_days), str(max(usage.units)),
               f"{average:.2f}", allocations.at_end_of(usage.customer_id, usage.package, end))


def _customer_lines(session: Session, start: date, end: date, partner_ids: tuple[str, ...],
                    allocations: _Allocations) -> Iterator[tuple[str, ...]]:
    for usage in _units(session, start, end, partner_ids):
        if not any(usage.units):
            continue
        who = allocations.identity(usage.customer_id)
        for offset, units in enumerate(usage.units):
            day = usage.first_day + timedelta(days=offset)
            yield (who.external_id, who.name, who.org_id, usage.package, day.isoformat(), str(units),
                   allocations.at_end_of(usage.customer_id, usage.package, day))


def _timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _user_lines(session: Session, start: date, end: date, partner_ids: tuple[str, ...],
                allocations: _Allocations) -> Iterator[tuple[str, ...]]:
    if not partner_ids:
        return
    for customer_id, package, user_id, email, started, ended in intervals_for_user_report(
            session, start, end, partner_ids):
        first = max(start, started.date())
        last = last_held_day(ended, end)
        # An end after the period is not known to the period: the file must not change when it comes.
        until = "" if ended is None or ended >= allocations.period_end else _timestamp(ended)
        who = allocations.identity(customer_id)
        yield (email, ids.encode("PEOPLE", user_id), who.external_id, who.org_id, package, _timestamp(started), until,
               str(max(0, (last - first).days + 1)))
