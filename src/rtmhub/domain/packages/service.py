"""Allocation accounting (R3, D3; units move only through take_unit and release_unit), and the package
rules of a user request: R1 (one_user_package) and R8 (change_refusal, the pairs of TooManyPackages)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Integer, Table, bindparam, func, literal_column, or_, select, update
from sqlalchemy.orm import Session

from rtmhub.db import DriverStatement
from rtmhub.domain.customers.models import CustomerPackage
from rtmhub.domain.packages.models import (
    BASE_LICENCES,
    EXCLUSIVE_PAIRS,
    REFUSED_CHANGES,
    USER_PACKAGES,
    display_name,
)
from rtmhub.domain.users.models import User
from rtmhub.errors import AllocationExceeded, Message, ValidationFailed, msg

_PACKAGES = cast(Table, CustomerPackage.__table__)
_UNITS = _PACKAGES.c
_OF_PACKAGE = (_UNITS.customer_id == bindparam("b_customer_id"), _UNITS.package == bindparam("b_package"))
# Built once: made on every call, a statement's construction and SQLAlchemy's cache key of it cost several
# times its execution (a subscriber's provisioning takes a unit on every request). Core statements on the
# table, as ``synchronize_session=False`` already made them: no ORM bookkeeping either.
# Written into the SQL: a DriverStatement's parameters are only those its caller gives.
_ONE: ColumnElement[int] = literal_column("1", Integer)
_NONE: ColumnElement[int] = literal_column("0", Integer)
_TAKE_UNIT = DriverStatement(update(_PACKAGES)
                             .where(*_OF_PACKAGE, or_(_UNITS.allocation.is_(None), _UNITS.used < _UNITS.allocation))
                             .values(used=_UNITS.used + _ONE))
_RELEASE_UNIT = DriverStatement(update(_PACKAGES).where(*_OF_PACKAGE, _UNITS.used > _NONE)
                                .values(used=_UNITS.used - _ONE))


def _move_unit(session: Session, statement: DriverStatement, customer_id: str, package: str) -> int:
    """Run ``statement`` for the customer's package; the rows it changed (an allocation just set counts)."""
    return statement.execute(session, {"b_customer_id": customer_id, "b_package": package}, flush=True)


def take_unit(session: Session, customer_id: str, package: str) -> None:
    """Consume one unit, or refuse. The check and the increment are one conditional UPDATE, so
    concurrent callers are serialised by the row lock and can never take more than the allocation."""
    if _move_unit(session, _TAKE_UNIT, customer_id, package) == 1:
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
    _move_unit(session, _RELEASE_UNIT, customer_id, package)


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
    """R1 broken: more than one wholesale package named for one user (upstream 400413; for the pairs of
    ``EXCLUSIVE_PAIRS`` R8's own code, 400404 or 400407)."""

    def __init__(self, packages: list[str]):
        self.packages = packages
        # Both names: the display name for people, the package id that API requests and CSV files use.
        named = ", ".join(f"{display_name(p)} ({p})" for p in packages)
        # R8: the two calling packages upstream names a code of their own for (400404, 400407).
        pair = EXCLUSIVE_PAIRS.get(frozenset(packages)) if len(packages) == 2 else None
        if pair is not None:
            super().__init__(msg("A user holds exactly one package, and {first} and {second} cannot be held together "
                                 "(error {code}); the request names {packages}.", first=display_name(packages[0]),
                                 second=display_name(packages[1]), code=pair, packages=named), code=pair)
        else:
            super().__init__(msg("A user holds exactly one package; the request names {packages}.", packages=named),
                             code=400413)


def one_user_package(packages: Iterable[str]) -> str | None:
    """R1, for every face (licence lists, subscriber packages, CSV package columns): the one user package
    among ``packages`` (None when there is none). Two or more distinct ones raise ``TooManyPackages``;
    names that are no user package are left for the caller to refuse in its own terms."""
    held = list(dict.fromkeys(p for p in packages if p in USER_PACKAGES))
    if len(held) > 1:
        raise TooManyPackages(held)
    return held[0] if held else None


def change_refusal(old: str | None, new: str | None) -> tuple[Message, int] | None:
    """R8: the message and upstream code when changing a user's package from ``old`` to ``new`` is refused
    (Calling Professional -> Calling Standard 400112, Customer Assist -> Calling Standard 400410), else None.
    For every face: ``users.plan_change`` asks it, so API, CSV and pages refuse alike."""
    code = REFUSED_CHANGES.get((old, new)) if old and new else None
    if code is None or old is None or new is None:
        return None
    return msg("A user's package cannot be changed from {old} ({old_id}) to {new} ({new_id}) (error {code}). "
               "Remove the user's package first, then assign {new} with new calling data.",
               old=display_name(old), old_id=old, new=display_name(new), new_id=new, code=code), code


# --- licence lists (the People and Licenses faces of R1) ---------------------------------------

class UnknownLicence(ValidationFailed):
    """A licence that is not one of the organisation's (upstream 400000); ``licence`` is as the request wrote it."""

    def __init__(self, licence: str):
        self.licence = licence
        super().__init__(msg("Licence '{licence}' is not a licence of this organisation.", licence=licence),
                         code=400000)


def not_assignable(package: str) -> ValidationFailed:
    return ValidationFailed(msg("Licence of {package} cannot be assigned to a user.", package=package), code=400000)


def licence_packages(session: Session, customer_id: str) -> dict[str, str]:
    """The customer's licences: raw licence id -> package (each licence is one customer package row)."""
    return dict(session.execute(select(CustomerPackage.id, CustomerPackage.package)
                                .where(CustomerPackage.customer_id == customer_id)).tuples().all())


def _licence(licences: Mapping[str, str], written: str, raw_id: str | None) -> str:
    if raw_id is None or raw_id not in licences:
        raise UnknownLicence(written)
    return licences[raw_id]


@dataclass(frozen=True)
class UserLicences:
    """What a complete licence list gives one user: its one package (R1) and the base licences named."""

    package: str | None
    base: frozenset[str]

    def as_fields(self, *, creating: bool) -> dict[str, Any]:
        """As user fields. The list is complete, so base licences it leaves out are removed from an existing
        user; a new user gets only the ones listed (decision 10: POST /v1/people assigns what it lists)."""
        values: dict[str, Any] = {b: b in self.base for b in BASE_LICENCES if b in self.base or not creating}
        values["package"] = self.package
        return values


def user_licences(licences: Mapping[str, str], given: Sequence[tuple[str, str | None]]) -> UserLicences:
    """A complete licence list (people create and update) as the user's package and base licences.

    ``licences`` are the customer's (``licence_packages``); ``given`` holds each listed licence as
    (as written, raw id or None when it did not decode). A foreign or unknown licence, or one no user can
    hold, is 400000; two different packages are R1's 400413 (``one_user_package``)."""
    held = [_licence(licences, written, raw) for written, raw in given]
    package = one_user_package(held)
    unassignable = [p for p in held if p not in USER_PACKAGES and p not in BASE_LICENCES]
    if unassignable:
        raise not_assignable(unassignable[0])
    return UserLicences(package, frozenset(p for p in held if p in BASE_LICENCES))


@dataclass(frozen=True)
class LicenceChanges:
    """The outcome of licence add/remove operations on one user: the package it ends with, the base
    licences set or cleared, and which operations added a package (their calling data applies)."""

    package: str | None
    base: dict[str, bool]
    package_adds: tuple[int, ...]


def change_licences(licences: Mapping[str, str], current: str | None,
                    operations: Sequence[tuple[str, str | None, bool]]) -> LicenceChanges:
    """Licence operations (PATCH /v1/licenses/users): each is (as written, raw id or None, add?), applied
    in order to a user holding ``current``. Adding a package replaces the user's package; adding two
    different new packages in one request is R1's 400413. Foreign or unassignable licences are 400000."""
    package = current
    base: dict[str, bool] = {}
    adds: list[int] = []
    for index, (written, raw_id, add) in enumerate(operations):
        name = _licence(licences, written, raw_id)
        if name in BASE_LICENCES:
            base[name] = add
        elif name not in USER_PACKAGES:
            raise not_assignable(name)
        elif add:
            if package != current:
                # R1: this request already chose a new package; a second, different one is refused.
                one_user_package([p for p in (package, name) if p])
            package = name
            adds.append(index)
        elif package == name:
            package = None
    return LicenceChanges(package, base, tuple(adds))
