"""People as a directory pushes them: a user change through users.service (every rule of ``plan_change``)
plus the directory's own attributes (external id, active, the work number, what the directory sent that has
no column), audited with the same caller in the same transaction."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.audit.service import record
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.users import service as users
from rtmhub.domain.users.models import User
from rtmhub.domain.users.schemas import UserFields
from rtmhub.errors import Conflict, FieldProblems

EXTERNAL_ID_MAX = 255
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


@dataclass
class DirectoryAttributes:
    """What a directory sets beside the user fields. ``data``: the lists and names as the directory sent
    them (kept so that they read back as sent)."""

    external_id: str | None = None
    user_name: str | None = None
    active: bool = True
    work_number: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def directory_number(value: str | None) -> str | None:
    """A directory's work number in E.164 form ('tel:', spaces, dashes, dots and brackets dropped), or None
    when it is not one: such a number is kept as the directory sent it but cannot be a calling number."""
    if not value:
        return None
    text = re.sub(r"[\s\-().]", "", str(value).removeprefix("tel:"))
    return text if _E164.fullmatch(text) else None


def _extras(user: User) -> dict[str, Any]:
    return {"externalId": user.external_id, "userName": user.user_name, "active": user.active,
            "directoryNumber": user.directory_number}


def _check(attrs: DirectoryAttributes) -> None:
    problems = FieldProblems()
    if attrs.external_id is not None and len(attrs.external_id) > EXTERNAL_ID_MAX:
        problems.add("externalId", f"externalId is at most {EXTERNAL_ID_MAX} characters.")
    if attrs.user_name is not None and ("@" in attrs.user_name or len(attrs.user_name) > EXTERNAL_ID_MAX):
        problems.add("userName", "A userName kept beside the e-mail has no '@' (an e-mail userName is the "
                                 f"user's e-mail) and at most {EXTERNAL_ID_MAX} characters.")
    problems.raise_if_any()


def _columns(attrs: DirectoryAttributes) -> dict[str, Any]:
    return {"external_id": attrs.external_id, "user_name": attrs.user_name, "active": attrs.active,
            "directory_number": directory_number(attrs.work_number), "directory_data": attrs.data or None}


def _check_user_name(session: Session, attrs: DirectoryAttributes, user_id: str | None) -> None:
    """A userName kept beside the e-mail is unique. It holds no '@' (an e-mail userName is the e-mail itself),
    so it can never equal an e-mail: only other kept userNames are compared."""
    if attrs.user_name:
        other = session.scalar(select(User.id).where(User.user_name == attrs.user_name, User.id != (user_id or "")))
        if other is not None:
            raise Conflict(f"userName {attrs.user_name} is already in use.")


def create_person(session: Session, caller: Caller, customer: Customer, fields: UserFields,
                  attrs: DirectoryAttributes) -> User:
    _check(attrs)
    _check_user_name(session, attrs, None)
    return users.create_user(session, caller, customer, fields, columns=_columns(attrs))


def update_person(session: Session, caller: Caller, customer: Customer, user: User, fields: UserFields,
                  attrs: DirectoryAttributes) -> User:
    """A replace (PUT) or patch result: the user fields through ``update_user`` (R1-R3, formats, uniqueness),
    then the directory's attributes. ``active`` False is a soft delete: the user and its package stay (the
    unit is not lost); only a DELETE releases it."""
    _check(attrs)
    _check_user_name(session, attrs, user.id)
    users.update_user(session, caller, customer, user, fields)
    before = _extras(user)
    for name, value in _columns(attrs).items():
        setattr(user, name, value)
    session.flush()
    after = _extras(user)
    if after != before:
        record(session, caller, "user.update", "user", user.id, customer.id, before, after)
    return user


def delete_person(session: Session, caller: Caller, customer: Customer, user: User) -> None:
    users.delete_user(session, caller, customer, user)  # releases the unit of its package


def find_by_email(session: Session, customer: Customer, email: str) -> User | None:
    return session.scalar(select(User).where(User.customer_id == customer.id,
                                             User.email_key == email.strip().lower()))


def user_by_id(session: Session, customer: Customer, user_id: str) -> User | None:
    return session.scalar(select(User).where(User.customer_id == customer.id, User.id == user_id))
