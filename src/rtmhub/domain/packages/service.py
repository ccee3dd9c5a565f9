"""Allocation accounting (R3, D3). Units move only through these two statements."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.orm import Session

from rtmhub.domain.customers.models import CustomerPackage
from rtmhub.domain.packages.models import BASE_LICENCES, USER_PACKAGES, display_name
from rtmhub.domain.users.models import User
from rtmhub.errors import AllocationExceeded, ValidationFailed, msg


def take_unit(session: Session, customer_id: str, package: str) -> None:
    """Consume one unit, or refuse. The check and the increment are one conditional UPDATE, so
    concurrent callers are serialised by the row lock and can never take more than the allocation."""
    result = cast(CursorResult[Any], session.execute(  # an UPDATE's result: it has rowcount
        update(CustomerPackage)
        .where(CustomerPackage.customer_id == customer_id, CustomerPackage.package == package,
               or_(CustomerPackage.allocation.is_(None), CustomerPackage.used < CustomerPackage.allocation))
        .values(used=CustomerPackage.used + 1)
        .execution_options(synchronize_session=False)
    ))
    if result.rowcount == 1:
        return
    row = session.scalar(select(CustomerPackage).where(
        CustomerPackage.customer_id == customer_id, CustomerPackage.package == package))
    if row is None:
        raise missing_package(package)
    raise allocation_exceeded(package, row.used, row.allocation)


def missing_package(package: str) -> ValidationFailed:
    return ValidationFailed(
        msg("The customer has no {package} package ({id}); add it to the customer or choose one of the "
            "customer's packages.", package=display_name(package), id=package), code=400000)


def allocation_exceeded(package: str, used: int, allocation: int | None) -> AllocationExceeded:
    return AllocationExceeded(
        msg("{package} is fully used: {used} of {allocation} allocated units are assigned. Free a unit or "
            "raise the customer's allocation first.", package=display_name(package), used=used,
            allocation=allocation))


def release_unit(session: Session, customer_id: str, package: str) -> None:
    session.execute(
        update(CustomerPackage)
        .where(CustomerPackage.customer_id == customer_id, CustomerPackage.package == package,
               CustomerPackage.used > 0)
        .values(used=CustomerPackage.used - 1)
        .execution_options(synchronize_session=False)
    )


def customer_licences(session: Session, customer_id: str) -> list[tuple[CustomerPackage, int]]:
    """Every licence of a customer with its consumed units (base licences are counted from users)."""
    rows = session.scalars(select(CustomerPackage).where(CustomerPackage.customer_id == customer_id)
                           .order_by(CustomerPackage.created, CustomerPackage.package)).all()
    base_counts = {}
    if any(r.package in BASE_LICENCES for r in rows):
        counts = session.execute(select(
            func.count().filter(User.basic_messaging.is_(True)),
            func.count().filter(User.basic_space_meetings.is_(True)),
            func.count().filter(User.call_on_webex.is_(True)),
        ).where(User.customer_id == customer_id)).one()
        base_counts = dict(zip(BASE_LICENCES, counts, strict=False))
    return [(r, base_counts.get(r.package, r.used)) for r in rows]


class TooManyPackages(ValidationFailed):
    """R1 broken: more than one wholesale package named for one user (upstream 400413)."""

    def __init__(self, packages: list[str]):
        self.packages = packages
        super().__init__(msg("A user holds exactly one package; the request names {packages}.",
                             packages=", ".join(display_name(p) for p in packages)), code=400413)


def one_user_package(packages: Iterable[str]) -> str | None:
    """R1, for every face (licence lists, subscriber packages, CSV package columns): the one user package
    among ``packages`` (None when there is none). Two or more distinct ones raise ``TooManyPackages``;
    names that are no user package are left for the caller to refuse in its own terms."""
    held = list(dict.fromkeys(p for p in packages if p in USER_PACKAGES))
    if len(held) > 1:
        raise TooManyPackages(held)
    return held[0] if held else None
