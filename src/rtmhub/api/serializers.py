"""Rows to upstream response shapes. Field names follow the contract; extra fields are additions."""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from rtmhub import ids
from rtmhub.domain.customers.models import Customer, CustomerPackage
from rtmhub.domain.locations.models import Location
from rtmhub.domain.packages import service as packages
from rtmhub.domain.packages.models import BASE_LICENCES, display_name
from rtmhub.domain.partners.models import Partner
from rtmhub.domain.users.models import User


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def customer_id(c: Customer) -> str:
    return ids.encode("CUSTOMER", c.id)


def org_id(c: Customer) -> str:
    return ids.encode("ORGANIZATION", c.org_id)


def customer(c: Customer, packages: list[CustomerPackage], include_licence_ids: bool = False) -> dict[str, Any]:
    user_packages = [p for p in packages if p.package not in BASE_LICENCES]
    details = []
    for p in user_packages:
        item: dict[str, Any] = {"name": p.package, "status": p.status, "warnings": [], "errors": []}
        if include_licence_ids:
            item["licenseIds"] = [ids.encode("LICENSE", p.id)]
        details.append(item)
    body: dict[str, Any] = {
        "id": customer_id(c),
        "externalId": c.external_id,
        "address": {k: v for k, v in {
            "addressLine1": c.address_line1, "addressLine2": c.address_line2, "city": c.city,
            "stateOrProvince": c.state_or_province, "zipOrPostalCode": c.zip_or_postal_code,
            "country": c.country}.items() if v is not None},
        "status": c.status,
        "packages": [p.package for p in user_packages],
        "resourceDetails": {"packages": details},
        "errors": [],
        # rtmhub additions:
        "customerInfo": {"name": c.name, "primaryEmail": c.primary_email, "language": c.language},
        "packageAllocations": [{"name": p.package, "allocation": p.allocation, "used": p.used}
                               for p in user_packages],
    }
    if c.status in ("provisioned", "provisioned_with_errors", "updating"):
        body["orgId"] = org_id(c)
    return body


@lru_cache(maxsize=4096)
def _customer_public_id(raw: str) -> str:
    # A page of subscribers names the same few customers again and again.
    return ids.encode("CUSTOMER", raw)


def subscriber(u: User, c: Customer) -> dict[str, Any]:
    return _subscriber(u.id, u.email, u.package, u.status, u.package_assigned or u.created, c.id, c.external_id)


def subscriber_row(r: Row) -> dict[str, Any]:
    """A row of the subscriber list (``users.repository.SUBSCRIBER_COLUMNS``)."""
    return _subscriber(r.id, r.email, r.package, r.status, r.package_assigned or r.created, r.customer_id,
                       r.external_customer_id)


def _subscriber(user_id: str, email: str, package: str | None, status: str, assigned_at: datetime,
                customer_raw_id: str, external_customer_id: str | None) -> dict[str, Any]:
    assigned = iso(assigned_at)
    return {
        "id": ids.encode("SUBSCRIBER", user_id),
        "personId": ids.encode("PEOPLE", user_id),
        "email": email,
        "customerId": _customer_public_id(customer_raw_id),
        "externalCustomerId": external_customer_id,
        "package": package,
        "packages": [package] if package else [],
        "status": status,
        "errors": [],
        "created": assigned,
        "lastStatusChange": assigned,
    }


def licence_ids(session: Session, customer_id_raw: str) -> dict[str, str]:
    """Package -> the public id of the customer's licence of it."""
    return {package: ids.encode("LICENSE", raw) for raw, package in
            packages.licence_packages(session, customer_id_raw).items()}


def person(u: User, c: Customer, licences: dict[str, str]) -> dict[str, Any]:
    held = [u.package] if u.package else []
    held += [b for b in BASE_LICENCES if getattr(u, b)]
    body: dict[str, Any] = {
        "id": ids.encode("PEOPLE", u.id),
        "emails": [u.email],
        "phoneNumbers": [{"type": "work", "value": u.phone_number, "primary": True}] if u.phone_number else [],
        "displayName": u.display_name or u.email,
        "firstName": u.first_name,
        "lastName": u.last_name,
        "orgId": org_id(c),
        "licenses": [licences[p] for p in held if p in licences],
        "created": iso(u.created),
        "lastModified": iso(u.last_modified),
        "type": "person",
        "status": "active" if u.status == "provisioned" else "pending",
        "invitePending": "false",
        "loginEnabled": "true",
        "title": u.title,
        "department": u.department,
        "manager": u.manager,
        "timezone": u.timezone,
        "extension": u.extension,
        "locationId": ids.encode("LOCATION", u.location_id) if u.location_id else None,
        "siteUrls": [f"{u.preferred_site_url}#attendee"] if u.preferred_site_url else [],
        # rtmhub additions:
        "package": u.package,
        "callerIdNumber": u.caller_id_number,
        "callerIdFirstName": u.caller_id_first_name,
        "callerIdLastName": u.caller_id_last_name,
        "preferredWebexSite": u.preferred_site_url,
        "external": u.home_org_id != c.org_id,
    }
    return {k: v for k, v in body.items() if v is not None}


def location(loc: Location, c: Customer) -> dict[str, Any]:
    address = {"address1": loc.address1, "address2": loc.address2, "city": loc.city, "state": loc.state,
               "postalCode": loc.postal_code, "country": loc.country}
    body = {
        "id": ids.encode("LOCATION", loc.id),
        "name": loc.name,
        "orgId": org_id(c),
        "address": {k: v for k, v in address.items() if v is not None},
        "timeZone": loc.time_zone,
        "preferredLanguage": loc.preferred_language,
        "announcementLanguage": loc.announcement_language,
        "latitude": loc.latitude,
        "longitude": loc.longitude,
        "notes": loc.notes,
        "emergencyLocationIdentifier": loc.emergency_location_identifier,
    }
    return {k: v for k, v in body.items() if v is not None}


def licence(p: CustomerPackage, consumed: int, site_url: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": ids.encode("LICENSE", p.id),
        "name": display_name(p.package),
        # Unlimited allocations are reported as -1, as upstream does for unlimited licences.
        "totalUnits": p.allocation if p.allocation is not None else -1,
        "consumedUnits": consumed,
        "consumedByUsers": consumed,
        "consumedByWorkspaces": 0,
        # rtmhub addition: the package id the licence stands for.
        "package": p.package,
    }
    if p.subscription_id:
        body["subscriptionId"] = p.subscription_id
    if site_url and p.package in ("webex_meetings", "webex_suite"):
        body["siteUrl"] = site_url
        body["siteType"] = "Control Hub managed site"
    return body


def partner_org(p: Partner) -> dict[str, Any]:
    return {"id": ids.encode("ORGANIZATION", p.id), "displayName": p.name, "created": iso(p.created)}


def customer_org(c: Customer) -> dict[str, Any]:
    return {"id": org_id(c), "displayName": c.name, "created": iso(c.created)}


def sub_partner(p: Partner) -> dict[str, Any]:
    return {"orgId": ids.encode("ORGANIZATION", p.id), "subscriptionId": p.subscription_id,
            "provisioningState": p.provisioning_state, "created": iso(p.created),
            "billingStartDate": iso(p.created) if p.billing_start_date is None else
            p.billing_start_date.isoformat(), "name": p.name}
