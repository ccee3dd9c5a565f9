"""R12: while directory sync is on for an organisation, its users come from the directory, which owns their
names, display name, e-mail, title, department, manager and language; packages and calling data may still be
set by hand, CSV or API. The directory's own writes (SCIM) are exempt. Kept apart from ``service.py`` so that
``users.service`` can ask it without an import cycle."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from rtmhub.db import DriverStatement
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.directory.sync_models import DirectorySync
from rtmhub.domain.users.schemas import UserFields
from rtmhub.errors import Forbidden, ValidationFailed, msg

DIRECTORY_ROLE = "directory"  # the role of an organisation's directory account (never signs in)
OWNED_FIELDS = ("email", "first_name", "last_name", "display_name", "title", "department", "manager", "language")
OWNED_LABELS = {"email": "email", "first_name": "firstName", "last_name": "lastName", "display_name": "displayName",
                "title": "title", "department": "department", "manager": "manager", "language": "preferredLanguage"}


_SYNCS = cast(Table, DirectorySync.__table__).c
# Built once and run on the driver's connection: every new user asks, and SQLAlchemy's execution of a one-value
# query cost more than the query (decision 57).
_SYNC_ENABLED = DriverStatement(select(_SYNCS.enabled).where(_SYNCS.customer_id == bindparam("customer_id")))


def sync_enabled(session: Session, customer_id: str) -> bool:
    """Whether the organisation's users come from its directory."""
    rows = _SYNC_ENABLED.rows(session, {"customer_id": customer_id}, flush=True)  # a sync set up just now counts
    return bool(rows and rows[0][0])


def is_directory(caller: Caller) -> bool:
    """The directory's own caller: its account's tokens, or any token on the SCIM endpoints (``caller.directory``)."""
    return caller.role == DIRECTORY_ROLE or caller.directory


def directory_owned_changes(before: dict[str, Any] | None, target: dict[str, Any]) -> list[str]:
    """The directory-owned fields whose value ``target`` changes from ``before`` (a user snapshot; None: a
    new user, whose every owned field comes from the directory). Blank equals None; e-mails and languages
    compare case-insensitively."""
    changed = []
    for name in OWNED_FIELDS:
        if name not in target:
            continue
        if before is None or _comparable(name, target[name]) != _comparable(name, before.get(name)):
            changed.append(name)
    return changed


def _comparable(name: str, value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        if name in ("email", "language"):
            value = value.casefold().replace("-", "_")
    return value or None


def owned_message(fields: Sequence[str], labels: dict[str, str] | None = None) -> str:
    """The refusal, naming the fields (``labels``: a face's own names for them, e.g. CSV headers)."""
    names = ", ".join((labels or OWNED_LABELS).get(f, f) for f in fields)
    return msg("Directory synchronisation is on for this organisation: the directory owns {fields}; change "
               "them in the directory.", fields=names)


def creation_refused() -> str:
    return msg("Directory synchronisation is on for this organisation: users come from the directory. Add the "
               "user in the directory; packages and calling data can then be set here.")


def check_create(session: Session, caller: Caller, customer: Customer) -> None:
    """A new user by hand, CSV or API is refused while the organisation's users come from its directory."""
    if not is_directory(caller) and sync_enabled(session, customer.id):
        raise Forbidden(creation_refused())


def check_update(session: Session, caller: Caller, customer: Customer, before: dict[str, Any],
                 fields: UserFields) -> None:
    """A change by hand, CSV or API may set packages and calling data; a directory-owned value that differs
    from the synced one is refused."""
    given = {name: getattr(fields, name) for name in fields.model_fields_set if name in OWNED_FIELDS}
    if not given or is_directory(caller) or not sync_enabled(session, customer.id):
        return
    changed = directory_owned_changes(before, given)
    if changed:
        raise ValidationFailed(owned_message(changed))
