from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class PackageChange:
    """One user's package before and after a change (None: no package, or no user any more)."""

    user_id: str
    customer_id: str
    partner_id: str
    email: str
    old_package: str | None
    new_package: str | None

    def __reduce__(self) -> tuple[type[PackageChange], tuple[str, str, str, str, str | None, str | None]]:
        # Pickled by its values: a frozen dataclass with slots is otherwise rebuilt field by field through
        # dataclasses.fields(), a batch's thousand of them a noticeable part of a planned-ahead import's writer.
        return PackageChange, (self.user_id, self.customer_id, self.partner_id, self.email, self.old_package,
                               self.new_package)


@dataclass(frozen=True, slots=True)
class DailyUnits:
    """Units of ``package`` of ``customer_id`` in use on each day from ``first_day``: ``units[i]`` is the
    number of distinct users who held it at any moment of day ``first_day + i`` (UTC) — a billable day."""

    customer_id: str
    package: str
    first_day: date
    units: list[int]
