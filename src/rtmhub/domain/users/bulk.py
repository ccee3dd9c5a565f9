"""Bulk user changes for CSV tasks: the rules of ``plan_change`` unchanged, with the organisation's
facts prefetched once per batch and the writes done as a few set-based statements.

A row either passes every check (and its writes are queued) or fails before anything is queued,
so each row stays whole. The allocation is counted in memory from the customer's package rows,
which the batch's transaction holds locked (PostgreSQL ``FOR UPDATE``; SQLite's write lock), so
no other writer can take units between the count and the batch's single UPDATE per package.
If the database still refuses the batch (a concurrent writer took an e-mail or number after the
prefetch), the caller replays the batch row by row.

Simulated (a preview, decision 23): the same lookups and writer with a ``Simulation``, which carries what
earlier batches of the file changed (who holds which e-mail, number and extension; units taken or freed)
from one read transaction to the next; ``flush`` then writes nothing and hands the batch's effects on.
The rules run exactly as for an import: only where their answers are kept differs.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Dialect,
    String,
    Table,
    any_,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from rtmhub.bulk_sql import PLAIN_FROM_ROWS, Prepared, execute_many, prepare_many, run_prepared
from rtmhub.db import utcnow
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.access.service import require_writable
from rtmhub.domain.audit import service as audit
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.customers.models import Customer, CustomerPackage
from rtmhub.domain.locations.models import Location
from rtmhub.domain.packages.models import BASE_LICENCES
from rtmhub.domain.packages.service import allocation_exceeded, missing_package
from rtmhub.domain.usage import service as usage
from rtmhub.domain.usage.schemas import PackageChange
from rtmhub.domain.users import service as users
from rtmhub.domain.users.models import User
from rtmhub.domain.users.schemas import GivenFields, UserFields
from rtmhub.domain.users.service import Lookups, plan_change, snapshot, stored_values
from rtmhub.errors import DomainError
from rtmhub.ids import new_uuid

_USERS = cast(Table, User.__table__)
_CUSTOMER_PACKAGES = cast(Table, CustomerPackage.__table__)
_AUDIT_EVENTS = cast(Table, AuditEvent.__table__)


_PHONE_SPACING = re.compile(r"[\s\-]")


def _phone_key(value: str) -> str:
    return _PHONE_SPACING.sub("", value)


class UserWriter(Protocol):
    """What writes a planned row: ``RowWriter`` (one user at a time) or ``BulkWriter`` (a batch set-wise);
    the CSV planner and a revert hand their plans to either."""

    def create(self, fields: GivenFields) -> Any: ...

    def update(self, user: User, fields: GivenFields,
               calling_data_given: bool | None) -> tuple[dict[str, Any], dict[str, Any]]: ...

    def delete(self, user: User) -> None: ...


class RowWriter:
    """The single-user services, row by row (each row inside the caller's SAVEPOINT): units through
    packages take/release, one audit event per change."""

    def __init__(self, session: Session, caller: Caller, customer: Customer):
        self.session, self.caller, self.customer = session, caller, customer

    def create(self, fields: GivenFields) -> User:
        return users.create_user(self.session, self.caller, self.customer, _model(fields))

    def update(self, user: User, fields: GivenFields,
               calling_data_given: bool | None) -> tuple[dict[str, Any], dict[str, Any]]:
        before = snapshot(user)
        users.update_user(self.session, self.caller, self.customer, user, _model(fields),
                          calling_data_given=calling_data_given)
        return before, snapshot(user)

    def delete(self, user: User) -> None:
        users.delete_user(self.session, self.caller, self.customer, user)


def _model(fields: GivenFields) -> UserFields:
    """The single-user services take the model: a mapping becomes one, with exactly its fields given."""
    return fields if isinstance(fields, UserFields) else UserFields(**fields)


@dataclass
class Simulation:
    """What the simulated batches of one file changed so far, as a rolled-back transaction would hold it:
    the owner (None: freed) of each e-mail key, number and (location, extension) the file's rows took or
    freed, and the units each package gained or lost. Later batches answer from it before the database."""

    emails: dict[str, str | None] = field(default_factory=dict)
    phones: dict[str, str | None] = field(default_factory=dict)
    extensions: dict[tuple[str, str], str | None] = field(default_factory=dict)
    delta: Counter[str] = field(default_factory=Counter)
    # The packages' (used, allocation) as the first batch read them, kept for every later batch when
    # ``freeze_units``: planned ahead of a writer that commits each batch (jobs/ahead.py, decision 64), a later
    # batch would otherwise count the units of the batches already written twice, in ``used`` and in ``delta``.
    freeze_units: bool = False
    units: dict[str, tuple[int, int | None]] | None = None

    def used(self, allocations: dict[str, Any]) -> dict[str, Any]:
        """An allocation snapshot (``{package: {"used", "allocation"}}``) with the simulated units."""
        return {p: {**v, "used": v["used"] + self.delta.get(p, 0)} for p, v in allocations.items()}


class BatchLookups(Lookups):
    """Answers from a batch's prefetch, kept current as the batch's rows are applied; anything not
    prefetched (e.g. a value the rules normalised differently) is asked of the database. With a
    ``simulation``, what earlier simulated batches changed comes first."""

    def __init__(self, session: Session, customer: Customer, simulation: Simulation | None = None):
        super().__init__(session, customer)
        self.simulation = simulation
        self.emails: dict[str, str] = {}
        self.phones: dict[str, str] = {}
        self.extensions: dict[tuple[str, str], str] = {}
        self._known_emails: set[str] = set()
        self._known_phones: set[str] = set()
        self._known_extensions: set[str] = set()

    def prefetch(self, emails: Iterable[str], phones: Iterable[str], extensions: Iterable[str]) -> dict[str, User]:
        """Loads the batch's users by e-mail (any organisation) and who holds its numbers and extensions."""
        kind = _list_kind(self.session.get_bind().dialect)
        if kind == "array":
            # A long import or preview grows `users` inside its own transaction, where the planner's
            # statistics cannot follow, and it then scans the table for every batch. These look-ups are
            # all unique-index probes: say so for this transaction.
            self.session.execute(text("SET LOCAL enable_seqscan = off"))
        keys = {e.strip().lower() for e in emails if e and e.strip()}
        users: dict[str, User] = {}
        if keys:
            for user in self.session.scalars(_USERS_BY_KEY[kind], {"values": _listed(kind, keys)}):
                users[user.email_key] = user
                self.emails[user.email_key] = user.id
        self._known_emails |= keys
        numbers = {_phone_key(p) for p in phones if p and p.strip()}
        numbers |= {"+" + n for n in numbers if not n.startswith("+")}
        if numbers:
            for uid, number in self.session.execute(_PHONE_HOLDERS[kind], {"values": _listed(kind, numbers)}):
                if number is not None:  # always, by the IN; said for the type checker
                    self.phones[number] = uid
        self._known_phones |= numbers
        exts = {x.strip() for x in extensions if x and x.strip()}
        if exts:
            # By (location, extension) lists: the unique index, not a scan of the customer's users.
            locations = list(self.session.scalars(_CUSTOMER_LOCATIONS, {"customer_id": self.customer.id}))
            for uid, loc, ext in self.session.execute(_EXTENSION_HOLDERS[kind], {
                    "locations": _listed(kind, locations), "values": _listed(kind, exts)}):
                if loc is not None and ext is not None:  # always, by the INs; said for the type checker
                    self.extensions[(loc, ext)] = uid
        self._known_extensions |= exts
        return users

    def email_owner(self, key: str) -> str | None:
        if self.simulation is not None and key in self.simulation.emails:
            return self.simulation.emails[key]
        return self.emails.get(key) if key in self._known_emails else super().email_owner(key)

    def phone_owner(self, number: str) -> str | None:
        if self.simulation is not None and number in self.simulation.phones:
            return self.simulation.phones[number]
        return self.phones.get(number) if number in self._known_phones else super().phone_owner(number)

    def extension_owner(self, location_id: str, extension: str) -> str | None:
        if self.simulation is not None and (location_id, extension) in self.simulation.extensions:
            return self.simulation.extensions[(location_id, extension)]
        if extension in self._known_extensions:
            return self.extensions.get((location_id, extension))
        return super().extension_owner(location_id, extension)

    def moved(self, user_id: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        """Record that ``user_id`` now holds ``after``'s values and no longer ``before``'s."""
        sim = self.simulation
        for state, owner in ((before, None), (after, user_id)):
            if not state:
                continue
            if state["email"]:
                key = state["email"].lower()
                self._set(self.emails, self._known_emails, key, key, owner)
                if sim is not None:
                    sim.emails[key] = owner
            if state["phone_number"]:
                self._set(self.phones, self._known_phones, state["phone_number"], state["phone_number"], owner)
                if sim is not None:
                    sim.phones[state["phone_number"]] = owner
            if state["extension"] and state["location_id"]:
                slot = (state["location_id"], state["extension"])
                self._set(self.extensions, self._known_extensions, slot, state["extension"], owner)
                if sim is not None:
                    sim.extensions[slot] = owner

    @staticmethod
    def _set(mapping: dict, known: set, key: Any, known_key: str, owner: str | None) -> None:
        known.add(known_key)
        if owner is None:
            mapping.pop(key, None)
        else:
            mapping[key] = owner


def _one_of(column: Any, name: str, kind: str) -> ColumnElement[bool]:
    """``column`` is one of the list bound as ``name``: on PostgreSQL ``column = ANY(array)``; on SQLite
    ``column IN (SELECT value FROM json_each(list))``; both planned as the same unique-index probes as an
    ``IN`` list. An SQLite without its JSON functions takes an ``IN`` list, expanded at each execution."""
    if kind == "array":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    if kind == "json":
        listed = func.json_each(bindparam(name, type_=String())).table_valued("value")
        return column.in_(select(listed.c.value))
    return column.in_(bindparam(name, expanding=True))


# A batch's look-ups, built once per way of binding a list: each list of values is one parameter, so a
# batch's hundreds of values are neither rendered into the SQL nor cast one by one, and every batch runs the
# same statements.
_LIST_KINDS = ("array", "json", "in")
_USERS_BY_KEY = {kind: select(User).where(_one_of(User.email_key, "values", kind)) for kind in _LIST_KINDS}
_PHONE_HOLDERS = {kind: select(User.id, User.phone_number).where(_one_of(User.phone_number, "values", kind))
                  for kind in _LIST_KINDS}
_EXTENSION_HOLDERS = {kind: select(User.id, User.location_id, User.extension).where(
    _one_of(User.location_id, "locations", kind), _one_of(User.extension, "values", kind)) for kind in _LIST_KINDS}
_CUSTOMER_LOCATIONS = select(Location.id).where(Location.customer_id == bindparam("customer_id"))


def _list_kind(dialect: Dialect) -> str:
    if dialect.name == "postgresql":
        return "array"
    # JSON functions are part of every SQLite from 3.38 on (earlier, only of builds that chose them).
    version = getattr(dialect.dbapi, "sqlite_version_info", (0,))
    return "json" if dialect.name == "sqlite" and version >= (3, 38) else "in"


def _listed(kind: str, values: Iterable[str]) -> Any:
    """``values`` as the one parameter of a list of that kind."""
    return json.dumps(list(values)) if kind == "json" else list(values)


@dataclass
class BatchWrites:
    """What a batch writes, in the order ``write`` writes it: kept by a ``BulkWriter`` that records (a batch
    planned in one process and written by another, jobs/ahead.py, decision 64) or written at once by
    ``BulkWriter.flush``."""

    customer_id: str
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    package_changes: list[PackageChange] = field(default_factory=list)
    taken: Counter[str] = field(default_factory=Counter)  # units each package gained (or, negative, lost)
    # The inserts and audit events already converted for the DBAPI (``prepare``), in place of the dicts.
    prepared: dict[str, Prepared] = field(default_factory=dict)

    def prepare(self, dialect: Dialect) -> None:
        """Convert the new users and the audit events for the DBAPI now: in the process that planned the batch,
        so that the one that writes it only runs the statements (decision 64)."""
        for name, table in (("inserts", _USERS), ("audits", _AUDIT_EVENTS)):
            rows = getattr(self, name)
            if len(rows) >= PLAIN_FROM_ROWS and (prepared := prepare_many(dialect, insert(table), rows)) is not None:
                self.prepared[name] = prepared
                setattr(self, name, [])

    def write(self, session: Session) -> None:
        if self.deletes:
            session.execute(delete(_USERS).where(_USERS.c.id.in_(self.deletes)))
        if self.updates:
            execute_many(session, update(_USERS).where(_USERS.c.id == bindparam("_id")), self.updates)
        if "inserts" in self.prepared:
            run_prepared(session, self.prepared["inserts"])
        elif self.inserts:
            execute_many(session, insert(_USERS), self.inserts)
        for package, delta in self.taken.items():
            if delta:
                session.execute(update(_CUSTOMER_PACKAGES)
                                .where(CustomerPackage.customer_id == self.customer_id,
                                       CustomerPackage.package == package)
                                .values(used=CustomerPackage.used + delta))
        if "audits" in self.prepared:
            run_prepared(session, self.prepared["audits"])
        elif self.audits:
            execute_many(session, insert(_AUDIT_EVENTS), self.audits)
        # The batch's package changes enter the ledger in its transaction, set-wise, at one instant.
        usage.record_user_packages(session, self.package_changes, utcnow())
        session.expire_all()


class BulkWriter:
    """Queues checked user changes and writes them with one statement per kind at ``flush``.

    The values written and the audit events come from the same builders as the single-user path
    (``users.stored_values``, ``audit.event``); only the unit count differs (in memory, against the
    locked package rows, instead of one conditional UPDATE per change: decision 12)."""

    def __init__(self, session: Session, caller: Caller, customer: Customer, lookups: BatchLookups, *,
                 record: bool = False):
        self.session, self.caller, self.customer, self.lookups = session, caller, customer, lookups
        self.simulation = lookups.simulation
        # Simulated and recording: the batch's rows, audit events and ledger changes are built as for a write
        # and kept (``flush`` returns them) for a writer that has not yet written the batches before it.
        self.record = record and self.simulation is not None
        # R53 once per batch, as create_user/update_user/delete_user check it per row: a sub-partner
        # suspended while a task runs stops the task's next batch exactly as it would stop a row.
        self._refusal = _refusal(session, caller, customer.partner_id, deleting=False)
        self._delete_refusal = _refusal(session, caller, customer.partner_id, deleting=True)
        stmt = select(CustomerPackage.package, CustomerPackage.used, CustomerPackage.allocation).where(
            CustomerPackage.customer_id == customer.id, CustomerPackage.package.not_in(BASE_LICENCES))
        if session.get_bind().dialect.name == "postgresql" and self.simulation is None:
            stmt = stmt.with_for_update()
        sim = self.simulation
        if sim is not None and sim.units is not None:
            self.units = sim.units
        else:
            self.units = {p: (used, allocation) for p, used, allocation in session.execute(stmt)}
            if sim is not None and sim.freeze_units:
                sim.units = self.units
        # Simulated, the units earlier batches took or freed count too (they are in no row yet).
        self.delta: Counter[str] = Counter(sim.delta) if sim is not None else Counter()
        self.writes = BatchWrites(customer.id)
        self.inserts, self.updates, self.deletes = self.writes.inserts, self.writes.updates, self.writes.deletes
        self.audits, self.package_changes = self.writes.audits, self.writes.package_changes

    def create(self, fields: GivenFields) -> dict[str, Any]:
        _raise(self._refusal)
        user_id = new_uuid()
        target = plan_change(self.customer, user_id, self.customer.org_id, None, fields, self.lookups)
        self._move_unit(None, target["package"])
        self.lookups.moved(user_id, None, target)
        if self.simulation is not None and not self.record:
            return target  # simulated: the row, its ledger change and its audit event would be written by no one
        self._package_change(user_id, target["email"], None, target["package"])
        now = utcnow()
        row = stored_values(target, None, None, now)
        row.update(id=user_id, customer_id=self.customer.id, home_org_id=self.customer.org_id, status="provisioned",
                   created=now)
        self.inserts.append(row)
        self._audit("user.create", user_id, None, {**target, "status": "provisioned"})
        return target

    def update(self, user: User, fields: GivenFields,
               calling_data_given: bool | None) -> tuple[dict[str, Any], dict[str, Any]]:
        _raise(self._refusal)
        before = snapshot(user)
        target = plan_change(self.customer, user.id, user.home_org_id, before, fields, self.lookups,
                             calling_data_given)
        if target == before:
            return before, target
        self._move_unit(before["package"], target["package"])
        self.lookups.moved(user.id, before, target)
        if self.simulation is not None and not self.record:
            return before, target
        self._package_change(user.id, target["email"], before["package"], target["package"])
        row = stored_values(target, before, user.package_assigned, utcnow())
        row["_id"] = user.id
        self.updates.append(row)
        self._audit("user.update", user.id, before, target)
        return before, target

    def delete(self, user: User) -> None:
        _raise(self._delete_refusal)
        before = snapshot(user)
        self._move_unit(before["package"], None)
        self.lookups.moved(user.id, before, None)
        if self.simulation is not None and not self.record:
            return
        self._package_change(user.id, before["email"], before["package"], None)
        self.deletes.append(user.id)
        self._audit("user.delete", user.id, before, None)

    def _move_unit(self, old: str | None, new: str | None) -> None:
        if old == new:
            return
        if new is not None:
            if new not in self.units:
                raise missing_package(new)
            used, allocation = self.units[new]
            if allocation is not None and used + self.delta[new] >= allocation:
                raise allocation_exceeded(new, used + self.delta[new], allocation)
            self.delta[new] += 1
            self.writes.taken[new] += 1
        if old is not None and old in self.units:
            self.delta[old] -= 1
            self.writes.taken[old] -= 1

    def _package_change(self, user_id: str, email: str | None, old: str | None, new: str | None) -> None:
        if old != new:
            self.package_changes.append(users.package_change(user_id, email, self.customer, old, new))

    def _audit(self, action: str, user_id: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        self.audits.append(audit.event(self.caller, action, "user", user_id, self.customer.id, before, after,
                                       partner_id=self.customer.partner_id))

    def flush(self) -> BatchWrites | None:
        """Write the batch; simulated, hand its effects on to the next batch instead (the lookups already
        recorded who holds what) and, recording, return what it would write."""
        if self.simulation is not None:
            self.simulation.delta = self.delta
            return self.writes if self.record else None
        self.writes.write(self.session)
        return None


def _refusal(session: Session, caller: Caller, partner_id: str, *, deleting: bool) -> DomainError | None:
    try:
        require_writable(session, caller, partner_id, deleting=deleting)
    except DomainError as exc:
        return exc
    return None


def _raise(refusal: DomainError | None) -> None:
    if refusal is not None:
        raise refusal.with_traceback(None)  # the batch's one answer, given to each of its rows
