"""Usage over a period for the pages (issue 11): units in use per package and day, and each customer's peak
and average daily units per package, read only from ``daily_units`` so the charts count exactly as the
billing reports do. One pass over the ledger gives both."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from rtmhub.domain.access import service as access
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.packages.models import PACKAGES
from rtmhub.domain.usage.models import AllocationInterval
from rtmhub.domain.usage.service import daily_units
from rtmhub.errors import ValidationFailed, msg

CENT = Decimal("0.01")
MAX_DAYS = 366 * 5  # the billing reports' own reach (R50): five years


@dataclass(frozen=True, slots=True)
class PackageSeries:
    """Units of ``package`` in use on each day of the period, summed over the customers in reach."""

    package: str
    units: list[int]


@dataclass(frozen=True, slots=True)
class CustomerUsage:
    """One customer's use of one package over the period. ``average`` is the unit-days divided by the days
    of the period (days without a unit count as 0), to two decimals."""

    customer_id: str
    package: str
    peak: int
    average: Decimal
    unit_days: int


@dataclass(frozen=True)
class UsageOverview:
    first_day: date
    last_day: date
    series: list[PackageSeries]  # catalogue order; packages with no unit in the period are left out
    customers: list[CustomerUsage]  # by customer id, then catalogue order

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


def _order(package: str) -> tuple[int, str]:
    order = list(PACKAGES)
    return (order.index(package) if package in PACKAGES else len(order), package)


def overview(session: Session, caller: Caller, start: date, end: date, *, customer: Customer | None = None,
             partner_ids: tuple[str, ...] | None = None) -> UsageOverview:
    """Daily units per package and each customer's peak and average from ``start`` to ``end`` (inclusive,
    UTC days). ``customer``: that customer only (a row the caller got through ``access.get_customer``);
    otherwise every customer the caller's partner tree reaches, or the narrower ``partner_ids`` (from
    ``access.sub_partner_scope``). A customer administrator reaches only its own customer's figures."""
    if end < start:
        raise ValidationFailed(msg("The period must not end before it starts."))
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationFailed(msg("The period can be at most five years long."))
    if customer is not None:
        rows = daily_units(session, start, end, customer_id=customer.id)
    else:
        access.require_partner(caller)
        scope = partner_ids if partner_ids is not None else (None if caller.system else caller.partner_ids)
        rows = daily_units(session, start, end, partner_ids=scope)
    days = (end - start).days + 1
    totals: dict[str, list[int]] = {}
    per_customer: list[CustomerUsage] = []
    for row in rows:
        total = totals.setdefault(row.package, [0] * days)
        for i, units in enumerate(row.units):
            total[i] += units
        unit_days = sum(row.units)
        per_customer.append(CustomerUsage(
            customer_id=row.customer_id, package=row.package, peak=max(row.units, default=0),
            average=(Decimal(unit_days) / days).quantize(CENT, ROUND_HALF_UP), unit_days=unit_days))
    per_customer.sort(key=lambda u: (u.customer_id, _order(u.package)))
    series = [PackageSeries(package=p, units=totals[p]) for p in sorted(totals, key=_order)]
    return UsageOverview(first_day=start, last_day=end, series=series, customers=per_customer)


def ledger_names(session: Session, customer_ids: set[str]) -> dict[str, str]:
    """The name each customer last had in the ledger: a customer deleted since still has its use shown
    under the name it was billed by."""
    names: dict[str, str] = {}
    ids = sorted(customer_ids)
    for i in range(0, len(ids), 500):
        stmt = (select(AllocationInterval.customer_id, AllocationInterval.customer_name)
                .where(AllocationInterval.customer_id.in_(ids[i:i + 500]))
                .order_by(AllocationInterval.started, AllocationInterval.id))
        for cid, name in session.execute(stmt):
            names[cid] = name  # the latest interval wins
    return names
