"""Users and their package: every rule of R1-R3, R8, R20-R21, R23, R29, R33-R36, R46, D2, D5, D6.

A user change (attributes, package, base licences, calling data) is written in the caller's one
transaction; any refusal raises before the edge commits, so no half-done state can remain.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from rtmhub.db import DriverStatement, utcnow
from rtmhub.domain import paging
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.access.service import require_writable
from rtmhub.domain.audit.service import record
from rtmhub.domain.customers.models import Customer, MeetingSite
from rtmhub.domain.directory import ownership
from rtmhub.domain.locations.models import Location
from rtmhub.domain.packages import service as packages
from rtmhub.domain.packages.models import BASE_LICENCES, CALLING_PACKAGES, PACKAGES, USER_PACKAGES, display_name
from rtmhub.domain.paging import fetch_page
from rtmhub.domain.usage import service as usage
from rtmhub.domain.usage.schemas import PackageChange
from rtmhub.domain.users.models import USER_ORDER, User
from rtmhub.domain.users.schemas import GivenFields, UserFields, UserFilter
from rtmhub.domain.validation import (
    CALLER_ID_NAME_MAX,
    check_e164,
    check_email,
    check_extension,
    check_language,
    check_name,
    check_text,
    check_timezone,
)
from rtmhub.errors import Conflict, DomainError, ErrorDetail, FieldProblems, NotFound, ValidationFailed, msg
from rtmhub.ids import new_uuid

CALLING_FIELDS = ("extension", "phone_number", "caller_id_number", "caller_id_first_name",
                  "caller_id_last_name", "location_id")
FLAG_FIELDS = ("jabber_calling", "jabber_with_teams")
SNAPSHOT_FIELDS = ("email", "first_name", "last_name", "display_name", "package", *BASE_LICENCES,
                   *CALLING_FIELDS, "preferred_site_url", "jabber_calling", "jabber_with_teams", "title", "department",
                   "manager", "language", "timezone", "status")


# What a change writes from plan_change's result: every snapshot field but the status, which no change sets.
STORED_FIELDS = tuple(f for f in SNAPSHOT_FIELDS if f != "status")


def snapshot(user: User) -> dict[str, Any]:
    return {f: getattr(user, f) for f in SNAPSHOT_FIELDS}


def stored_values(target: dict[str, Any], before: dict[str, Any] | None, package_assigned: datetime | None,
                  now: datetime) -> dict[str, Any]:
    """The column values a change writes, from ``plan_change``'s ``target`` and the state ``before`` it
    (None for a new user) with its ``package_assigned``: the one step behind both the single-user path
    (``_apply``) and the set-wise bulk path (users/bulk.py), so the two cannot store a change differently."""
    values = {f: target[f] for f in STORED_FIELDS}
    values["email_key"] = (target["email"] or "").lower()  # D6: e-mails are unique case-insensitively
    values["last_modified"] = now
    old_package = before["package"] if before else None
    # When the current package was assigned (the subscriber's created/lastStatusChange): kept while it stays.
    values["package_assigned"] = (package_assigned if target["package"] == old_package
                                  else now if target["package"] else None)
    return values


def package_change(user_id: str, email: str | None, customer: Customer, old_package: str | None,
                   new_package: str | None) -> PackageChange:
    """The ledger's record of a user's package going from ``old_package`` to ``new_package``."""
    return PackageChange(user_id=user_id, customer_id=customer.id, partner_id=customer.partner_id,
                         email=email or "", old_package=old_package, new_package=new_package)


def is_external(user: User, customer: Customer) -> bool:
    return user.home_org_id != customer.org_id


# --- reading -------------------------------------------------------------------------------

def get_user(session: Session, customer: Customer, user_id: str | None) -> User:
    user = session.scalar(select(User).where(User.id == (user_id or ""), User.customer_id == customer.id))
    if user is None:
        raise NotFound("Person not found; check the id.")
    return user


def filtered(stmt: Select, flt: UserFilter) -> Select:
    if flt.email:
        stmt = stmt.where(User.email_key == flt.email.strip().lower())
    if flt.display_name:
        stmt = stmt.where(func.lower(User.display_name).startswith(flt.display_name.lower(), autoescape=True))
    if flt.ids is not None:
        stmt = stmt.where(User.id.in_(flt.ids))
    if flt.location_id:
        stmt = stmt.where(User.location_id == flt.location_id)
    if flt.package:
        stmt = stmt.where(User.package == (None if flt.package == "none" else flt.package))
    if flt.status:
        stmt = stmt.where(User.status == flt.status)
    if flt.search:
        term = f"%{flt.search.strip().lower()}%"
        stmt = stmt.where(or_(User.email_key.like(term), func.lower(User.display_name).like(term)))
    return stmt


def list_users(session: Session, customer: Customer, flt: UserFilter, offset: int = 0,
               limit: int = 100) -> list[User]:
    stmt = filtered(select(User).where(User.customer_id == customer.id), flt)
    rows = fetch_page(session, stmt, USER_ORDER, offset, limit)
    return [row[0] for row in rows]


def list_users_page(session: Session, customer: Customer, flt: UserFilter, offset: int = 0, limit: int = 100,
                    cursor: str | None = None) -> tuple[list[User], str | None]:
    """``list_users``, and the cursor of the page's last user; ``cursor``: one such cursor of an earlier page,
    read from instead of ``offset`` (the API's ``Link`` header hands it on, decision 62)."""
    stmt = filtered(select(User).where(User.customer_id == customer.id), flt)
    rows, last = paging.fetch_cursor_page(session, stmt, USER_ORDER, offset, limit, cursor)
    return [row[0] for row in rows], last


def count_users(session: Session, customer: Customer, flt: UserFilter | None = None) -> int:
    stmt = select(func.count()).select_from(User).where(User.customer_id == customer.id)
    return session.scalar(filtered(stmt, flt or UserFilter())) or 0


# --- writing -------------------------------------------------------------------------------

def create_user(session: Session, caller: Caller, customer: Customer, fields: UserFields,
                *, home_org_id: str | None = None, columns: dict[str, Any] | None = None,
                lookups: Lookups | None = None) -> User:
    """``columns``: values of columns no rule covers (a directory's external id, …), written with the row.
    ``lookups``: what the rules ask of the organisation, when the caller already knows some of it."""
    require_writable(session, caller, customer.partner_id)
    ownership.check_create(session, caller, customer)  # R12
    if not fields.email:
        raise ValidationFailed("email is required for a new user.")
    # Added to the session only once every check passed, so no autoflush can write a partial row.
    user = User(id=new_uuid(), customer_id=customer.id, home_org_id=home_org_id or customer.org_id,
                email="", email_key="", basic_messaging=False, basic_space_meetings=False,
                call_on_webex=False, status="provisioned", **(columns or {}))
    _apply(session, caller, customer, user, fields, before=None, lookups=lookups)
    return user


def update_user(session: Session, caller: Caller, customer: Customer, user: User, fields: UserFields,
                *, calling_data_given: bool | None = None) -> User:
    require_writable(session, caller, customer.partner_id)
    before = snapshot(user)
    ownership.check_update(session, caller, customer, before, fields)  # R12
    _apply(session, caller, customer, user, fields, before=before, calling_data_given=calling_data_given)
    return user


# R46: what an already calling user keeps when a request keeps it in calling.
KEPT_CALLING_FIELDS = ("phone_number", "extension", "location_id")


def keep_calling_identity(before: dict[str, Any], fields: UserFields) -> tuple[UserFields, list[ErrorDetail]]:
    """R46 as upstream: a user who already holds a calling package and stays in calling (another calling
    package, or the same) keeps its number, extension and location; those in the request are ignored.
    Returns the fields without them and a warning for each new value ignored (a value equal to the kept
    one, or an empty one, is dropped silently)."""
    new_package = fields.package if "package" in fields.model_fields_set else before["package"]
    if before["package"] not in CALLING_PACKAGES or new_package not in CALLING_PACKAGES:
        return fields, []
    given = fields.model_fields_set & set(KEPT_CALLING_FIELDS)
    if not given:
        return fields, []
    warnings = []
    for name in KEPT_CALLING_FIELDS:
        value = getattr(fields, name)
        if name in given and value not in (None, "") and value != before[name]:
            warnings.append(ErrorDetail(msg(
                "{field} '{value}' was ignored: the user already has calling, and a calling user keeps its "
                "number, extension and location when its package changes.", field=_api_name(name), value=value),
                None, _api_name(name)))
    return UserFields(**fields.model_dump(include=fields.model_fields_set - given)), warnings


def change_package(session: Session, caller: Caller, customer: Customer, user: User, fields: UserFields,
                   *, calling_data_given: bool | None = None) -> list[ErrorDetail]:
    """A package change (the change-package page, subscriber PUT, licence PATCH): ``update_user`` after R46
    (``keep_calling_identity``); returns the warnings for what was ignored."""
    fields, warnings = keep_calling_identity(snapshot(user), fields)
    update_user(session, caller, customer, user, fields, calling_data_given=calling_data_given)
    return warnings


_USERS = cast(Table, User.__table__)
_SITES = cast(Table, MeetingSite.__table__).c
# Built once and run on the driver's connection, as the e-mail's look-up of provision_subscriber: each new user or
# subscriber asks, and SQLAlchemy's execution of the query cost more than the query (decision 57).
_SITE_URLS = DriverStatement(select(_SITES.url).where(_SITES.customer_id == bindparam("customer_id"))
                             .order_by(_SITES.created, _SITES.url))


def site_choices(session: Session, customer: Customer) -> tuple[list[str], str | None]:
    """The customer's Webex sites and the one a new user gets by default (R23): the customer's Preferred
    Webex Site when it is one of its sites, else its first site; None when it has none."""
    sites = [url for (url,) in _SITE_URLS.rows(session, {"customer_id": customer.id}, flush=True)]
    default = customer.preferred_site_url if customer.preferred_site_url in sites else (sites[0] if sites else None)
    return sites, default


def with_preferred_site(session: Session, customer: Customer, fields: UserFields,
                        site: str | None = None) -> UserFields:
    """R23 for users added by hand or by API: a meeting-capable package (every user package but Webex Voice)
    gets ``site`` (the manual-add page's choice) or the customer's default site when the request chose
    none; a site chosen is checked by ``plan_change``."""
    return _with_preferred_site(session, customer, fields, site)[0]


def _with_preferred_site(session: Session, customer: Customer, fields: UserFields,
                         site: str | None = None) -> tuple[UserFields, list[str] | None]:
    """``with_preferred_site`` and the customer's sites when it read them (else None)."""
    info = PACKAGES.get(fields.package or "")
    if info is None or not info.meetings or fields.preferred_site_url:
        return fields, None
    sites, default = site_choices(session, customer) if not site else (None, site)
    if default is None:
        return fields, sites
    return _set(fields, preferred_site_url=default), sites


def _set(fields: UserFields, **values: Any) -> UserFields:
    """``fields`` with ``values`` set and counted as given (a model_copy does not mark them set)."""
    return UserFields(**{**fields.model_dump(include=fields.model_fields_set), **values})


def delete_user(session: Session, caller: Caller, customer: Customer, user: User) -> None:
    require_writable(session, caller, customer.partner_id, deleting=True)
    before = snapshot(user)
    if user.package:
        packages.release_unit(session, customer.id, user.package)
        usage.record_user_packages(session, [package_change(user.id, user.email, customer, user.package, None)],
                                   utcnow())
    session.delete(user)
    session.flush()
    record(session, caller, "user.delete", "user", user.id, customer.id, before, None)


def remove_package(session: Session, caller: Caller, customer: Customer, user: User) -> None:
    """Removes the wholesale package (the subscriber); the person stays in the organisation."""
    require_writable(session, caller, customer.partner_id, deleting=True)
    _apply(session, caller, customer, user, UserFields(package=None), before=snapshot(user))


_USER_BY_EMAIL = select(User).where(User.email_key == bindparam("email_key"))
# Whether any user has the e-mail, on the driver's connection: most provisionings are of a new e-mail, and the ORM's
# query of the user it then does not find cost more than the look-up itself (decision 57).
_EMAIL_TAKEN = DriverStatement(select(_USERS.c.id).where(_USERS.c.email_key == bindparam("email_key")))


def provision_subscriber(session: Session, caller: Caller, customer: Customer, email: str,
                         fields: UserFields) -> User:
    """Give ``email`` its wholesale package: a new user, or a person of this organisation who holds no
    package yet. Anyone else with that e-mail is upstream error 10022."""
    key = email.strip().lower()
    taken = _EMAIL_TAKEN.rows(session, {"email_key": key}, flush=True)
    existing = session.scalar(_USER_BY_EMAIL, {"email_key": key}) if taken else None
    if existing is None:
        fields, sites = _with_preferred_site(session, customer, fields)
        return create_user(session, caller, customer, _set(fields, email=email),
                           lookups=_Known(session, customer, key, sites))
    if existing.customer_id != customer.id or existing.package:
        raise Conflict(msg("The email {email} is already associated with an existing user.", email=email),
                       code=10022)
    if not existing.preferred_site_url:
        fields = with_preferred_site(session, customer, fields)
    return update_user(session, caller, customer, existing, fields, calling_data_given=True)


def check_email_only(email: str) -> None:
    problems = FieldProblems()
    check_email(problems, "email", email)
    problems.raise_if_any()


class Lookups:
    """What the rules need to know about the rest of the organisation. This one asks the database;
    a bulk import answers from what it prefetched for its batch (see users/bulk.py)."""

    def __init__(self, session: Session, customer: Customer):
        self.session = session
        self.customer = customer
        self._locations: set[str] | None = None
        self._sites: list[str] | None = None

    def location_exists(self, location_id: str) -> bool:
        if self._locations is None:
            self._locations = set(self.session.scalars(select(Location.id).where(
                Location.customer_id == self.customer.id)))
        return location_id in self._locations

    def site_urls(self) -> list[str]:
        if self._sites is None:
            self._sites = list(self.session.scalars(select(MeetingSite.url).where(
                MeetingSite.customer_id == self.customer.id)))
        return self._sites

    def email_owner(self, key: str) -> str | None:
        return self.session.scalar(select(User.id).where(User.email_key == key))

    def phone_owner(self, number: str) -> str | None:
        return self.session.scalar(select(User.id).where(User.phone_number == number))

    def extension_owner(self, location_id: str, extension: str) -> str | None:
        return self.session.scalar(select(User.id).where(User.location_id == location_id,
                                                         User.extension == extension))


class _Known(Lookups):
    """``Lookups`` for a new subscriber: what ``provision_subscriber`` has just read in the same transaction is
    answered again without asking the database a second time: that no user has the e-mail's key, and the
    customer's sites (None: not read). Any other question, another key included, is asked as ``Lookups`` asks
    it. Nothing in between writes users or sites; a user with the e-mail committed meanwhile by another
    PostgreSQL transaction is refused by the unique index (409), as one committed just after the rules' own
    look-up always was."""

    def __init__(self, session: Session, customer: Customer, free_email_key: str, sites: list[str] | None):
        super().__init__(session, customer)
        self._free_email_key = free_email_key
        self._known_sites = sites

    def email_owner(self, key: str) -> str | None:
        return None if key == self._free_email_key else super().email_owner(key)

    def site_urls(self) -> list[str]:
        return self._known_sites if self._known_sites is not None else super().site_urls()


# A new user's state before its first change: built once, copied for each new user.
_BLANK_SNAPSHOT: dict[str, Any] = {**{f: None for f in SNAPSHOT_FIELDS},
                                   **{b: False for b in (*BASE_LICENCES, *FLAG_FIELDS)}}


def blank_snapshot() -> dict[str, Any]:
    return dict(_BLANK_SNAPSHOT)


def plan_change(customer: Customer, user_id: str, home_org_id: str, before: dict[str, Any] | None,
                fields: GivenFields, lookups: Lookups, calling_data_given: bool | None = None) -> dict[str, Any]:
    """Every user rule, checked against ``before`` (None for a new user): returns the user's state
    after the change or raises with all problems found. Reads only through ``lookups``. ``fields``: the model
    or, for a CSV row, a mapping of its field names to values (no model validated again per row)."""
    given_values = fields if isinstance(fields, Mapping) else {n: getattr(fields, n) for n in fields.model_fields_set}
    given = given_values.keys()
    target = dict(before) if before else blank_snapshot()
    problems = FieldProblems()
    for name, value in given_values.items():
        if name in _CHECKS:
            # A blank field clears; a blank e-mail is refused (every user has one) as a blank of spaces is.
            value = _CHECKS[name](problems, value) if value not in (None, "") or name == "email" else None
        elif name in BASE_LICENCES or name in FLAG_FIELDS:
            value = bool(value)
        target[name] = value
    if before is None and not target.get("email"):
        problems.raise_if_any()
    old_package = before["package"] if before else None
    new_package = target["package"]
    if "package" in given and new_package is not None:
        if new_package not in USER_PACKAGES:
            problems.add("package", msg("'{package}' is not a package a user can hold; use one of: {packages}.",
                                        package=new_package, packages=", ".join(USER_PACKAGES)), 400000)
        elif home_org_id != customer.org_id:
            problems.add("package", msg("An external user (whose home organisation is another organisation) "
                                        "cannot be given a wholesale package."))
    if "package" in given and (refusal := packages.change_refusal(old_package, new_package)) is not None:
        problems.add("package", *refusal)  # R8: 400112, 400410
    calling = new_package in CALLING_PACKAGES
    if not calling:
        for name in CALLING_FIELDS:
            if given_values.get(name):
                if new_package is None:
                    text = msg("{field} can only be set with a calling package.", field=_api_name(name))
                else:
                    text = msg("{field} can only be set with a calling package, not {package}.",
                               field=_api_name(name), package=display_name(new_package))
                problems.add(_api_name(name), text)
                break
        # Leaving calling removes the calling identity; it must be given again to come back (R33).
        for name in CALLING_FIELDS:
            target[name] = None
    if calling:
        entering = enters_calling(old_package, new_package)
        given_calling = calling_data_given if calling_data_given is not None else bool(
            given & {"extension", "phone_number"})
        if entering and old_package is not None and not given_calling:
            problems.add("package", msg("Changing from {old} to {new} needs the caller ID data: give "
                                        "primaryPhoneNumber and/or extension, and locationId.",
                                        old=display_name(old_package), new=display_name(new_package)))
        elif not target["extension"] and not target["phone_number"]:
            problems.add("extension", msg("{package} needs an extension or an E.164 phone number (or both).",
                                          package=display_name(new_package)))
        if entering:
            target["caller_id_first_name"] = target["caller_id_first_name"] or _first_30(target["first_name"])
            target["caller_id_last_name"] = target["caller_id_last_name"] or _first_30(target["last_name"])
            if not target["caller_id_first_name"] or not target["caller_id_last_name"]:
                problems.add("callerIdFirstName", msg("A calling user needs caller ID first and last names: "
                                                      "give firstName/lastName or the caller ID names."))
        if not target["location_id"]:
            problems.add("locationId", msg("{package} needs a location: give locationId.",
                                           package=display_name(new_package)))
        elif not lookups.location_exists(target["location_id"]):
            problems.add("locationId", msg("Location not found in this organisation; check locationId."), 400)
        elif (before is not None and old_package in CALLING_PACKAGES and before["location_id"]
              and target["location_id"] != before["location_id"]):
            problems.add("locationId", msg("An existing calling user cannot be moved to another location; remove the "
                                           "calling package first, then assign it with the new location."))
    if target.get("preferred_site_url") and "preferred_site_url" in given:
        sites = lookups.site_urls()
        if target["preferred_site_url"] not in sites:
            problems.add("preferredWebexSite", msg("Webex site '{site}' is not a site of this organisation; use one "
                                                   "of: {sites}.", site=target["preferred_site_url"],
                                                   sites=", ".join(sites) or "(none)"), 400216)
    problems.raise_if_any()
    _check_unique(lookups, user_id, target)
    if not target["display_name"]:
        target["display_name"] = (" ".join(p for p in (target["first_name"], target["last_name"]) if p)
                                  or target["email"])
    return target


def _apply(session: Session, caller: Caller, customer: Customer, user: User, fields: UserFields,
           before: dict[str, Any] | None, calling_data_given: bool | None = None,
           lookups: Lookups | None = None) -> None:
    target = plan_change(customer, user.id, user.home_org_id, before, fields, lookups or Lookups(session, customer),
                         calling_data_given)
    old_package, new_package = (before or {}).get("package"), target["package"]
    now = utcnow()
    values = stored_values(target, before, user.package_assigned, now)
    try:
        if before is None and not session.in_nested_transaction():
            # Into the new object's state directly: its row is written from that state, and the object then
            # attached as loaded (_insert_new), so the attribute events' history would be dropped unread.
            user.__dict__.update(values)
            _insert_new(session, user)
        else:
            for name, value in values.items():
                setattr(user, name, value)
            session.add(user)
            session.flush()
    except IntegrityError as exc:
        raise Conflict("Another change to the same e-mail, number or extension won; reload and retry.") from exc
    if new_package != old_package:
        if old_package:
            packages.release_unit(session, customer.id, old_package)
        if new_package:
            packages.take_unit(session, customer.id, new_package)
        change = package_change(user.id, user.email, customer, old_package, new_package)
        usage.record_user_packages(session, [change], now)
    after = snapshot(user)
    if after != before:
        record(session, caller, "user.create" if before is None else "user.update", "user", user.id, customer.id,
               before, after)


_INSERT_USER = DriverStatement(insert(_USERS))


def _insert_new(session: Session, user: User) -> None:
    """INSERT a new user's row with one prebuilt statement on the session's connection and attach ``user`` to the
    session as that row: the unit of work's flush of one new object cost more than the row itself. The row is
    the flush's: the attributes set, each other column's default, NULL for the rest (a JSON column left out is
    SQL NULL, as the flush left it). Pending changes are flushed first, as the flush wrote them with the user. Only
    outside a SAVEPOINT: rolling one back expunges the objects the ORM inserted in it, which this one is not."""
    session.flush()
    given = user.__dict__
    row: dict[str, Any] = {}
    for column in _USERS.columns:
        default = column.default
        if column.key in given:
            row[column.key] = given[column.key]
        elif default is not None and (default.is_callable or default.is_scalar):
            value = default.arg(None) if default.is_callable else default.arg  # type: ignore[attr-defined]
            row[column.key] = value
            setattr(user, column.key, value)
        elif default is None and column.server_default is None:
            set_committed_value(user, column.key, None)
        # else: the database's default, read if the attribute is.
    _INSERT_USER.execute(session, row)
    make_transient_to_detached(user)
    session.add(user)


_CHECKS = {
    "email": lambda p, v: check_email(p, "email", v),
    "first_name": lambda p, v: check_name(p, "firstName", v),
    "last_name": lambda p, v: check_name(p, "lastName", v),
    "display_name": lambda p, v: check_text(p, "displayName", v, 256),
    "extension": lambda p, v: check_extension(p, "extension", v),
    "phone_number": lambda p, v: check_e164(p, "phoneNumber", v),
    "caller_id_number": lambda p, v: check_e164(p, "callerIdNumber", v),
    "caller_id_first_name": lambda p, v: check_name(p, "callerIdFirstName", v, CALLER_ID_NAME_MAX),
    "caller_id_last_name": lambda p, v: check_name(p, "callerIdLastName", v, CALLER_ID_NAME_MAX),
    "title": lambda p, v: check_text(p, "title", v, 128),
    "department": lambda p, v: check_text(p, "department", v, 128),
    "manager": lambda p, v: check_text(p, "manager", v, 161),
    "language": lambda p, v: check_language(p, "language", v),
    "timezone": lambda p, v: check_timezone(p, "timezone", v),
    "preferred_site_url": lambda p, v: check_text(p, "preferredWebexSite", v, 255),
}


def _first_30(value: str | None) -> str | None:
    return value[:CALLER_ID_NAME_MAX] if value else None


def _api_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


def _check_unique(lookups: Lookups, user_id: str, target: dict[str, Any]) -> None:
    """D6 with the upstream codes; the unique indexes stay the last word against races."""
    if target["email"] and lookups.email_owner(target["email"].lower()) not in (None, user_id):
        raise Conflict(msg("The email {email} is already associated with an existing user.", email=target["email"]),
                       code=10022)
    if target["phone_number"] and lookups.phone_owner(target["phone_number"]) not in (None, user_id):
        raise Conflict(msg("Phone number {number} is already in use by another user.",
                           number=target["phone_number"]), code=4201)
    if target["extension"] and target["location_id"] and lookups.extension_owner(
            target["location_id"], target["extension"]) not in (None, user_id):
        raise Conflict(msg("Extension {extension} is already in use in this location.",
                           extension=target["extension"]), code=4202)


MANUAL_ADD_MAX = 25  # R11, D7


def add_many(session: Session, caller: Caller, customer: Customer,
             entries: list[UserFields], *, site: str | None = None) -> list[User | DomainError]:
    """Manual add: each user is created whole or refused alone (its own SAVEPOINT). Meeting-capable users
    get ``site`` or, without one, the customer's default site (R23)."""
    if not entries:
        raise ValidationFailed("Give at least one user to add.")
    if len(entries) > MANUAL_ADD_MAX:
        raise ValidationFailed(f"At most {MANUAL_ADD_MAX} users can be added at once ({len(entries)} given); "
                               "use a CSV import for more.")
    require_writable(session, caller, customer.partner_id)
    ownership.check_create(session, caller, customer)  # R12: users come from the directory
    results: list[User | DomainError] = []
    for fields in entries:
        # Like Control Hub, a manually added user gets the free base licences unless told otherwise.
        defaults = {b: True for b in BASE_LICENCES if b not in fields.model_fields_set}
        fields = fields.model_copy(update=defaults) if defaults else fields
        fields.model_fields_set.update(defaults)
        fields = with_preferred_site(session, customer, fields, site)  # R23
        savepoint = session.begin_nested()
        try:
            results.append(create_user(session, caller, customer, fields))
            savepoint.commit()
        except DomainError as exc:
            savepoint.rollback()
            results.append(exc)
    return results


def enters_calling(old_package: str | None, new_package: str | None) -> bool:
    """Whether a change from ``old_package`` (None: a new user or no package) to ``new_package`` enters
    calling: it then needs the calling data (number and/or extension, location), as R20-R21 and R46 ask,
    and new caller ID data (R33), since leaving calling dropped the old one (decision 6)."""
    return new_package in CALLING_PACKAGES and old_package not in CALLING_PACKAGES


def precheck_subscriber(session: Session, caller: Caller, email: str, customer: Customer | None = None,
                        fields: UserFields | None = None) -> None:
    """The subscriber precheck (POST /v1/wholesale/subscribers/validate). Without a customer: the e-mail must
    be well-formed and free in the whole system (D6, upstream 10022). With one: the whole provisioning runs,
    so every rule answers as the real request would; the edge runs it in a transaction it rolls back."""
    if customer is None:
        if session.scalar(select(User.id).where(User.email_key == email.strip().lower())):
            raise Conflict(msg("The email {email} is already associated with an existing user.", email=email),
                           code=10022)
        check_email_only(email)
        return
    provision_subscriber(session, caller, customer, email, fields or UserFields())
