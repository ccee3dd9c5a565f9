"""/v1/people and /v1/licenses — the upstream People and Licenses contract over the users service."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from rtmhub import ids
from rtmhub.api import serializers as out
from rtmhub.api.deps import (
    DB,
    MAX_OFFSET,
    CallerDep,
    CursorParam,
    calling_values,
    decode_or_404,
    next_link,
    org_customer,
)
from rtmhub.api.encoding import json_response
from rtmhub.api.responses import ERRORS
from rtmhub.domain.access import service as access
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.customers import settings_service
from rtmhub.domain.customers.models import Customer, CustomerPackage
from rtmhub.domain.packages import service as packages
from rtmhub.domain.users import repository as users_repository
from rtmhub.domain.users import service as users
from rtmhub.domain.users.models import User
from rtmhub.domain.users.schemas import UserFields, UserFilter
from rtmhub.errors import ErrorDetail, ValidationFailed

router = APIRouter(prefix="/v1", tags=["people"], responses=ERRORS)
PEOPLE_READ = "spark-admin:people_read"
PEOPLE_WRITE = "spark-admin:people_write"
OrgParam = Annotated[str | None, Query(max_length=200)]


class _In(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class PhoneNumber(_In):
    type: str | None = Field(default="work", max_length=20)
    value: str = Field(max_length=40)
    primary: bool | None = None


class PersonBody(_In):
    emails: list[Annotated[str, Field(max_length=200)]] | None = Field(default=None, max_length=5)
    displayName: str | None = Field(default=None, max_length=256)
    firstName: str | None = Field(default=None, max_length=64)
    lastName: str | None = Field(default=None, max_length=64)
    phoneNumbers: list[PhoneNumber] | None = Field(default=None, max_length=5)
    extension: str | None = Field(default=None, max_length=20)
    locationId: str | None = Field(default=None, max_length=200)
    orgId: str | None = Field(default=None, max_length=200)
    licenses: list[Annotated[str, Field(max_length=200)]] | None = Field(default=None, max_length=20)
    title: str | None = Field(default=None, max_length=128)
    department: str | None = Field(default=None, max_length=128)
    manager: str | None = Field(default=None, max_length=161)
    timezone: str | None = Field(default=None, max_length=64)
    # rtmhub additions (also settable by CSV):
    callerIdNumber: str | None = Field(default=None, max_length=40)
    callerIdFirstName: str | None = Field(default=None, max_length=64)
    callerIdLastName: str | None = Field(default=None, max_length=64)
    preferredWebexSite: str | None = Field(default=None, max_length=255)


def _fields_from_body(session: Session, customer: Customer, body: PersonBody, creating: bool) -> UserFields:
    given = body.model_fields_set
    values: dict = {}
    if "emails" in given and body.emails:
        values["email"] = body.emails[0]
    simple = {"displayName": "display_name", "firstName": "first_name", "lastName": "last_name",
              "extension": "extension", "title": "title", "department": "department", "manager": "manager",
              "timezone": "timezone", "callerIdNumber": "caller_id_number",
              "callerIdFirstName": "caller_id_first_name", "callerIdLastName": "caller_id_last_name",
              "preferredWebexSite": "preferred_site_url"}
    for api_name, name in simple.items():
        if api_name in given:
            values[name] = getattr(body, api_name)
    if "phoneNumbers" in given:
        work = [p.value for p in body.phoneNumbers or [] if (p.type or "work") == "work"]
        values["phone_number"] = work[0] if work else None
    if "locationId" in given:
        values["location_id"] = (ids.decode("LOCATION", body.locationId) or "unknown") if body.locationId else None
    if "licenses" in given:
        values.update(_licences_to_fields(session, customer, body.licenses or [], creating))
    elif creating:
        values["package"] = None
    return UserFields(**values)


def _licences_to_fields(session: Session, customer: Customer, licence_ids: list[str], creating: bool = False) -> dict:
    """A complete licence list as user fields: the public ids are decoded here, R1 and the rest are
    decided by ``packages.user_licences``."""
    given = [(public, ids.decode("LICENSE", public)) for public in licence_ids]
    try:
        chosen = packages.user_licences(packages.licence_packages(session, customer.id), given)
    except packages.UnknownLicence as exc:
        # The API's own hint on where licence ids come from.
        raise ValidationFailed(f"Licence '{exc.licence}' is not a licence of this organisation; list them with "
                               "GET /v1/licenses?orgId=….", code=400000) from None
    return chosen.as_fields(creating=creating)


def _find_person(session: Session, caller: Caller, person_id: str, org_id: str | None,
                 write: bool = False, deleting: bool = False) -> tuple[User, Customer]:
    raw = decode_or_404("PEOPLE", person_id, "Person")
    if org_id:
        # A delete is checked by users.delete_user itself (R53: a suspended sub-partner may delete).
        customer = org_customer(session, caller, org_id, write=write and not deleting, required=True)
        return users.get_user(session, customer, raw), customer
    return access.find_in_scope(session, caller, User, User.id == raw, not_found="Person not found; check the id.",
                                write=write, deleting=deleting)


@router.get("/people")
def list_people(request: Request, response: Response, db: DB, caller: CallerDep,
                email: Annotated[str | None, Query(max_length=200)] = None,
                displayName: Annotated[str | None, Query(max_length=256)] = None,
                id: Annotated[str | None, Query(max_length=4000)] = None,
                orgId: OrgParam = None,
                locationId: Annotated[str | None, Query(max_length=200)] = None,
                callingData: bool = False,
                offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                max: Annotated[int, Query(ge=1, le=1000)] = 100,
                cursor: CursorParam = None):
    access.require_scope(caller, PEOPLE_READ)
    with db.unit_of_work(write=False) as s:
        customer = org_customer(s, caller, orgId)
        if customer is None:
            return {"items": [], "notFoundIds": []}
        wanted = [i.strip() for i in id.split(",") if i.strip()][:85] if id else None
        flt = UserFilter(email=email, display_name=displayName,
                         ids=[ids.decode("PEOPLE", i) or "" for i in wanted] if wanted is not None else None,
                         location_id=(ids.decode("LOCATION", locationId) or "") if locationId else None)
        rows, last = users.list_users_page(s, customer, flt, offset, max + 1, cursor)
        next_link(request, response, offset, max, len(rows) > max, last)
        licences = out.licence_ids(s, customer.id)
        found = {ids.encode("PEOPLE", u.id) for u in rows}
        body = {"items": [out.person(u, customer, licences) for u in rows[:max]]}
        body["notFoundIds"] = [i for i in wanted if i not in found] if wanted is not None else []
    return json_response(body, response)


@router.post("/people")
def create_person(body: PersonBody, db: DB, caller: CallerDep, orgId: OrgParam = None,
                  callingData: bool = False, minResponse: bool = False):
    access.require_scope(caller, PEOPLE_WRITE, write=True)
    if not body.emails:
        raise ValidationFailed("emails must hold the person's e-mail address.")
    if not (body.displayName or body.firstName or body.lastName):
        raise ValidationFailed("Give at least one of displayName, firstName or lastName.")
    with db.unit_of_work() as s:
        customer = org_customer(s, caller, body.orgId or orgId, write=True, required=True)
        fields = users.with_preferred_site(s, customer, _fields_from_body(s, customer, body, creating=True))  # R23
        user = users.create_user(s, caller, customer, fields)
        return out.person(user, customer, out.licence_ids(s, customer.id))


@router.get("/people/{personId}")
def get_person(personId: str, db: DB, caller: CallerDep, orgId: OrgParam = None, callingData: bool = False):
    access.require_scope(caller, PEOPLE_READ)
    with db.unit_of_work(write=False) as s:
        user, customer = _find_person(s, caller, personId, orgId)
        body = out.person(user, customer, out.licence_ids(s, customer.id))
    return json_response(body)


@router.put("/people/{personId}")
def update_person(personId: str, body: PersonBody, db: DB, caller: CallerDep, orgId: OrgParam = None,
                  callingData: bool = False, showAllTypes: bool = False, minResponse: bool = False):
    access.require_scope(caller, PEOPLE_WRITE, write=True)
    with db.unit_of_work() as s:
        user, customer = _find_person(s, caller, personId, orgId, write=True)
        fields = _fields_from_body(s, customer, body, creating=False)
        users.update_user(s, caller, customer, user, fields)
        return out.person(user, customer, out.licence_ids(s, customer.id))


@router.delete("/people/{personId}", status_code=204, response_class=Response)
def delete_person(personId: str, db: DB, caller: CallerDep, orgId: OrgParam = None):
    access.require_scope(caller, PEOPLE_WRITE, write=True)
    with db.unit_of_work() as s:
        user, customer = _find_person(s, caller, personId, orgId, write=True, deleting=True)
        users.delete_user(s, caller, customer, user)
    return Response(status_code=204)


# --- licences ------------------------------------------------------------------------------

LICENSES_READ = "spark-admin:licenses_read"


def _site(session: Session, customer: Customer) -> str | None:
    sites = settings_service.meeting_sites(session, customer)
    return sites[0].url if sites else None


@router.get("/licenses", tags=["licenses"])
def list_licences(db: DB, caller: CallerDep, orgId: OrgParam = None):
    access.require_scope(caller, LICENSES_READ)
    with db.unit_of_work(write=False) as s:
        customer = org_customer(s, caller, orgId)
        if customer is None:
            return {"items": []}
        site = _site(s, customer)
        return {"items": [out.licence(p, used, site) for p, used in packages.customer_licences(s, customer.id)]}


@router.get("/licenses/{licenseId}", tags=["licenses"])
def get_licence(request: Request, response: Response, licenseId: str, db: DB, caller: CallerDep,
                includeAssignedTo: Literal["user"] | None = None,
                next: Annotated[str | None, Query(max_length=20, pattern="^[0-9]+$")] = None,
                limit: Annotated[int, Query(ge=1, le=300)] = 300,
                cursor: CursorParam = None):
    access.require_scope(caller, LICENSES_READ)
    raw = decode_or_404("LICENSE", licenseId, "License")
    # `next` is a string in the contract: bounded like every offset before it reaches the database
    # (20 digits overflow PostgreSQL's bigint and SQLite's integer: a 500 before).
    start = int(next or 0)
    if start > MAX_OFFSET:
        raise ValidationFailed(f"next: must be at most {MAX_OFFSET}.")
    with db.unit_of_work(write=False) as s:
        licence_row, customer = access.find_in_scope(s, caller, CustomerPackage, CustomerPackage.id == raw,
                                                     not_found="License not found; check the id.")
        consumed = dict((p.id, used) for p, used in packages.customer_licences(s, customer.id))[licence_row.id]
        body = out.licence(licence_row, consumed, _site(s, customer))
        if includeAssignedTo == "user":
            holders, last = users_repository.licence_holders(s, customer, licence_row.package, start, limit + 1,
                                                             cursor)
            body["users"] = [{"id": ids.encode("PEOPLE", u.id), "type": "INTERNAL" if u.home_org_id == customer.org_id
                              else "EXTERNAL", "displayName": u.display_name, "email": u.email}
                             for u in holders[:limit]]
            next_link(request, response, start, limit, len(holders) > limit, last, offset_name="next",
                      size_name="limit")
    return json_response(body, response)


class LicenceProperties(_In):
    locationId: str | None = Field(default=None, max_length=200)
    phoneNumber: str | None = Field(default=None, max_length=40)
    extension: str | None = Field(default=None, max_length=20)


class LicenceRequest(_In):
    id: str = Field(max_length=200)
    operation: Literal["add", "remove"] = "add"
    properties: LicenceProperties | None = None


class PatchLicences(_In):
    email: str | None = Field(default=None, max_length=200)
    personId: str | None = Field(default=None, max_length=200)
    orgId: str | None = Field(default=None, max_length=200)
    licenses: list[LicenceRequest] | None = Field(default=None, max_length=20)
    siteUrls: list[dict] | None = Field(default=None, max_length=20)


@router.patch("/licenses/users", tags=["licenses"])
def assign_licences(body: PatchLicences, db: DB, caller: CallerDep):
    access.require_scope(caller, PEOPLE_WRITE, write=True)
    if not body.email and not body.personId:
        raise ValidationFailed("Give email or personId of the user whose licences change.")
    with db.unit_of_work() as s:
        customer = org_customer(s, caller, body.orgId, write=True, required=True)
        if body.personId:
            user = users.get_user(s, customer, decode_or_404("PEOPLE", body.personId, "Person"))
        else:
            user = users_repository.get_user_by_email(s, customer, body.email or "")
        operations = [(item.id, ids.decode("LICENSE", item.id), item.operation == "add")
                      for item in body.licenses or []]
        changes = packages.change_licences(packages.licence_packages(s, customer.id), user.package, operations)
        values: dict = dict(changes.base)
        for index in changes.package_adds:
            props = (body.licenses or [])[index].properties or LicenceProperties()
            values.update(calling_values(props.phoneNumber, props.extension, props.locationId))
        if changes.package != user.package:
            values["package"] = changes.package
        warnings = []
        if values:
            # R46: an already calling user moved to another calling licence keeps its calling data.
            warnings = users.change_package(s, caller, customer, user, UserFields(**values))
        held = out.person(user, customer, out.licence_ids(s, customer.id))["licenses"]
        result = {"orgId": out.org_id(customer), "personId": ids.encode("PEOPLE", user.id), "email": user.email,
                  "licenses": held, "siteUrls": [], "pendingLicenses": [], "pendingSiteUrls": []}
        return with_warnings(result, warnings)


def with_warnings(body: dict, warnings: list[ErrorDetail]) -> dict:
    """What a request asked for and was ignored (R46), in the upstream ``warnings`` shape of a customer's
    packages (``[{errorCode, description}]``, errorCode 0: no upstream code exists); absent when none."""
    if warnings:
        body["warnings"] = [{"errorCode": 0, "description": w.description} for w in warnings]
    return body
