"""/v1/wholesale/customers, /subscribers, /subPartners — the upstream Webex Wholesale contract."""
from __future__ import annotations

from datetime import UTC
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from rtmhub import ids
from rtmhub.api import serializers as out
from rtmhub.api.deps import DB, CallerDep, CursorParam, calling_values, decode_or_404, next_link, sub_partner_scope
from rtmhub.api.encoding import json_response
from rtmhub.api.people import with_warnings
from rtmhub.api.responses import ERRORS
from rtmhub.domain.access import service as access
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.models import CUSTOMER_STATUSES, Customer
from rtmhub.domain.customers.schemas import CustomerCreate, CustomerFilter, CustomerPrecheck, CustomerUpdate
from rtmhub.domain.packages import service as packages_service
from rtmhub.domain.packages.models import SUBSCRIBER_ONLY_UPSTREAM, USER_PACKAGES
from rtmhub.domain.partners import service as partners
from rtmhub.domain.users import repository as users_repository
from rtmhub.domain.users import service as users
from rtmhub.domain.users.models import User
from rtmhub.domain.users.schemas import SubscriberFilter, UserFields
from rtmhub.errors import ValidationFailed

router = APIRouter(prefix="/v1/wholesale", tags=["wholesale"], responses=ERRORS)
SubPartnerParam = Annotated[str | None, Query(max_length=200)]
CUSTOMERS_READ = "spark-admin:wholesale_customers_read"
CUSTOMERS_WRITE = "spark-admin:wholesale_customers_write"
SUBSCRIBERS_READ = "spark-admin:wholesale_subscribers_read"
SUBSCRIBERS_WRITE = "spark-admin:wholesale_subscribers_write"
PRECHECK_OK = {"message": "success",
               "info": {"infoCode": 100, "description": "Provisioning Precheck validation successful."}}


def _partner_call(caller, scope: str, write: bool = False) -> None:
    access.require_scope(caller, scope, write=write)
    access.require_partner(caller)


def _customer_body(session, c: Customer, include_licence_ids: bool = False) -> dict:
    return out.customer(c, customers.packages_of(session, c.id), include_licence_ids)


def _customer_url(request: Request, c: Customer) -> str:
    base = request.app.state.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return f"{base}/v1/wholesale/customers/{out.customer_id(c)}"


# --- customers -----------------------------------------------------------------------------

# The status filter names known statuses only: a typo is a 400 that lists them, not an empty page.
CustomerStatus = StrEnum("CustomerStatus", {s: s for s in CUSTOMER_STATUSES})

@router.get("/customers")
def list_customers(request: Request, response: Response, db: DB, caller: CallerDep,
                   externalId: Annotated[str | None, Query(max_length=255)] = None,
                   orgId: Annotated[str | None, Query(max_length=200)] = None,
                   status: Annotated[list[CustomerStatus] | None, Query()] = None,
                   offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                   max: Annotated[int, Query(ge=1, le=1000)] = 100,
                   onBehalfOfSubPartnerOrgId: SubPartnerParam = None):
    _partner_call(caller, CUSTOMERS_READ)
    with db.unit_of_work(write=False) as s:
        scope = sub_partner_scope(s, caller, onBehalfOfSubPartnerOrgId)
        flt = CustomerFilter(external_id=externalId, statuses=[s.value for s in status] if status else None,
                             org_id=(ids.decode("ORGANIZATION", orgId) or "") if orgId is not None else None)
        rows = customers.list_customers(s, caller, flt, offset, max + 1, scope)
        next_link(request, response, offset, max, len(rows) > max)
        packs = customers.packages_by_customer(s, caller, (c.id for c in rows[:max]))  # one query, not one a row
        body = {"items": [out.customer(c, packs.get(c.id, [])) for c in rows[:max]]}
    return json_response(body, response)


@router.post("/customers", status_code=202)
def provision_customer(request: Request, response: Response, body: CustomerCreate, db: DB, caller: CallerDep,
                       onBehalfOfSubPartnerOrgId: SubPartnerParam = None):
    _partner_call(caller, CUSTOMERS_WRITE, write=True)
    with db.unit_of_work() as s:
        scope = sub_partner_scope(s, caller, onBehalfOfSubPartnerOrgId)
        c = customers.provision(s, caller, body, scope)
        url = _customer_url(request, c)
    response.headers["Location"] = url
    return {"url": url}


@router.post("/customers/validate")
def precheck_customer(body: CustomerPrecheck, db: DB, caller: CallerDep,
                      onBehalfOfSubPartnerOrgId: SubPartnerParam = None):
    _partner_call(caller, CUSTOMERS_WRITE, write=True)
    with db.unit_of_work(write=False) as s:
        scope = sub_partner_scope(s, caller, onBehalfOfSubPartnerOrgId)
        customers.precheck(s, caller, body, scope)
    return PRECHECK_OK


@router.get("/customers/{customerId}")
def get_customer(request: Request, response: Response, customerId: str, db: DB, caller: CallerDep,
                 onBehalfOfSubPartnerOrgId: SubPartnerParam = None, includePackageLicenseInfo: bool = False):
    _partner_call(caller, CUSTOMERS_READ)
    with db.unit_of_work(write=False) as s:
        scope = sub_partner_scope(s, caller, onBehalfOfSubPartnerOrgId)
        c = access.get_customer(s, caller, decode_or_404("CUSTOMER", customerId, "Customer"), partner_ids=scope)
        response.headers["Location"] = _customer_url(request, c)
        body = _customer_body(s, c, includePackageLicenseInfo)
    return json_response(body, response)


@router.put("/customers/{customerId}", status_code=202)
def update_customer(request: Request, response: Response, customerId: str, body: CustomerUpdate, db: DB,
                    caller: CallerDep, onBehalfOfSubPartnerOrgId: SubPartnerParam = None):
    _partner_call(caller, CUSTOMERS_WRITE, write=True)
    with db.unit_of_work() as s:
        scope = sub_partner_scope(s, caller, onBehalfOfSubPartnerOrgId)
        c = customers.update(s, caller, decode_or_404("CUSTOMER", customerId, "Customer"), body, scope)
        url = _customer_url(request, c)
    response.headers["Location"] = url
    return {"url": url}


@router.delete("/customers/{customerId}", status_code=202, response_class=Response)
def delete_customer(customerId: str, db: DB, caller: CallerDep, onBehalfOfSubPartnerOrgId: SubPartnerParam = None):
    _partner_call(caller, CUSTOMERS_WRITE, write=True)
    with db.unit_of_work() as s:
        scope = sub_partner_scope(s, caller, onBehalfOfSubPartnerOrgId)
        customers.remove(s, caller, decode_or_404("CUSTOMER", customerId, "Customer"), scope)
    return Response(status_code=202)


# --- subscribers ---------------------------------------------------------------------------

class _In(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class SubscriberParameters(_In):
    firstName: str | None = Field(default=None, max_length=64)
    lastName: str | None = Field(default=None, max_length=64)
    primaryPhoneNumber: str | None = Field(default=None, max_length=40)
    extension: str | None = Field(default=None, max_length=20)
    locationId: str | None = Field(default=None, max_length=200)


class SubscriberCreate(_In):
    customerId: str = Field(max_length=200)
    email: str = Field(max_length=200)
    package: str | None = Field(default=None, max_length=40)
    packages: list[str] | None = Field(default=None, max_length=5)
    provisioningParameters: SubscriberParameters | None = None


class SubscriberUpdate(_In):
    package: str | None = Field(default=None, max_length=40)
    packages: list[str] | None = Field(default=None, max_length=5)
    provisioningParameters: SubscriberParameters | None = None


class SubscriberPrecheck(_In):
    email: str = Field(max_length=200)
    provisioningId: str | None = Field(default=None, max_length=64)
    customerId: str | None = Field(default=None, max_length=200)
    package: str | None = Field(default=None, max_length=40)
    packages: list[str] | None = Field(default=None, max_length=5)
    provisioningParameters: SubscriberParameters | None = None


def _one_package(package: str | None, packages: list[str] | None) -> str:
    given = ([package] if package else []) + list(packages or [])
    if package and packages:
        raise ValidationFailed("Give either package or packages, not both.")
    if not given:
        raise ValidationFailed("Give exactly one package (a user holds one package).")
    # R1: two different user packages are upstream 400413, as for people and licences.
    packages_service.one_user_package(given)
    if len(given) != 1:
        raise ValidationFailed("Give exactly one package (a user holds one package).")
    value = given[0]
    if value in SUBSCRIBER_ONLY_UPSTREAM or value not in USER_PACKAGES:
        raise ValidationFailed(f"'{value}' is not a package a user can hold in rtmhub; use one of: "
                               f"{', '.join(USER_PACKAGES)}.", code=400000)
    return value


def _calling_fields(params: SubscriberParameters | None, first_last: bool) -> UserFields:
    p = params or SubscriberParameters()
    values: dict = {}
    if first_last:
        values.update(first_name=p.firstName, last_name=p.lastName)
    values.update(calling_values(p.primaryPhoneNumber, p.extension, p.locationId))
    return UserFields(**{k: v for k, v in values.items() if v is not None or k in ("first_name", "last_name")})


def _subscriber_request(s, caller, body: SubscriberCreate | SubscriberPrecheck, scope) -> tuple[Customer, UserFields]:
    customer = access.get_customer(s, caller, decode_or_404("CUSTOMER", body.customerId or "", "Customer"),
                                   write=True, partner_ids=scope)
    package = _one_package(body.package, body.packages)
    fields = _calling_fields(body.provisioningParameters, first_last=True)
    values = {k: v for k, v in fields.model_dump(exclude_unset=True).items() if v is not None}
    return customer, UserFields(package=package, **values)


def _subscriber_url(request: Request, u: User) -> str:
    base = request.app.state.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return f"{base}/v1/wholesale/subscribers/{ids.encode('SUBSCRIBER', u.id)}"


def _find_subscriber(s, caller, subscriber_id: str, scope, write: bool = False, deleting: bool = False):
    raw = decode_or_404(("SUBSCRIBER", "PEOPLE"), subscriber_id, "Subscriber")
    return access.find_in_scope(s, caller, User, User.id == raw, User.package.is_not(None),
                                not_found="Subscriber not found; check the subscriber id.", partner_ids=scope,
                                write=write, deleting=deleting)


@router.get("/subscribers")
def list_subscribers(request: Request, response: Response, db: DB, caller: CallerDep,
                     customerId: Annotated[str | None, Query(max_length=200)] = None,
                     personId: Annotated[str | None, Query(max_length=200)] = None,
                     externalCustomerId: Annotated[str | None, Query(max_length=255)] = None,
                     email: Annotated[str | None, Query(max_length=200)] = None,
                     status: Annotated[str | None, Query(pattern="^(provisioned|pending_user_migration)$")] = None,
                     after: Annotated[str | None, Query(max_length=40)] = None,
                     lastStatusChange: Annotated[str | None, Query(max_length=40)] = None,
                     sortBy: Annotated[str, Query(pattern="^(created|lastStatusChange)$")] = "created",
                     sortOrder: Annotated[str, Query(pattern="^(ASC|DESC|asc|desc)$")] = "ASC",
                     offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                     max: Annotated[int, Query(ge=1, le=100)] = 50,
                     onBehalfOfSubPartnerOrgId: SubPartnerParam = None,
                     cursor: CursorParam = None):
    _partner_call(caller, SUBSCRIBERS_READ)
    since = _parse_time(after, "after")
    changed = _parse_time(lastStatusChange, "lastStatusChange")
    with db.unit_of_work(write=False) as s:
        scope = sub_partner_scope(s, caller, onBehalfOfSubPartnerOrgId)
        flt = SubscriberFilter(
            customer_id=(ids.decode("CUSTOMER", customerId) or "") if customerId is not None else None,
            user_id=(ids.decode(("PEOPLE", "SUBSCRIBER"), personId) or "") if personId is not None else None,
            external_customer_id=externalCustomerId, email=email, status=status, assigned_since=since,
            changed_since=changed, descending=sortOrder.upper() == "DESC")
        rows, last = users_repository.list_subscribers(s, caller, flt, scope, offset, max + 1, cursor)
        next_link(request, response, offset, max, len(rows) > max, last)
        body = {"items": [out.subscriber_row(r) for r in rows[:max]]}
    return json_response(body, response)


def _parse_time(value: str | None, name: str):
    if value is None:
        return None
    from datetime import datetime

    text = value.strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        raise ValidationFailed(
            f"{name} must be epoch milliseconds or an ISO-8601 time, e.g. 2026-01-31T12:00:00Z.") from None


@router.post("/subscribers")
def provision_subscriber(request: Request, response: Response, body: SubscriberCreate, db: DB, caller: CallerDep,
                         onBehalfOfSubPartnerOrgId: SubPartnerParam = None):
    _partner_call(caller, SUBSCRIBERS_WRITE, write=True)
    with db.unit_of_work() as s:
        scope = sub_partner_scope(s, caller, onBehalfOfSubPartnerOrgId)
        customer, fields = _subscriber_request(s, caller, body, scope)
        user = users.provision_subscriber(s, caller, customer, body.email, fields)
        result = out.subscriber(user, customer)
    response.headers["Location"] = _subscriber_url(request, user)
    return json_response(result, response)


@router.post("/subscribers/validate")
def precheck_subscriber(body: SubscriberPrecheck, db: DB, caller: CallerDep,
                        onBehalfOfSubPartnerOrgId: SubPartnerParam = None):
    _partner_call(caller, SUBSCRIBERS_WRITE, write=True)
    with db.dry_run() as s:
        scope = sub_partner_scope(s, caller, onBehalfOfSubPartnerOrgId)
        # Without customerId only the e-mail is checked; with it the whole provisioning (a dry run).
        customer, fields = _subscriber_request(s, caller, body, scope) if body.customerId is not None else (None, None)
        users.precheck_subscriber(s, caller, body.email, customer, fields)
    return PRECHECK_OK


@router.get("/subscribers/{subscriberId}")
def get_subscriber(request: Request, response: Response, subscriberId: str, db: DB, caller: CallerDep,
                   onBehalfOfSubPartnerOrgId: SubPartnerParam = None):
    _partner_call(caller, SUBSCRIBERS_READ)
    with db.unit_of_work(write=False) as s:
        scope = sub_partner_scope(s, caller, onBehalfOfSubPartnerOrgId)
        user, customer = _find_subscriber(s, caller, subscriberId, scope)
        response.headers["Location"] = _subscriber_url(request, user)
        body = out.subscriber(user, customer)
    return json_response(body, response)


@router.put("/subscribers/{subscriberId}")
def update_subscriber(request: Request, response: Response, subscriberId: str, body: SubscriberUpdate, db: DB,
                      caller: CallerDep, onBehalfOfSubPartnerOrgId: SubPartnerParam = None):
    _partner_call(caller, SUBSCRIBERS_WRITE, write=True)
    with db.unit_of_work() as s:
        scope = sub_partner_scope(s, caller, onBehalfOfSubPartnerOrgId)
        user, customer = _find_subscriber(s, caller, subscriberId, scope, write=True)
        package = _one_package(body.package, body.packages)
        extra = _calling_fields(body.provisioningParameters, first_last=False).model_dump(exclude_unset=True)
        given = bool(body.provisioningParameters and (body.provisioningParameters.primaryPhoneNumber
                                                       or body.provisioningParameters.extension))
        # R46: an already calling subscriber keeps its number, extension and location (warnings say so).
        warnings = users.change_package(s, caller, customer, user, UserFields(package=package, **extra),
                                        calling_data_given=given)
        result = with_warnings(out.subscriber(user, customer), warnings)
    response.headers["Location"] = _subscriber_url(request, user)
    return result


@router.delete("/subscribers/{subscriberId}", status_code=204, response_class=Response)
def delete_subscriber(subscriberId: str, db: DB, caller: CallerDep, onBehalfOfSubPartnerOrgId: SubPartnerParam = None):
    _partner_call(caller, SUBSCRIBERS_WRITE, write=True)
    with db.unit_of_work() as s:
        scope = sub_partner_scope(s, caller, onBehalfOfSubPartnerOrgId)
        user, customer = _find_subscriber(s, caller, subscriberId, scope, write=True, deleting=True)
        users.remove_package(s, caller, customer, user)
    return Response(status_code=204)


# --- sub-partners --------------------------------------------------------------------------

@router.get("/subPartners")
def list_sub_partners(request: Request, response: Response, db: DB, caller: CallerDep,
                      provisioningState: Annotated[str | None, Query(pattern="^(active|suspended)$")] = None,
                      offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                      max: Annotated[int, Query(ge=1, le=1000)] = 100):
    _partner_call(caller, "spark-admin:wholesale_sub_partners_read"
                  if "spark-admin:wholesale_sub_partners_read" in caller.scopes else CUSTOMERS_READ)
    with db.unit_of_work(write=False) as s:
        rows = partners.sub_partners(s, caller, provisioningState, offset, max + 1)
        next_link(request, response, offset, max, len(rows) > max)
        body = {"items": [out.sub_partner(p) for p in rows[:max]]}
    return json_response(body, response)
