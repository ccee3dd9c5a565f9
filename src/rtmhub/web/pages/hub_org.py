"""Control Hub organisation: locations and settings."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session

from rtmhub.domain.access import service as access
from rtmhub.domain.customers import settings_service
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.locations import service as locations
from rtmhub.domain.locations.models import Location
from rtmhub.domain.locations.schemas import LocationCreate, LocationUpdate
from rtmhub.web.forms import LANGUAGES, Errors, customer_page, form_fields, opened, pydantic_errors, show, submit
from rtmhub.web.support import WebRoute

router = APIRouter(route_class=WebRoute, include_in_schema=False)


# --- locations -------------------------------------------------------------------------------

@router.get("/customers/{cid}/hub/locations")
def hub_locations(request: Request, cid: str):
    def load(s: Session, customer: Customer | None) -> dict[str, Any]:
        assert customer is not None
        return {"locations": locations.list_locations(s, customer)}

    return customer_page(request, cid, "hub_locations.html", load, saved=request.query_params.get("saved") == "1")


def _location_form(loc: Location | None) -> dict[str, str]:
    if loc is None:
        return {"address.country": "FI", "timeZone": "Europe/Helsinki", "preferredLanguage": "fi_FI"}
    return {"name": loc.name, "address.address1": loc.address1, "address.address2": loc.address2 or "",
            "address.city": loc.city, "address.postalCode": loc.postal_code or "", "address.country": loc.country,
            "timeZone": loc.time_zone, "preferredLanguage": loc.preferred_language}


def _location_body(f: dict[str, str]) -> dict[str, Any]:
    return {"name": f.get("name", ""), "timeZone": f.get("timeZone", ""),
            "preferredLanguage": f.get("preferredLanguage", ""), "announcementLanguage": f.get("preferredLanguage", ""),
            "address": {"address1": f.get("address.address1", ""), "address2": f.get("address.address2") or None,
                        "city": f.get("address.city", ""), "postalCode": f.get("address.postalCode") or None,
                        "country": f.get("address.country", "").upper()}}


def _location(lid: str | None):
    def load(s: Session, customer: Customer | None) -> dict[str, Any]:
        assert customer is not None
        return {"location": locations.get_location(s, customer, lid) if lid else None}

    return load


@router.get("/customers/{cid}/hub/locations/new")
def location_new_page(request: Request, cid: str):
    return customer_page(request, cid, "hub_location.html", write=True, location=None, form=_location_form(None),
                         errors={})


@router.get("/customers/{cid}/hub/locations/{lid}")
def location_edit_page(request: Request, cid: str, lid: str):
    def load(s: Session, customer: Customer | None) -> dict[str, Any]:
        values = _location(lid)(s, customer)
        values["form"] = _location_form(values["location"])
        return values

    return customer_page(request, cid, "hub_location.html", load, errors={})


def _save_location(request: Request, cid: str, lid: str | None):
    ctx = opened(request, write=True)
    f = form_fields(ctx)
    errors: Errors = {}
    body: LocationCreate | LocationUpdate | None = None
    try:
        body = (LocationCreate if lid is None else LocationUpdate).model_validate(_location_body(f))
    except ValidationError as exc:
        errors = pydantic_errors(ctx, exc)

    def work(s: Session) -> str:
        customer = access.get_customer(s, ctx.caller, cid, write=True)
        if lid is None:
            locations.create_location(s, ctx.caller, customer, body)
        else:
            locations.update_location(s, ctx.caller, customer, lid, body)
        return f"/customers/{cid}/hub/locations?saved=1"

    return submit(ctx, work, lambda found: show(ctx, cid, "hub_location.html", _location(lid), form=f, errors=found),
                  errors=errors, default="name")


@router.post("/customers/{cid}/hub/locations/new")
def location_create(request: Request, cid: str):
    return _save_location(request, cid, None)


@router.post("/customers/{cid}/hub/locations/{lid}")
def location_update(request: Request, cid: str, lid: str):
    return _save_location(request, cid, lid)


# --- settings --------------------------------------------------------------------------------

def _sites(s: Session, customer: Customer | None) -> dict[str, Any]:
    assert customer is not None
    return {"sites": settings_service.meeting_sites(s, customer)}


@router.get("/customers/{cid}/hub/settings")
def settings_page(request: Request, cid: str):
    def load(s: Session, customer: Customer | None) -> dict[str, Any]:
        assert customer is not None
        return {**_sites(s, customer), "form": {"name": customer.name, "language": customer.language,
                                                "preferredSite": customer.preferred_site_url or ""}}

    return customer_page(request, cid, "hub_settings.html", load, errors={}, languages=LANGUAGES,
                         saved=request.query_params.get("saved") == "1")


@router.post("/customers/{cid}/hub/settings")
def settings_save(request: Request, cid: str):
    ctx = opened(request, write=True)
    f = form_fields(ctx, 300)

    def work(s: Session) -> str:
        settings_service.update_settings(s, ctx.caller, cid, name=f.get("name", ""), language=f.get("language", ""),
                                         preferred_site_url=f.get("preferredSite", ""))
        return f"/customers/{cid}/hub/settings?saved=1"

    return submit(ctx, work, lambda errors: show(ctx, cid, "hub_settings.html", _sites, form=f, errors=errors,
                                                 languages=LANGUAGES, saved=False), default="name")
