"""The audit log: one event per change, written in the change's own transaction, and read back through
the caller's scope, filtered and paged, with each event's difference in words (decision 29)."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Select, Table, and_, func, insert, or_, select
from sqlalchemy.orm import Session

from rtmhub.db import DriverStatement, utcnow
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.audit.schemas import AuditFilter, Change
from rtmhub.domain.packages.models import PACKAGES, display_name
from rtmhub.errors import FieldProblems, Message, msg
from rtmhub.ids import new_uuid

if TYPE_CHECKING:
    from rtmhub.domain.access.schemas import Caller

# On the driver's connection: SQLAlchemy's execution of a one-row INSERT cost more than the row (decision 57).
_INSERT_EVENT = DriverStatement(insert(cast(Table, AuditEvent.__table__)))
SUBJECT_KEYS = ("email", "admin", "name", "file")
MAX_TEXT_FILTER = 161


def subject_of(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str | None:
    """Who or what an event is about in words: a user's or admin's e-mail, a name, a file name."""
    for snapshot in (after, before):
        if isinstance(snapshot, dict):
            for key in SUBJECT_KEYS:
                value = snapshot.get(key)
                if isinstance(value, str) and value:
                    return value[:255]
    return None


def event(caller: Caller, action: str, entity_type: str, entity_id: str, customer_id: str | None,
          before: dict[str, Any] | None, after: dict[str, Any] | None, *,
          partner_id: str | None = None) -> dict[str, Any]:
    """The column values of one audit event: the one builder behind ``record`` and the set-wise
    inserts of a bulk import (decision 12), so both paths log a change the same way. ``partner_id`` is
    the partner whose tree the event belongs to (the customer's partner for a customer's event)."""
    return {"id": new_uuid(), "at": utcnow(), "actor": caller.actor, "action": action, "entity_type": entity_type,
            "entity_id": entity_id, "customer_id": customer_id, "partner_id": partner_id,
            "subject": subject_of(before, after), "before": before, "after": after,
            "request_id": caller.request_id}


def record(session: Session, caller: Caller, action: str, entity_type: str, entity_id: str,
           customer_id: str | None, before: dict[str, Any] | None, after: dict[str, Any] | None, *,
           partner_id: str | None = None) -> None:
    """Written in the caller's transaction, so an event exists exactly when its change does. The event's
    partner is found here unless given (give it when the customer row is already deleted).

    INSERTed at once as a prebuilt statement on the session's connection: an ORM object for it cost more to
    flush at commit than the row costs to write. Without ``session.execute``'s autoflush: the caller's pending
    changes are still written (and refused) by the caller's own flush."""
    if partner_id is None:
        partner_id = _partner_of(session, entity_type, entity_id, customer_id)
    _INSERT_EVENT.execute(session, event(caller, action, entity_type, entity_id, customer_id, before, after,
                                         partner_id=partner_id))


def _partner_of(session: Session, entity_type: str, entity_id: str, customer_id: str | None) -> str | None:
    # The models are imported here: access.service and partners.service record through this module.
    from rtmhub.domain.access.models import AdminAccount, ApiToken
    from rtmhub.domain.customers.models import Customer
    from rtmhub.domain.partners.models import OnboardingTemplate

    if customer_id is not None:
        customer = session.get(Customer, customer_id)
        return customer.partner_id if customer is not None else None
    if entity_type == "partner":
        return entity_id
    if entity_type == "template":
        template = session.get(OnboardingTemplate, entity_id)
        return template.partner_id if template is not None else None
    if entity_type == "token":
        token = session.get(ApiToken, entity_id)
        entity_id = token.admin_id if token is not None else ""
        entity_type = "admin"
    if entity_type == "admin":
        account = session.get(AdminAccount, entity_id)
        return account.partner_id if account is not None else None
    return None


def recent_events(session: Session, caller: Caller, customer_id: str, limit: int = 15) -> list[AuditEvent]:
    """A customer's newest audit events, if the caller reaches the customer (unknown and foreign: 404)."""
    return list_events(session, caller, AuditFilter(), customer_id=customer_id, limit=limit)


# --- reading the log -------------------------------------------------------------------------

_ACTION = re.compile(r"^[a-z_]{1,40}(\.([a-z_]{1,40}|\*))?$")


def parse_filter(*, since: str | None = None, until: str | None = None, actor: str | None = None,
                 action: str | None = None, email: str | None = None, tz: tzinfo = UTC,
                 names: tuple[str, str] = ("from", "to")) -> AuditFilter:
    """A filter from what a person or script typed; every problem is reported at once (400). ``since``
    and ``until`` are dates (YYYY-MM-DD, in ``tz``; ``until`` includes its whole day) or ISO 8601 times;
    ``names`` are what the face calls them, for the messages."""
    problems = FieldProblems()
    start = _bound(problems, names[0], since, tz, end=False)
    stop = _bound(problems, names[1], until, tz, end=True)
    if start is not None and stop is not None and start >= stop:
        problems.add(names[1], msg("'{to}' must be later than '{start}'.", to=names[1], start=names[0]))
    texts = {}
    for name, value in (("actor", actor), ("email", email)):
        value = (value or "").strip()
        if len(value) > MAX_TEXT_FILTER or not value.isprintable():
            problems.add(name, msg("'{name}' is at most {n} printable characters.", name=name, n=MAX_TEXT_FILTER))
        texts[name] = value or None
    action = (action or "").strip().lower() or None
    if action is not None and not _ACTION.match(action):
        problems.add("action", msg("'{value}' is not an action; write it as kind.verb (for example user.update) "
                                   "or a kind alone (user) for all of its actions.", value=action[:60]))
    problems.raise_if_any()
    return AuditFilter(since=start, until=stop, actor=texts["actor"], action=action, email=texts["email"])


def _bound(problems: FieldProblems, name: str, value: str | None, tz: tzinfo, *, end: bool) -> datetime | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1) if end else day, time(), tzinfo=tz).astimezone(UTC)
        moment = datetime.fromisoformat(text[:40])
        return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).astimezone(UTC)
    except (ValueError, OverflowError):
        problems.add(name, msg("'{name}': '{value}' is not a date; write it as YYYY-MM-DD (or a time such as "
                               "2026-11-26T10:00:00Z).", name=name, value=text[:40]))
        return None


def scope_events(stmt: Select, caller: Caller) -> Select:
    """Limit a query on AuditEvent to what the caller reaches: the operator everything; a partner
    administrator the events of its partner tree (its customers' and its own partner-level events); a
    customer administrator its customer's events only."""
    if caller.system:
        return stmt
    if caller.customer_id and not caller.is_partner:
        return stmt.where(AuditEvent.customer_id == caller.customer_id)
    return stmt.where(AuditEvent.partner_id.in_(caller.partner_ids))


def _query(session: Session, caller: Caller, flt: AuditFilter, customer_id: str | None,
           partner_ids: tuple[str, ...] | None) -> Select:
    from rtmhub.domain.access.service import get_customer

    stmt = select(AuditEvent)
    if customer_id is not None:
        customer = get_customer(session, caller, customer_id)  # unknown and foreign: the same 404
        stmt = stmt.where(AuditEvent.customer_id == customer.id)
    else:
        stmt = scope_events(stmt, caller)
    if partner_ids is not None:
        stmt = stmt.where(AuditEvent.partner_id.in_(partner_ids))
    if flt.since is not None:
        stmt = stmt.where(AuditEvent.at >= flt.since)
    if flt.until is not None:
        stmt = stmt.where(AuditEvent.at < flt.until)
    if flt.actor:
        stmt = stmt.where(func.lower(AuditEvent.actor).contains(flt.actor.lower(), autoescape=True))
    if flt.email:
        stmt = stmt.where(func.lower(AuditEvent.subject).contains(flt.email.lower(), autoescape=True))
    if flt.action:
        kind, _, verb = flt.action.partition(".")
        if verb and verb != "*":
            stmt = stmt.where(AuditEvent.action == flt.action)
        else:
            stmt = stmt.where(AuditEvent.action.startswith(kind + ".", autoescape=True))
    return stmt


def list_events(session: Session, caller: Caller, flt: AuditFilter, *, customer_id: str | None = None,
                partner_ids: tuple[str, ...] | None = None, offset: int = 0, limit: int = 100) -> list[AuditEvent]:
    """Events newest first: one customer's (``customer_id``, raw; unknown and foreign: 404) or everything
    the caller reaches (``scope_events``), narrowed by ``flt`` and, with ``partner_ids`` (a partner tree
    the caller reaches, from ``access.partner_tree``), to those partners' events."""
    stmt = _query(session, caller, flt, customer_id, partner_ids)
    return list(session.scalars(stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                                .offset(offset).limit(limit)))


def events_after(session: Session, caller: Caller, flt: AuditFilter, *, customer_id: str | None = None,
                 partner_ids: tuple[str, ...] | None = None, after: tuple[datetime, str] | None = None,
                 limit: int = 1000) -> list[AuditEvent]:
    """The next ``limit`` events after ``after`` (the last one's time and id), newest first: for reading
    the whole filtered log in chunks (the CSV export) without offsets."""
    stmt = _query(session, caller, flt, customer_id, partner_ids)
    if after is not None:
        at, event_id = after
        stmt = stmt.where(or_(AuditEvent.at < at, and_(AuditEvent.at == at, AuditEvent.id < event_id)))
    return list(session.scalars(stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)))


def location_names(session: Session, events: Iterable[AuditEvent]) -> dict[str, str]:
    """Names of the locations the events' users were in, so a difference says "Helsinki HQ", not an id.
    Only locations of the events' own customers are read."""
    from rtmhub.domain.locations.models import Location

    wanted: set[tuple[str, str]] = set()
    for e in events:
        for snapshot in (e.before, e.after):
            if e.customer_id and isinstance(snapshot, dict) and isinstance(snapshot.get("location_id"), str):
                wanted.add((e.customer_id, snapshot["location_id"]))
    if not wanted:
        return {}
    rows = session.execute(select(Location.id, Location.name, Location.customer_id)
                           .where(Location.id.in_({i for _, i in wanted})))
    return {i: n for i, n, c in rows if (c, i) in wanted}


# --- an event in words -----------------------------------------------------------------------

ACTIONS: dict[str, Message] = {
    "user.create": msg("User added"), "user.update": msg("User changed"), "user.delete": msg("User deleted"),
    "location.create": msg("Location added"), "location.update": msg("Location changed"),
    "location.delete": msg("Location deleted"),
    "task.create": msg("Task created"), "task.cancel": msg("Task cancelled"), "task.delete": msg("Task deleted"),
    "customer.provision": msg("Customer onboarded"), "customer.update": msg("Customer packages changed"),
    "customer.allocation": msg("Allocation changed"), "customer.delete": msg("Customer deleted"),
    "customer.settings": msg("Organisation settings changed"),
    "admin.create": msg("Administrator added"), "admin.password": msg("Administrator password set"),
    "admin.delete": msg("Administrator deleted"), "admin.link": msg("Set-password link created"),
    "token.create": msg("API token created"), "token.revoke": msg("API token revoked"),
    "partner.create": msg("Partner created"), "partner.suspend": msg("Sub-partner suspended"),
    "partner.activate": msg("Sub-partner activated"),
    "template.create": msg("Onboarding template created"),
    "group.create": msg("Directory group added"), "group.update": msg("Directory group changed"),
    "group.delete": msg("Directory group deleted"), "directory.enable": msg("Directory sync turned on"),
    "directory.disable": msg("Directory sync turned off"), "directory.map": msg("Group mapped to a package"),
    "directory.unmap": msg("Group mapping removed"),
    "report.create": msg("Billing report created"), "report.delete": msg("Billing report deleted"),
}

FIELDS: dict[str, Message] = {
    "email": msg("E-mail"), "first_name": msg("First name"), "last_name": msg("Last name"),
    "display_name": msg("Display name"), "package": msg("Package"), "extension": msg("Extension"),
    "phone_number": msg("Phone number"), "caller_id_number": msg("Caller ID number"),
    "caller_id_first_name": msg("Caller ID first name"), "caller_id_last_name": msg("Caller ID last name"),
    "location_id": msg("Location"), "preferred_site_url": msg("Preferred Webex site"),
    "jabber_calling": msg("Jabber calling"), "jabber_with_teams": msg("Jabber with Teams"), "title": msg("Title"),
    "department": msg("Department"), "manager": msg("Manager"), "language": msg("Language"),
    "timezone": msg("Time zone"), "status": msg("Status"), "name": msg("Name"), "address1": msg("Address"),
    "city": msg("City"), "country": msg("Country"), "timeZone": msg("Time zone"),
    "preferredLanguage": msg("Language"), "externalId": msg("External id"), "packages": msg("Packages"),
    "preferredSite": msg("Preferred Webex site"), "role": msg("Role"), "partnerId": msg("Partner"),
    "customerId": msg("Customer"), "admin": msg("Administrator"), "scopes": msg("Scopes"),
    "expires": msg("Expires"), "parentId": msg("Parent partner"), "state": msg("State"),
    "subscriptionId": msg("Subscription id"), "billingStartDate": msg("Billing start date"),
    "provisioningId": msg("Provisioning id"), "type": msg("Type"), "mode": msg("Mode"), "file": msg("File"),
    "columns": msg("Columns"), "previewOf": msg("Preview"), "reverts": msg("Reverts task"),
    "billingEndDate": msg("Billing end date"), "subPartner": msg("Sub-partner"), "internal": msg("Internal orgs"),
}
YES, NO, UNLIMITED = msg("yes"), msg("no"), msg("unlimited")

# What a created or deleted object is listed by (other fields: only in a change).
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "user": ("email", "display_name", "first_name", "last_name", "package", "phone_number", "extension",
             "location_id"),
    "admin": ("email", "role"),
    "partner": ("name", "state", "subscriptionId"),
}


def describe(e: AuditEvent) -> Message:
    """The action in words ("User changed"); an action this version does not know keeps its code."""
    return ACTIONS.get(e.action) or Message(e.action)


def _label(key: str) -> Message:
    if key in FIELDS:
        return FIELDS[key]
    if key in PACKAGES:
        return Message(display_name(key))  # a base licence flag: the product's name
    return Message(key)


def _value(key: str, value: Any, names: Mapping[str, str]) -> str | None:
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, bool):
        return YES if value else NO
    if key == "package" and isinstance(value, str):
        return display_name(value)
    if key == "location_id" and isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{display_name(k)} {UNLIMITED if v is None else v}" for k, v in value.items())
    return str(value)


def changes(e: AuditEvent, names: Mapping[str, str] | None = None) -> list[Change]:
    """The event's field-level difference: for a change every field whose value differs (a customer's
    package allocations one package at a time); for a creation or deletion the object's key fields
    (every field with a value for kinds without a key list). ``names``: location names by id."""
    names = names or {}
    before, after = e.before or {}, e.after or {}
    if e.before is not None and e.after is not None:
        found: list[Change] = []
        for key in dict.fromkeys([*after, *before]):
            old, new = before.get(key), after.get(key)
            if old == new:
                continue
            if key == "packages" and isinstance(old, dict) and isinstance(new, dict):
                for package in dict.fromkeys([*new, *old]):
                    if old.get(package, "-") != new.get(package, "-"):
                        found.append(Change(f"packages.{package}", msg("{package} allocation",
                                                                      package=display_name(package)),
                                            _allocation(old, package), _allocation(new, package)))
                continue
            found.append(Change(key, _label(key), _value(key, old, names), _value(key, new, names)))
        return found
    snapshot = e.after if e.after is not None else e.before
    if not snapshot:
        return []
    keys = KEY_FIELDS.get(e.entity_type) or tuple(snapshot)
    listed = []
    for key in keys:
        raw = snapshot.get(key)
        if key == "packages" and isinstance(raw, dict):
            values = [(f"packages.{p}", msg("{package} allocation", package=display_name(p)), _allocation(raw, p))
                      for p in raw]
        else:
            values = [(key, _label(key), _value(key, raw, names))]
        for field, label, value in values:
            if value is not None:
                listed.append(Change(field, label, None if e.after is not None else value,
                                     value if e.after is not None else None))
    return listed


def _allocation(allocations: dict[str, Any], package: str) -> str | None:
    if package not in allocations:
        return None
    value = allocations[package]
    return UNLIMITED if value is None else str(value)


def change_text(e: AuditEvent, found: list[Change]) -> str:
    """The difference as one English line: "Display name: Anna A → Anna B; Package: … → …" for a change,
    "E-mail: anna@example.com; Package: Webex Meetings" for a creation or deletion."""
    if e.before is not None and e.after is not None:
        return "; ".join(f"{c.label}: {c.before or '—'} → {c.after or '—'}" for c in found)
    return "; ".join(f"{c.label}: {c.after or c.before or '—'}" for c in found)
