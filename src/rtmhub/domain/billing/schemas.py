"""Billing report requests as the domain checks them: dates (R50), types, list filters and sort keys (R51)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from rtmhub.domain.billing.content import REPORT_TYPES
from rtmhub.domain.billing.models import REPORT_STATUSES
from rtmhub.errors import FieldProblems, ValidationFailed, msg

# R51: what a list may be sorted by (the upstream names), the first being the default.
SORT_KEYS = ("billingStartDate", "billingEndDate", "id", "status")
CATEGORY = "RECONCILIATION"  # upstream's category; rtmhub makes reconciliation reports only
HISTORY_YEARS = 5  # R50: a report covers days within the last five years
DOWNLOAD_SECONDS = 3600  # a tempDownloadURL works for one hour, as upstream's does


@dataclass(frozen=True)
class ReportFilter:
    """``GET …/billing/reports`` filters; ``sub_partner_id`` is a raw partner id (the edge decodes it)."""

    start: date | None = None
    end: date | None = None
    report_type: str | None = None
    status: str | None = None
    sub_partner_id: str | None = None


def parse_date(value: str | date | None, name: str) -> date:
    """A ``YYYY-MM-DD`` date as upstream writes it; anything else is a 400 naming the field."""
    if isinstance(value, date):
        return value
    text = (value or "").strip()
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(msg("{name} must be a date written YYYY-MM-DD, for example 2026-01-31 (got "
                                   "'{value}').", name=name, value=text[:40])) from None


def earliest_day(today: date) -> date:
    """The first day a report may cover: the same calendar day five years ago (28 February for a 29th)."""
    try:
        return today.replace(year=today.year - HISTORY_YEARS)
    except ValueError:
        return today.replace(year=today.year - HISTORY_YEARS, day=28)


def check_period(start: date, end: date, today: date) -> None:
    """R50: every day of the period lies within the last five years and before today (UTC); start ≤ end.
    Every problem is reported at once."""
    first, last = earliest_day(today), today - timedelta(days=1)
    problems = FieldProblems()
    for name, day in (("billingStartDate", start), ("billingEndDate", end)):
        if day >= today:
            problems.add(name, msg("{name} {day} is not over yet: a report covers past days only, up to "
                                   "yesterday ({last}).", name=name, day=day.isoformat(), last=last.isoformat()))
        elif day < first:
            problems.add(name, msg("{name} {day} is more than five years ago: choose a day from {first} on.",
                                   name=name, day=day.isoformat(), first=first.isoformat()))
    if start > end:
        problems.add("billingEndDate", msg("billingEndDate {end} is before billingStartDate {start}: the period "
                                           "must end on or after the day it starts.",
                                           end=end.isoformat(), start=start.isoformat()))
    problems.raise_if_any()


def check_type(value: str | None) -> str:
    """PARTNER (the default), CUSTOMER or USER."""
    if value is None:
        return "PARTNER"
    if value not in REPORT_TYPES:
        raise ValidationFailed(msg("type '{value}' is not a report type: use PARTNER, CUSTOMER or USER.",
                                   value=str(value)[:40]))
    return value


def check_status(value: str | None) -> str | None:
    if value is not None and value not in REPORT_STATUSES:
        raise ValidationFailed(msg("status '{value}' is not a report status: use IN_PROGRESS, COMPLETED or "
                                   "FAILED.", value=str(value)[:40]))
    return value


def check_sort(value: str | None) -> str:
    if value is None:
        return SORT_KEYS[0]
    if value not in SORT_KEYS:
        raise ValidationFailed(msg("sortBy '{value}' is not supported: use id, billingStartDate, billingEndDate or "
                                   "status.", value=str(value)[:40]))
    return value
