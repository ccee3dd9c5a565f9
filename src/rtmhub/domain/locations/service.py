from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.access.service import require_writable
from rtmhub.domain.audit.service import record
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.locations.models import Location
from rtmhub.domain.locations.schemas import LocationAddress, LocationCreate, LocationUpdate
from rtmhub.domain.users.models import User
from rtmhub.domain.validation import check_country, check_language, check_timezone
from rtmhub.errors import Conflict, FieldProblems, NotFound, msg, msgn


def snapshot(loc: Location) -> dict[str, Any]:
    return {"name": loc.name, "address1": loc.address1, "city": loc.city, "country": loc.country,
            "timeZone": loc.time_zone, "preferredLanguage": loc.preferred_language}


def list_locations(session: Session, customer: Customer, name: str | None = None, location_id: str | None = None,
                   offset: int = 0, limit: int = 500) -> list[Location]:
    stmt = select(Location).where(Location.customer_id == customer.id)
    if name:
        stmt = stmt.where(func.lower(Location.name).contains(name.lower(), autoescape=True))
    if location_id is not None:
        stmt = stmt.where(Location.id == location_id)
    return list(session.scalars(stmt.order_by(Location.created, Location.id).offset(offset).limit(limit)))


def get_location(session: Session, customer: Customer, location_id: str | None) -> Location:
    loc = session.scalar(select(Location).where(Location.id == (location_id or ""),
                                                Location.customer_id == customer.id))
    if loc is None:
        raise NotFound("Location not found; check the location id.")
    return loc


def _check(problems: FieldProblems, data: LocationCreate | LocationUpdate) -> None:
    if data.name is not None and not data.name.strip():
        problems.add("name", msg("The location needs a name."))
    if data.timeZone is not None:
        check_timezone(problems, "timeZone", data.timeZone, required=True)
    for field in ("preferredLanguage", "announcementLanguage"):
        if getattr(data, field) is not None:
            check_language(problems, field, getattr(data, field), required=True)
    if data.address is not None:
        _check_address(problems, data.address)


def _check_address(problems: FieldProblems, address: LocationAddress) -> None:
    check_country(problems, "address.country", address.country)
    for field in ("address1", "city"):
        if not getattr(address, field).strip():
            problems.add(f"address.{field}", msg("{field} is required.", field=f"address.{field}"))


def _unique_name(session: Session, customer: Customer, name: str, exclude: str | None = None) -> None:
    stmt = select(Location.id).where(Location.customer_id == customer.id, func.lower(Location.name) == name.lower())
    if exclude:
        stmt = stmt.where(Location.id != exclude)
    if session.scalar(stmt):
        raise Conflict(msg("A location named '{name}' already exists in this organisation.", name=name))


def create_location(session: Session, caller: Caller, customer: Customer, data: LocationCreate) -> Location:
    require_writable(session, caller, customer.partner_id)
    problems = FieldProblems()
    _check(problems, data)
    problems.raise_if_any()
    _unique_name(session, customer, data.name.strip())
    a = data.address
    loc = Location(customer_id=customer.id, name=data.name.strip(), address1=a.address1, address2=a.address2,
                   city=a.city, state=a.state, postal_code=a.postalCode, country=a.country, time_zone=data.timeZone,
                   preferred_language=data.preferredLanguage, announcement_language=data.announcementLanguage,
                   latitude=data.latitude, longitude=data.longitude, notes=data.notes)
    session.add(loc)
    session.flush()
    record(session, caller, "location.create", "location", loc.id, customer.id, None, snapshot(loc))
    return loc


def update_location(session: Session, caller: Caller, customer: Customer, location_id: str | None,
                    data: LocationUpdate) -> Location:
    require_writable(session, caller, customer.partner_id)
    loc = get_location(session, customer, location_id)
    problems = FieldProblems()
    _check(problems, data)
    problems.raise_if_any()
    before = snapshot(loc)
    if data.name is not None:
        _unique_name(session, customer, data.name.strip(), exclude=loc.id)
        loc.name = data.name.strip()
    if data.timeZone is not None:
        loc.time_zone = data.timeZone
    if data.preferredLanguage is not None:
        loc.preferred_language = data.preferredLanguage
    if data.announcementLanguage is not None:
        loc.announcement_language = data.announcementLanguage
    if data.address is not None:
        a = data.address
        loc.address1, loc.address2, loc.city, loc.state, loc.postal_code, loc.country = (
            a.address1, a.address2, a.city, a.state, a.postalCode, a.country)
    for field in ("latitude", "longitude", "notes"):
        if getattr(data, field) is not None:
            setattr(loc, field, getattr(data, field))
    session.flush()
    record(session, caller, "location.update", "location", loc.id, customer.id, before, snapshot(loc))
    return loc


def delete_location(session: Session, caller: Caller, customer: Customer, location_id: str | None) -> None:
    require_writable(session, caller, customer.partner_id, deleting=True)
    loc = get_location(session, customer, location_id)
    users = session.scalar(select(func.count()).select_from(User).where(User.location_id == loc.id))
    if users:
        raise Conflict(msgn("{count} calling user is in location '{name}'; move or remove the user first.",
                            "{count} calling users are in location '{name}'; move or remove them first.",
                            "count", count=users, name=loc.name))
    before = snapshot(loc)
    session.delete(loc)
    session.flush()
    record(session, caller, "location.delete", "location", loc.id, customer.id, before, None)
