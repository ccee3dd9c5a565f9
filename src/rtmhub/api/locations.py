"""/v1/locations and /v1/organizations."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from rtmhub import ids
from rtmhub.api import serializers as out
from rtmhub.api.deps import DB, ORG_NOT_FOUND, CallerDep, decode_or_404, next_link, org_customer
from rtmhub.api.encoding import json_response
from rtmhub.api.responses import ERRORS
from rtmhub.domain.access import service as access
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.schemas import CustomerFilter
from rtmhub.domain.locations import service as locations
from rtmhub.domain.locations.models import Location
from rtmhub.domain.locations.schemas import LocationCreate, LocationUpdate
from rtmhub.domain.partners import service as partners

router = APIRouter(prefix="/v1", responses=ERRORS)
OrgParam = Annotated[str | None, Query(max_length=200)]
LOCATIONS_READ = ("spark-admin:locations_read", "spark-admin:people_read")
LOCATIONS_WRITE = "spark-admin:locations_write"


def _require_read(caller) -> None:
    if not set(LOCATIONS_READ) & caller.scopes:
        access.require_scope(caller, LOCATIONS_READ[0])


def _find(s, caller, location_id: str, org_id: str | None, write: bool = False):
    raw = decode_or_404("LOCATION", location_id, "Location")
    if org_id:
        customer = org_customer(s, caller, org_id, write=write, required=True)
        return locations.get_location(s, customer, raw), customer
    return access.find_in_scope(s, caller, Location, Location.id == raw,
                                not_found="Location not found; check the location id.", write=write)


@router.get("/locations", tags=["locations"])
def list_locations(request: Request, response: Response, db: DB, caller: CallerDep,
                   name: Annotated[str | None, Query(max_length=256)] = None,
                   id: Annotated[str | None, Query(max_length=200)] = None,
                   orgId: OrgParam = None,
                   offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                   max: Annotated[int, Query(ge=1, le=1000)] = 500):
    _require_read(caller)
    with db.unit_of_work(write=False) as s:
        customer = org_customer(s, caller, orgId)
        if customer is None:
            return {"items": []}
        raw = (ids.decode("LOCATION", id) or "") if id is not None else None
        rows = locations.list_locations(s, customer, name, raw, offset, max + 1)
        next_link(request, response, offset, max, len(rows) > max)
        body = {"items": [out.location(loc, customer) for loc in rows[:max]]}
    return json_response(body, response)


@router.post("/locations", status_code=201, tags=["locations"])
def create_location(body: LocationCreate, db: DB, caller: CallerDep, orgId: OrgParam = None):
    access.require_scope(caller, LOCATIONS_WRITE, write=True)
    with db.unit_of_work() as s:
        customer = org_customer(s, caller, orgId, write=True, required=True)
        loc = locations.create_location(s, caller, customer, body)
        return {"id": ids.encode("LOCATION", loc.id)}


@router.get("/locations/{locationId}", tags=["locations"])
def get_location(locationId: str, db: DB, caller: CallerDep, orgId: OrgParam = None):
    _require_read(caller)
    with db.unit_of_work(write=False) as s:
        loc, customer = _find(s, caller, locationId, orgId)
        body = out.location(loc, customer)
    return json_response(body)


@router.put("/locations/{locationId}", status_code=204, response_class=Response, tags=["locations"])
def update_location(locationId: str, body: LocationUpdate, db: DB, caller: CallerDep, orgId: OrgParam = None):
    access.require_scope(caller, LOCATIONS_WRITE, write=True)
    with db.unit_of_work() as s:
        loc, customer = _find(s, caller, locationId, orgId, write=True)
        locations.update_location(s, caller, customer, loc.id, body)
    return Response(status_code=204)


@router.delete("/locations/{locationId}", status_code=204, response_class=Response, tags=["locations"])
def delete_location(locationId: str, db: DB, caller: CallerDep, orgId: OrgParam = None):
    access.require_scope(caller, LOCATIONS_WRITE, write=True)
    with db.unit_of_work() as s:
        loc, customer = _find(s, caller, locationId, orgId, write=True)
        locations.delete_location(s, caller, customer, loc.id)
    return Response(status_code=204)


# --- organizations -------------------------------------------------------------------------

ORGS_READ = "spark-admin:organizations_read"


@router.get("/organizations", tags=["organizations"])
def list_organizations(db: DB, caller: CallerDep):
    access.require_scope(caller, ORGS_READ)
    with db.unit_of_work(write=False) as s:
        partner = partners.own_partner(s, caller)
        items = [out.partner_org(partner)] if partner is not None else []
        items += [out.customer_org(c) for c in customers.list_customers(s, caller, CustomerFilter(), limit=None)]
        return {"items": items}


@router.get("/organizations/{orgId}", tags=["organizations"])
def get_organization(orgId: str, db: DB, caller: CallerDep):
    access.require_scope(caller, ORGS_READ)
    raw = decode_or_404("ORGANIZATION", orgId, "Organization")
    with db.unit_of_work(write=False) as s:
        partner = partners.own_partner(s, caller)
        if partner is not None and raw == partner.id:
            return out.partner_org(partner)
        return out.customer_org(access.resolve_customer(s, caller, raw, by="org_id", not_found=ORG_NOT_FOUND))
