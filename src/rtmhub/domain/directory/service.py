"""Directory synchronisation of an organisation (issue 10 items 3-5): turning it on and off, the directory's
tokens, the sync event log, group -> package mappings with members waiting for a unit, and R12 (what the
directory owns cannot be changed by hand, CSV or API while sync is on).

Who holds a package because of a mapping is kept in ``DirectoryAssignment`` (state ``granted`` or
``waiting``): only such packages are taken away when the member leaves its mapped groups; users in no
mapped group keep whatever package they have.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from rtmhub.db import utcnow
from rtmhub.domain.access import service as access
from rtmhub.domain.access.models import AdminAccount, ApiToken
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.audit.service import record
from rtmhub.domain.customers.models import Customer, CustomerPackage
from rtmhub.domain.directory.events import (  # noqa: F401 - the sync log, re-exported for the faces
    EVENTS_KEPT,
    EVENTS_SHOWN,
    SyncLog,
    recent_events,
    record_sync_event,
)
from rtmhub.domain.directory.models import DirectoryGroup, DirectoryGroupMember
from rtmhub.domain.directory.ownership import (  # noqa: F401 - R12, re-exported for the faces
    DIRECTORY_ROLE,
    OWNED_FIELDS,
    check_create,
    check_update,
    creation_refused,
    directory_owned_changes,
    is_directory,
    owned_message,
    sync_enabled,
)
from rtmhub.domain.directory.sync_models import DirectoryAssignment, DirectorySync, GroupMapping, SyncEvent
from rtmhub.domain.locations.models import Location
from rtmhub.domain.packages.models import CALLING_PACKAGES, USER_PACKAGES, display_name
from rtmhub.domain.users import service as users
from rtmhub.domain.users.models import User
from rtmhub.domain.users.schemas import UserFields
from rtmhub.errors import AllocationExceeded, Conflict, DomainError, Forbidden, NotFound, ValidationFailed, msg

SCOPE_RW = "identity:people_rw"
SCOPE_READ = "identity:people_read"
SCIM_PATH = "/identity/scim/{org}/v2"
WAIT_FULL = "full"
WAIT_CALLING = "calling_data"
WAIT_REFUSED = "refused"


# --- state ---------------------------------------------------------------------------------

def sync_state(session: Session, customer_id: str) -> DirectorySync | None:
    return session.get(DirectorySync, customer_id)


def scim_base_url(public_base: str, customer: Customer) -> str:
    """The organisation's SCIM base URL: its org UUID is the plain UUID SCIM uses (webex-wholesale-api §1)."""
    return public_base.rstrip("/") + SCIM_PATH.format(org=customer.org_id)


def _directory_account(session: Session, caller: Caller, customer: Customer) -> AdminAccount:
    """The organisation's directory account: an administrator account of role ``directory`` scoped to the
    customer, without password, whose e-mail names the directory in the audit log."""
    state = sync_state(session, customer.id)
    account = session.get(AdminAccount, state.account_id) if state and state.account_id else None
    if account is not None:
        return account
    address = f"directory-sync@{customer.org_id}.scim.invalid"
    account = session.scalar(select(AdminAccount).where(AdminAccount.email_key == address))
    if account is None:
        account = AdminAccount(email=address, email_key=address, role=DIRECTORY_ROLE, partner_id=None,
                               customer_id=customer.id, password_hash=None)
        session.add(account)
        session.flush()
        record(session, caller, "admin.create", "admin", account.id, customer.id, None,
               {"email": address, "role": DIRECTORY_ROLE, "customerId": customer.id})
    return account


def directory_caller(session: Session, customer: Customer) -> Caller:
    """The caller the directory acts as (its account's), for the worker's package grants."""
    state = sync_state(session, customer.id)
    account = session.get(AdminAccount, state.account_id) if state and state.account_id else None
    if account is None:
        return Caller(actor=f"directory-sync ({customer.name})", role=DIRECTORY_ROLE, customer_id=customer.id)
    return access.caller_for_account(session, account, frozenset({SCOPE_RW}))


def _require_manager(caller: Caller) -> None:
    if caller.read_only:
        raise Forbidden("A read-only administrator cannot change anything.")
    if is_directory(caller):
        raise Forbidden("The directory's own token cannot change directory synchronisation.")


def enable(session: Session, caller: Caller, customer_id: str) -> tuple[DirectorySync, bool]:
    """Turn directory sync on (partner full admins, the customer's full admin, the operator); returns the
    state and whether it was off before."""
    _require_manager(caller)
    customer = access.get_customer(session, caller, customer_id, write=True)
    state = sync_state(session, customer.id)
    if state is None:
        state = DirectorySync(customer_id=customer.id, enabled=False)
        session.add(state)
    was_off = not state.enabled
    account = _directory_account(session, caller, customer)
    state.account_id = account.id
    if was_off:
        state.enabled = True
        state.enabled_at = utcnow()
        state.enabled_by = caller.actor
        session.flush()
        record(session, caller, "directory.enable", "customer", customer.id, customer.id, {"enabled": False},
               {"enabled": True})
        record_sync_event(session, customer.id, "enable", None, "ok", None)
    session.flush()
    return state, was_off


def disable(session: Session, caller: Caller, customer_id: str) -> int:
    """Turn directory sync off: the directory's tokens are revoked; the users it synced stay. Returns the
    number of tokens revoked."""
    _require_manager(caller)
    customer = access.get_customer(session, caller, customer_id, write=True)
    state = sync_state(session, customer.id)
    if state is None or not state.enabled:
        raise Conflict(msg("Directory synchronisation is not on for {name}.", name=customer.name))
    state.enabled = False
    revoked = 0
    if state.account_id:
        result = session.execute(update(ApiToken).where(ApiToken.admin_id == state.account_id,
                                                        ApiToken.revoked.is_(None)).values(revoked=utcnow()))
        revoked = int(getattr(result, "rowcount", 0) or 0)
    session.flush()
    record(session, caller, "directory.disable", "customer", customer.id, customer.id, {"enabled": True},
           {"enabled": False, "tokensRevoked": revoked})
    record_sync_event(session, customer.id, "disable", None, "ok", None)
    return revoked


def create_token(session: Session, caller: Caller, customer_id: str, *,
                 read_only: bool = False) -> tuple[ApiToken, str]:
    """A bearer token of the organisation's directory account, limited to it, with scope identity:people_rw
    (``read_only``: identity:people_read). Directory sync must be on. The token is returned once."""
    _require_manager(caller)
    customer = access.get_customer(session, caller, customer_id, write=True)
    state = sync_state(session, customer.id)
    if state is None or not state.enabled:
        raise Conflict(msg("Directory synchronisation is not on for {name}: enable it first.", name=customer.name))
    account = _directory_account(session, caller, customer)
    state.account_id = account.id
    row, token = access.issue_token(session, caller, email=account.email,
                                    scopes=[SCOPE_READ if read_only else SCOPE_RW])
    record_sync_event(session, customer.id, "token.create", None, "ok", row.scopes)
    return row, token


# --- status --------------------------------------------------------------------------------

@dataclass
class WaitingSummary:
    package: str
    count: int
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return display_name(self.package)


@dataclass
class Status:
    customer: Customer
    enabled: bool
    enabled_at: datetime | None
    enabled_by: str | None
    base_url: str
    users_synced: int
    groups_synced: int
    last_change: datetime | None
    last_errors: list[SyncEvent]
    waiting: list[WaitingSummary]
    tokens: int

    def as_json(self) -> dict[str, Any]:
        return {
            "customerId": self.customer.id, "orgId": self.customer.org_id, "enabled": self.enabled,
            "enabledAt": self.enabled_at.isoformat() if self.enabled_at else None, "enabledBy": self.enabled_by,
            "scimBaseUrl": self.base_url, "usersSynced": self.users_synced, "groupsSynced": self.groups_synced,
            "activeTokens": self.tokens,
            "lastChange": self.last_change.isoformat() if self.last_change else None,
            "lastErrors": [{"at": e.at.isoformat(), "operation": e.operation, "user": e.user_email,
                            "reason": e.reason} for e in self.last_errors],
            "waiting": [{"package": w.package, "name": w.name, "users": w.count, "reasons": w.reasons}
                        for w in self.waiting],
        }


def status(session: Session, caller: Caller, customer_id: str, public_base: str) -> Status:
    customer = access.get_customer(session, caller, customer_id)
    state = sync_state(session, customer.id)
    users_synced = session.scalar(select(func.count(func.distinct(SyncEvent.user_email))).where(
        SyncEvent.customer_id == customer.id, SyncEvent.result == "ok", SyncEvent.user_email.is_not(None))) or 0
    groups = session.scalar(select(func.count()).select_from(DirectoryGroup)
                            .where(DirectoryGroup.customer_id == customer.id)) or 0
    last = session.scalar(select(func.max(SyncEvent.at)).where(SyncEvent.customer_id == customer.id))
    errors = list(session.scalars(select(SyncEvent).where(SyncEvent.customer_id == customer.id,
                                                          SyncEvent.result == "error")
                                  .order_by(SyncEvent.at.desc()).limit(5)))
    tokens = 0
    if state is not None and state.account_id:
        tokens = session.scalar(select(func.count()).select_from(ApiToken).where(
            ApiToken.admin_id == state.account_id, ApiToken.revoked.is_(None))) or 0
    return Status(customer, bool(state and state.enabled), state.enabled_at if state else None,
                  state.enabled_by if state else None, scim_base_url(public_base, customer), users_synced, groups,
                  last, errors, waiting_summary(session, customer), tokens)


def waiting_summary(session: Session, customer: Customer) -> list[WaitingSummary]:
    rows = session.execute(select(DirectoryAssignment.package, DirectoryAssignment.reason, func.count())
                           .where(DirectoryAssignment.customer_id == customer.id,
                                  DirectoryAssignment.state == "waiting")
                           .group_by(DirectoryAssignment.package, DirectoryAssignment.reason)).all()
    out: dict[str, WaitingSummary] = {}
    for package, reason, count in rows:
        item = out.setdefault(package, WaitingSummary(package, 0))
        item.count += count
        item.reasons[reason] = count
    return sorted(out.values(), key=lambda w: w.package)


def waiting_members(session: Session, customer: Customer) -> list[tuple[DirectoryAssignment, User]]:
    return list(session.execute(
        select(DirectoryAssignment, User).join(User, User.id == DirectoryAssignment.user_id)
        .where(DirectoryAssignment.customer_id == customer.id, DirectoryAssignment.state == "waiting")
        .order_by(DirectoryAssignment.since, DirectoryAssignment.user_id)).tuples())


# --- group -> package mappings ---------------------------------------------------------------

@dataclass
class MappingView:
    mapping: GroupMapping
    group_name: str
    location_name: str | None
    members: int


def find_group(session: Session, customer: Customer, name: str) -> DirectoryGroup:
    group = session.scalar(select(DirectoryGroup).where(DirectoryGroup.customer_id == customer.id,
                                                        DirectoryGroup.display_key == name.strip().lower()))
    if group is None:
        raise NotFound(msg("The directory has not sent a group named '{name}' to this organisation yet; the "
                           "directory page lists the groups it has sent.", name=name.strip()))
    return group


def list_groups(session: Session, customer: Customer) -> list[DirectoryGroup]:
    return list(session.scalars(select(DirectoryGroup).where(DirectoryGroup.customer_id == customer.id)
                                .order_by(DirectoryGroup.display_key)))


def list_mappings(session: Session, caller: Caller, customer_id: str) -> list[MappingView]:
    customer = access.get_customer(session, caller, customer_id)
    rows = session.execute(
        select(GroupMapping, DirectoryGroup.display_name, Location.name)
        .join(DirectoryGroup, DirectoryGroup.id == GroupMapping.group_id)
        .outerjoin(Location, Location.id == GroupMapping.location_id)
        .where(GroupMapping.customer_id == customer.id)
        .order_by(GroupMapping.priority.desc(), DirectoryGroup.display_key)).tuples().all()
    counts = dict(session.execute(select(DirectoryGroupMember.group_id, func.count())
                                  .where(DirectoryGroupMember.group_id.in_([m.group_id for m, _, _ in rows]))
                                  .group_by(DirectoryGroupMember.group_id)).tuples().all())
    return [MappingView(m, g, loc, counts.get(m.group_id, 0)) for m, g, loc in rows]


def map_group(session: Session, caller: Caller, customer_id: str, *, group: str, package: str,
              location: str | None = None, priority: int = 0) -> GroupMapping:
    """Members of ``group`` (its display name) get ``package``; a calling package needs ``location`` (a
    location name or id of the organisation). Mapping a group again replaces its mapping. The members are
    reconciled at once, in this transaction."""
    _require_manager(caller)
    customer = access.get_customer(session, caller, customer_id, write=True)
    found = find_group(session, customer, group)
    if package not in USER_PACKAGES:
        raise ValidationFailed(msg("'{package}' is not a package a user can hold; use one of: {packages}.",
                                   package=package, packages=", ".join(USER_PACKAGES)))
    if session.scalar(select(CustomerPackage.id).where(CustomerPackage.customer_id == customer.id,
                                                       CustomerPackage.package == package)) is None:
        raise ValidationFailed(msg("The customer has no {package} package ({id}); add it to the customer or choose "
                                   "one of the customer's packages.", package=display_name(package), id=package))
    if not -1000 <= priority <= 1000:
        raise ValidationFailed(msg("The priority is a whole number from -1000 to 1000."))
    location_id = None
    if package in CALLING_PACKAGES:
        if not location:
            raise ValidationFailed(msg("{package} is a calling package: give the location its members get.",
                                       package=display_name(package)))
        loc = session.scalar(select(Location).where(Location.customer_id == customer.id,
                                                    (Location.name == location.strip()) | (Location.id == location)))
        if loc is None:
            raise NotFound(msg("No location '{name}' in this organisation.", name=location.strip()))
        location_id = loc.id
    mapping = session.scalar(select(GroupMapping).where(GroupMapping.customer_id == customer.id,
                                                        GroupMapping.group_id == found.id))
    before = None
    if mapping is None:
        mapping = GroupMapping(customer_id=customer.id, group_id=found.id, created=utcnow())
        session.add(mapping)
    else:
        before = {"package": mapping.package, "locationId": mapping.location_id, "priority": mapping.priority}
    mapping.package, mapping.location_id, mapping.priority = package, location_id, priority
    session.flush()
    record(session, caller, "directory.map", "customer", customer.id, customer.id, before,
           {"group": found.display_name, "package": package, "locationId": location_id, "priority": priority})
    record_sync_event(session, customer.id, "map", None, "ok", f"{found.display_name} → {display_name(package)}")
    reconcile(session, caller, customer, group_members(session, [found.id]))
    return mapping


def unmap_group(session: Session, caller: Caller, customer_id: str, *, group: str) -> int:
    """Remove a group's mapping; members who got the package from it lose it (or get another mapped group's).
    Returns the number of members reconciled."""
    _require_manager(caller)
    customer = access.get_customer(session, caller, customer_id, write=True)
    found = find_group(session, customer, group)
    mapping = session.scalar(select(GroupMapping).where(GroupMapping.customer_id == customer.id,
                                                        GroupMapping.group_id == found.id))
    if mapping is None:
        raise NotFound(msg("Group '{name}' has no package mapping.", name=found.display_name))
    session.delete(mapping)
    session.flush()
    record(session, caller, "directory.unmap", "customer", customer.id, customer.id,
           {"group": found.display_name, "package": mapping.package}, None)
    record_sync_event(session, customer.id, "unmap", None, "ok", found.display_name)
    members = group_members(session, [found.id])
    reconcile(session, caller, customer, members)
    return len(members)


def group_members(session: Session, group_ids: Sequence[str]) -> list[str]:
    """The members of the groups, in the order they joined (the order units are handed out in)."""
    if not group_ids:
        return []
    joined = func.min(DirectoryGroupMember.joined)
    return list(session.scalars(select(DirectoryGroupMember.user_id)
                                .where(DirectoryGroupMember.group_id.in_(group_ids))
                                .group_by(DirectoryGroupMember.user_id)
                                .order_by(joined, DirectoryGroupMember.user_id)))


# --- reconcile: a member's package from its groups --------------------------------------------

@dataclass
class Outcome:
    user_id: str
    package: str | None
    result: str  # "granted", "removed", "waiting", "unchanged"
    reason: str | None = None


def _best_mappings(session: Session, customer: Customer,
                   user_ids: Sequence[str]) -> dict[str, tuple[GroupMapping, datetime]]:
    """Per user, the mapping of its mapped groups with the highest priority (ties: the older mapping), and
    when the user joined that group."""
    rows = session.execute(
        select(DirectoryGroupMember.user_id, DirectoryGroupMember.joined, GroupMapping)
        .join(GroupMapping, GroupMapping.group_id == DirectoryGroupMember.group_id)
        .where(GroupMapping.customer_id == customer.id, DirectoryGroupMember.user_id.in_(user_ids))
        .order_by(GroupMapping.priority.desc(), GroupMapping.created, GroupMapping.id)).tuples().all()
    best: dict[str, tuple[GroupMapping, datetime]] = {}
    for user_id, joined, mapping in rows:
        best.setdefault(user_id, (mapping, joined))
    return best


def reconcile(session: Session, caller: Caller, customer: Customer, user_ids: Iterable[str]) -> list[Outcome]:
    """Decide each user's package from its groups and the mappings, and apply it through the users service
    (``update_user``: every rule, units taken and released with R3's conditional UPDATE). Called after every
    membership change and by the worker for waiting members. A member beyond the allocation, or without the
    calling data a calling package needs, keeps its current package and waits (``DirectoryAssignment``).
    Each user is applied in a SAVEPOINT, so one refusal does not undo the others."""
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return []
    best = _best_mappings(session, customer, ids)
    assignments = {a.user_id: a for a in session.scalars(
        select(DirectoryAssignment).where(DirectoryAssignment.user_id.in_(ids)))}
    people = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids),
                                                                   User.customer_id == customer.id))}
    outcomes = []
    for user_id in ids:
        user = people.get(user_id)
        if user is None:
            continue
        outcomes.append(_reconcile_one(session, caller, customer, user, best.get(user_id),
                                       assignments.get(user_id)))
    return outcomes


def _reconcile_one(session: Session, caller: Caller, customer: Customer, user: User,
                   best: tuple[GroupMapping, datetime] | None, assignment: DirectoryAssignment | None) -> Outcome:
    if best is None:
        # In no mapped group: a package a mapping gave is taken away; anything else stays.
        if assignment is None:
            return Outcome(user.id, user.package, "unchanged")
        given = assignment.state == "granted" and user.package == assignment.package
        session.delete(assignment)
        session.flush()
        if not given:
            return Outcome(user.id, user.package, "unchanged")
        try:
            with session.begin_nested():
                users.update_user(session, caller, customer, user, UserFields(package=None))
        except DomainError as exc:
            record_sync_event(session, customer.id, "package.remove", user.email, "error", str(exc.message))
            return Outcome(user.id, user.package, "unchanged", str(exc.message))
        record_sync_event(session, customer.id, "package.remove", user.email, "ok", display_name(assignment.package))
        return Outcome(user.id, None, "removed")
    mapping, joined = best
    package = mapping.package
    if assignment is None:
        assignment = DirectoryAssignment(user_id=user.id, customer_id=customer.id, package=package,
                                         state="new", reason="new", since=joined)
        session.add(assignment)
    elif assignment.package != package:
        assignment.package, assignment.since, assignment.state = package, joined, "new"
    session.flush()  # before any SAVEPOINT below, so that rolling one back keeps the assignment
    if user.package == package:
        assignment.state, assignment.reason = "granted", "ok"
        session.flush()
        return Outcome(user.id, package, "unchanged")
    if session.scalar(select(DirectoryAssignment.user_id).where(  # first come, first served
            DirectoryAssignment.customer_id == customer.id, DirectoryAssignment.package == package,
            DirectoryAssignment.state == "waiting", DirectoryAssignment.reason == WAIT_FULL,
            DirectoryAssignment.since < assignment.since, DirectoryAssignment.user_id != user.id).limit(1)):
        return _wait(session, customer, user, assignment, WAIT_FULL,
                     msg("{package} is full.", package=display_name(package)))
    fields: dict[str, Any] = {"package": package}
    if package in CALLING_PACKAGES:
        number, extension = calling_data(session, user)
        if not mapping.location_id or not (number or extension):
            return _wait(session, customer, user, assignment, WAIT_CALLING, msg(
                "{package} needs the mapping's location and the user's work number or an extension.",
                package=display_name(package)))
        if users.enters_calling(user.package, package):
            fields.update(location_id=mapping.location_id, phone_number=number, extension=extension)
    try:
        with session.begin_nested():
            users.update_user(session, caller, customer, user, UserFields(**fields), calling_data_given=True)
    except AllocationExceeded:
        session.refresh(user)
        return _wait(session, customer, user, assignment, WAIT_FULL,
                     msg("{package} is full.", package=display_name(package)))
    except DomainError as exc:
        session.refresh(user)
        return _wait(session, customer, user, assignment, WAIT_REFUSED, exc.message)
    assignment.state, assignment.reason = "granted", "ok"
    session.flush()
    record_sync_event(session, customer.id, "package.grant", user.email, "ok", display_name(package))
    return Outcome(user.id, package, "granted")


def _wait(session: Session, customer: Customer, user: User, assignment: DirectoryAssignment, reason: str,
          text: str) -> Outcome:
    changed = assignment.state != "waiting" or assignment.reason != reason
    assignment.state, assignment.reason = "waiting", reason
    session.flush()
    if changed:  # one event when a member starts waiting (or for another reason), not one per worker pass
        record_sync_event(session, customer.id, "package.wait", user.email, "waiting", str(text))
    return Outcome(user.id, user.package, "waiting", str(text))


def calling_data(session: Session, user: User) -> tuple[str | None, str | None]:
    """The work number and extension a member would enter calling with: those the user holds, else the E.164
    work number its directory sent (``directory_number``)."""
    number = user.phone_number or (user.directory_number if (user.directory_number or "").startswith("+") else None)
    return number, user.extension


def grant_waiting(session: Session, customer_id: str) -> list[Outcome]:
    """The worker's step for one organisation: members waiting for a unit of a package that has free units
    again (or a larger allocation) get it in the order they joined, as long as units last."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return []
    free = {row.package: (None if row.allocation is None else row.allocation - row.used)
            for row in session.scalars(select(CustomerPackage).where(CustomerPackage.customer_id == customer_id))}
    waiting = list(session.execute(
        select(DirectoryAssignment.user_id, DirectoryAssignment.package)
        .where(DirectoryAssignment.customer_id == customer_id, DirectoryAssignment.state == "waiting",
               DirectoryAssignment.reason == WAIT_FULL)
        .order_by(DirectoryAssignment.since, DirectoryAssignment.user_id)).tuples())
    chosen = []
    for user_id, package in waiting:
        units = free.get(package, 0)
        if units is None or units > 0:
            chosen.append(user_id)
            if units is not None:
                free[package] = units - 1
    if not chosen:
        return []
    return reconcile(session, directory_caller(session, customer), customer, chosen)


def customers_waiting(session: Session) -> list[str]:
    """Organisations with directory sync on and members waiting for a unit whose package has a free unit (the
    worker's query). With sync off the directory no longer decides packages, so no one is served from the queue
    until it is turned on again (decision 31)."""
    return list(session.scalars(
        select(DirectoryAssignment.customer_id).join(
            CustomerPackage, (CustomerPackage.customer_id == DirectoryAssignment.customer_id)
            & (CustomerPackage.package == DirectoryAssignment.package))
        .join(DirectorySync, DirectorySync.customer_id == DirectoryAssignment.customer_id)
        .where(DirectorySync.enabled.is_(True),
               DirectoryAssignment.state == "waiting", DirectoryAssignment.reason == WAIT_FULL,
               CustomerPackage.allocation.is_(None) | (CustomerPackage.used < CustomerPackage.allocation))
        .distinct()))


# --- the SCIM adapter's hooks: one sync event per write, members reconciled ---------------------

def user_synced(session: Session, caller: Caller, customer: Customer, user: User, operation: str, *,
                created: bool = False, log: SyncLog | None = None) -> None:
    """After a SCIM user write (create, replace, patch): the sync event (into ``log`` when given), and the
    user's package decided again (a work number that arrived can end a wait for a calling package). A user
    just ``created`` is in no group yet, so it has nothing to wait for."""
    if log is not None:
        log.add(operation, user.email, "ok", None)
    else:
        record_sync_event(session, customer.id, operation, user.email, "ok", None)
    if not created and session.scalar(select(DirectoryAssignment.user_id)
                                      .where(DirectoryAssignment.user_id == user.id)):
        reconcile(session, caller, customer, [user.id])


def user_removed(session: Session, customer: Customer, email: str, operation: str = "user.delete", *,
                 log: SyncLog | None = None) -> None:
    """After a SCIM user delete: the sync event (its unit is free for the first waiting member, by the worker)."""
    if log is not None:
        log.add(operation, email, "ok", None)
    else:
        record_sync_event(session, customer.id, operation, email, "ok", None)


def group_synced(session: Session, caller: Caller, customer: Customer, name: str, before: Sequence[str],
                 after: Sequence[str], operation: str) -> list[Outcome]:
    """After a SCIM group write (``before``/``after``: the member ids; a deleted group has none after): the sync
    event, and every member who joined or left decided again, in join order."""
    record_sync_event(session, customer.id, operation, None, "ok", name)
    changed = set(before) ^ set(after)
    if not changed:
        return []
    ordered = [u for u in after if u in changed] + [u for u in before if u in changed and u not in after]
    return reconcile(session, caller, customer, ordered)


def record_failure(session: Session, caller: Caller, org_id: str | None, operation: str, reason: str) -> None:
    """A refused SCIM write, recorded by the edge in a transaction of its own (the request's rolled back);
    nothing when the organisation is not the caller's."""
    if not org_id:
        return
    customer = session.scalar(access.scope_customers(select(Customer).where(Customer.org_id == org_id), caller))
    if customer is not None:
        record_sync_event(session, customer.id, operation, None, "error", reason)
