"""Reverting a task: put every user an import (or a revert) added, modified or deleted back to its state
before that task, from the audit trail, through the same user rules as any change.

The task's user events carry ``request_id`` = the task's id, with full before/after snapshots
(``users.snapshot``). Each user the task touched is one row of the revert, in a fixed order: the users it
added (deleted first: they free units, numbers and extensions), then the users it modified (put back), then
the users it deleted (re-created from their last snapshot, with a new id). A row fails alone when the user
was changed again after the task (its snapshot differs from the task's ``after``, or it was deleted since;
``force`` puts such users back too), when its e-mail is used by another user since, or when a rule refuses
the change (e.g. the package's units have since been taken).

Rows are written like a CSV batch: set-wise through ``users/bulk.BulkWriter`` (or simulated with a
``Simulation``, for a dry run), and one by one through the single-user services inside a SAVEPOINT when the
database still refuses the batch. Every change is audited with the revert task's id as ``request_id``, so a
revert can itself be reverted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.packages.models import display_name
from rtmhub.domain.users import service as users
from rtmhub.domain.users.bulk import BatchLookups, BulkWriter, RowWriter, Simulation, UserWriter
from rtmhub.domain.users.models import User
from rtmhub.domain.users.schemas import UserFields
from rtmhub.errors import AllocationExceeded, DomainError, Message, msg

ADDED, MODIFIED, DELETED = 0, 1, 2  # the order a revert's rows run in
_USER_ACTIONS = ("user.create", "user.update", "user.delete")
_RESTORED = tuple(f for f in users.STORED_FIELDS if f in UserFields.model_fields)


@dataclass
class Touched:
    """One user a task touched: its state before the task's first change and after its last (None: did not
    exist), and its e-mail for the row's result."""

    user_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def email(self) -> str | None:
        return (self.before or self.after or {}).get("email")


@dataclass
class RevertResult:
    """A revert row's outcome, kept like a CSV row's (``task_rows``): add, modify, delete, unchanged or error;
    the changed snapshot fields; messages ``{level, column, message[, template, params]}``."""

    line: int
    email: str | None
    outcome: str = "unchanged"
    changes: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.outcome == "error"

    def error(self, message: str) -> None:
        self.outcome = "error"
        self.messages.append(_stored("error", message))

    def warn(self, message: str) -> None:
        self.messages.append(_stored("warning", message))


def _stored(level: str, message: str) -> dict[str, Any]:
    item: dict[str, Any] = {"level": level, "column": "", "message": str(message)}
    if isinstance(message, Message):
        item.update(message.as_dict())
    return item


# --- what a task touched ---------------------------------------------------------------------

def touched_users(session: Session, task_id: str, customer_id: str) -> list[str]:
    """The ids of the users task ``task_id`` added, modified or deleted, in the order a revert runs them
    (added, modified, deleted; each in the order the task first touched them). A user the task both added and
    deleted left nothing behind and is skipped."""
    first: dict[str, tuple[int, str]] = {}
    last: dict[str, str] = {}
    rows = session.execute(select(AuditEvent.entity_id, AuditEvent.action)
                           .where(AuditEvent.request_id == task_id, AuditEvent.customer_id == customer_id,
                                  AuditEvent.entity_type == "user", AuditEvent.action.in_(_USER_ACTIONS))
                           .order_by(AuditEvent.at, AuditEvent.id))
    for n, (entity_id, action) in enumerate(rows):
        first.setdefault(entity_id, (n, action))
        last[entity_id] = action
    order = []
    for entity_id, (n, action) in first.items():
        added, deleted = action == "user.create", last[entity_id] == "user.delete"
        if added and deleted:
            continue
        order.append((ADDED if added else DELETED if deleted else MODIFIED, n, entity_id))
    return [entity_id for _, _, entity_id in sorted(order)]


def load_touched(session: Session, task_id: str, customer_id: str, user_ids: list[str]) -> list[Touched]:
    """The before/after states of ``user_ids`` around task ``task_id``, in the order given."""
    first_before: dict[str, dict[str, Any] | None] = {}
    last_after: dict[str, dict[str, Any] | None] = {}
    for entity_id, action, before, after in session.execute(
            select(AuditEvent.entity_id, AuditEvent.action, AuditEvent.before, AuditEvent.after)
            .where(AuditEvent.request_id == task_id, AuditEvent.customer_id == customer_id,
                   AuditEvent.entity_type == "user", AuditEvent.entity_id.in_(user_ids),
                   AuditEvent.action.in_(_USER_ACTIONS))
            .order_by(AuditEvent.at, AuditEvent.id)):
        # JSON null and SQL NULL read alike here; the action says which side is empty.
        if entity_id not in first_before:
            first_before[entity_id] = None if action == "user.create" else before
        last_after[entity_id] = None if action == "user.delete" else after
    return [Touched(uid, first_before.get(uid), last_after.get(uid)) for uid in user_ids if uid in first_before]


# --- reverting rows ---------------------------------------------------------------------------



def _fields(state: dict[str, Any]) -> UserFields:
    """Every stored attribute of a snapshot, all given (so each one is set back)."""
    return UserFields(**{f: state.get(f) for f in _RESTORED})


def _differences(current: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    return [f for f in users.SNAPSHOT_FIELDS if current.get(f) != expected.get(f)]


def _api_names(names: list[str]) -> str:
    return ", ".join(n.split("_")[0] + "".join(p.capitalize() for p in n.split("_")[1:]) for n in names)


def _revert_one(session: Session, writer: UserWriter, lookups: users.Lookups, customer: Customer, t: Touched,
                current: User | None, force: bool, result: RevertResult) -> None:
    """Put one user back; raises a DomainError (nothing of the row written) when a rule refuses it."""
    email = t.email or ""
    if t.before is None:  # the task added the user: delete it
        if current is None:
            result.warn(msg("{email} was already deleted after the task; nothing to revert.", email=email))
            return
        changed = _differences(users.snapshot(current), t.after or {})
        if changed and not force:
            result.error(msg("{email} was changed after the task ({fields}); it is left as it is. Revert with force "
                             "to delete it anyway.", email=email, fields=_api_names(changed)))
            return
        writer.delete(current)
        result.outcome = "delete"
        return
    if t.after is not None:  # the task modified the user: put it back
        if current is None:
            if not force:
                result.error(msg("{email} was deleted after the task; it is left deleted. Revert with force to "
                                 "re-create it as it was before the task.", email=email))
                return
        else:
            now = users.snapshot(current)
            if now == t.before:
                return  # already as before the task (e.g. an earlier revert put it back)
            changed = _differences(now, t.after)
            if changed and not force:
                result.error(msg("{email} was changed after the task ({fields}); it is left as it is. Revert with "
                                 "force to put it back anyway.", email=email, fields=_api_names(changed)))
                return
            before, after = writer.update(current, _fields(t.before), True)
            result.changes = _differences(after, before)
            result.outcome = "modify" if result.changes else "unchanged"
            return
    # The task deleted the user (or, forced, it was deleted after the task): re-create it, with a new id.
    owner_id = lookups.email_owner(email.lower()) if email else None
    if owner_id is not None:
        owner = session.get(User, owner_id)
        if owner is not None and owner.customer_id == customer.id and users.snapshot(owner) == t.before:
            return  # already re-created as it was (e.g. by an earlier revert)
        result.error(msg("The e-mail {email} is used by another user since the task; the deleted user cannot be "
                         "re-created.", email=email))
        return
    writer.create(_fields(t.before))
    result.outcome = "add"
    result.changes = [f for f in _RESTORED if t.before.get(f) not in (None, False, "")]


def _refused(result: RevertResult, t: Touched, exc: DomainError) -> None:
    result.outcome, result.changes = "error", []
    for e in exc.errors:
        params = getattr(e.description, "params", {})
        if isinstance(exc, AllocationExceeded) and {"used", "allocation"} <= set(params):
            package = (t.before or {}).get("package")
            result.error(msg("The {package} unit this user held was taken after the task: {used} of {allocation} "
                             "allocated units are assigned. Free a unit or raise the customer's allocation, then "
                             "revert again.", package=display_name(package) if package else "",
                             used=params["used"], allocation=params["allocation"]))
        else:
            result.error(e.description)


def revert_batch(session: Session, caller: Caller, customer: Customer, touched: list[Touched], lines: list[int],
                 force: bool, simulation: Simulation | None = None) -> list[RevertResult]:
    """Revert a batch of users set-wise through ``BulkWriter`` (the CSV import's writer: the same rules, units
    counted under the package rows' lock, one statement per kind). Raises the database's error if it still
    refuses the batch; the caller then replays it with ``revert_row``. With a ``simulation`` nothing is
    written (a dry run)."""
    lookups = BatchLookups(session, customer, simulation)
    states = [s for t in touched for s in (t.before, t.after) if s]
    lookups.prefetch((s.get("email") or "" for s in states), (s.get("phone_number") or "" for s in states),
                     (s.get("extension") or "" for s in states))
    ids = [t.user_id for t in touched]
    current = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids),
                                                                   User.customer_id == customer.id))}
    writer = BulkWriter(session, caller, customer, lookups)
    results = []
    for t, line in zip(touched, lines, strict=True):
        result = RevertResult(line, t.email)
        results.append(result)
        try:
            _revert_one(session, writer, lookups, customer, t, current.get(t.user_id), force, result)
        except DomainError as exc:  # nothing of the row was queued
            _refused(result, t, exc)
    writer.flush()
    return results


def revert_row(session: Session, caller: Caller, customer: Customer, t: Touched, line: int,
               force: bool) -> RevertResult:
    """Revert one user through the single-user services inside a SAVEPOINT: a refused row rolls back alone."""
    result = RevertResult(line, t.email)
    current = session.scalar(select(User).where(User.id == t.user_id, User.customer_id == customer.id))
    savepoint = session.begin_nested()
    try:
        _revert_one(session, RowWriter(session, caller, customer), users.Lookups(session, customer), customer, t,
                    current, force, result)
        savepoint.commit()
    except DomainError as exc:
        savepoint.rollback()
        _refused(result, t, exc)
    return result


__all__ = ["ADDED", "DELETED", "MODIFIED", "RevertResult", "Simulation", "Touched", "load_touched", "revert_batch",
           "revert_row", "touched_users"]
