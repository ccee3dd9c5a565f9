"""Partner Hub: home (dashboard), customers, onboarding, onboarding templates, customer, allocations."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from rtmhub.domain.access import service as access
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.audit import service as audit
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers import settings_service
from rtmhub.domain.customers.models import CUSTOMER_STATUSES, Customer
from rtmhub.domain.customers.schemas import CustomerCreate, CustomerFilter
from rtmhub.domain.locations import service as locations
from rtmhub.domain.packages.models import display_name
from rtmhub.domain.partners import service as partners
from rtmhub.domain.tasks import service as tasks
from rtmhub.domain.users import service as users
from rtmhub.errors import Conflict, DomainError, ValidationFailed
from rtmhub.web.forms import (
    LANGUAGES,
    PAGE,
    Errors,
    FormInvalid,
    customer_page,
    errors_of,
    form_fields,
    opened,
    package_bars,
    page_args,
    pydantic_errors,
    show,
    status_label,
    submit,
    task_type_label,
)
from rtmhub.web.support import WebRoute, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/")
def home(request: Request):
    ctx = opened(request)
    if not ctx.caller.is_partner:
        return RedirectResponse(f"/customers/{ctx.caller.customer_id}/hub/users", status_code=303)

    def load(s: Session, _customer: Customer | None) -> dict[str, Any]:
        summary = customers.usage_summary(s, ctx.caller)
        recent = tasks.list_tasks(s, ctx.caller, limit=6)
        totals = [{"id": t.package, "name": display_name(t.package), "allocated": t.allocated, "used": t.used,
                   "unlimited": t.unlimited} for t in summary.totals]
        closest = [{"id": c.customer_id, "name": c.customer_name, "package": display_name(c.package),
                    "used": c.used, "allocation": c.allocation, "ratio": c.ratio} for c in summary.nearest_full]
        return {"totals": totals, "scale": max([max(t["allocated"], t["used"]) for t in totals] + [1]),
                "closest": closest, "recent": recent, "customer_count": summary.customer_count,
                "names": customers.names(s, ctx.caller, (t.customer_id for t in recent))}

    return show(ctx, None, "dashboard.html", load, hub=False, status_label=status_label,
                type_label=task_type_label)


@router.get("/customers")
def customer_list(request: Request):
    ctx = opened(request, partner=True)
    q = request.query_params.get("q", "").strip()[:100]
    status = request.query_params.get("status", "")
    status = status if status in CUSTOMER_STATUSES else ""
    page = page_args(request)

    def load(s: Session, _customer: Customer | None) -> dict[str, Any]:
        flt = CustomerFilter(search=q or None, statuses=[status] if status else None)
        rows = customers.list_customers(s, ctx.caller, flt, offset=(page - 1) * PAGE, limit=PAGE + 1)
        packs = customers.packages_by_customer(s, ctx.caller, (c.id for c in rows[:PAGE]))
        return {"items": [{"customer": c, "bars": package_bars(packs.get(c.id, []))} for c in rows[:PAGE]],
                "more": len(rows) > PAGE}

    return show(ctx, None, "customers.html", load, hub=False, q=q, status=status, statuses=CUSTOMER_STATUSES,
                status_label=status_label, page=page)


# --- onboarding ------------------------------------------------------------------------------

def _onboard_values(s: Session, caller: Caller) -> dict[str, Any]:
    return {"templates": customers.onboarding_templates(s, caller), "packages": customers.onboarding_choices(),
            "languages": LANGUAGES}


# The form's field for each field of the wholesale request the page builds.
ONBOARD_FIELDS = {
    "customerInfo.name": "name", "customerInfo.primaryEmail": "primaryEmail",
    "customerInfo.language": "language", "address.addressLine1": "addressLine1",
    "address.city": "city", "address.country": "country", "address.zipOrPostalCode": "zipOrPostalCode",
    "address.addressLine2": "addressLine2",
    "provisioningParameters.packages.limits": "packages",
    "provisioningParameters.calling.location": "location.name",
    "provisioningParameters.calling.location.name": "location.name",
    "provisioningParameters.calling.location.timezone": "location.timezone",
    "provisioningParameters.calling.location.language": "location.language",
    "provisioningParameters.meetings.timezone": "meetings.timezone"}


@router.get("/customers/new")
def onboard_page(request: Request):
    ctx = opened(request, partner=True, write=True)
    form = {"country": "FI", "language": "fi", "location.timezone": "Europe/Helsinki",
            "location.language": "fi_FI", "meetings.timezone": "Europe/Helsinki"}
    return show(ctx, None, "onboard.html", lambda s, _c: _onboard_values(s, ctx.caller), hub=False, form=form,
                chosen=[], errors={})


def _onboard_body(f: dict[str, str], chosen: list[str], limits: dict[str, int]) -> dict[str, Any]:
    """The wholesale customer request (the API's shape) that the form stands for."""
    address = {"addressLine1": f.get("addressLine1", ""), "addressLine2": f.get("addressLine2") or None,
               "city": f.get("city", ""), "zipOrPostalCode": f.get("zipOrPostalCode") or None,
               "country": f.get("country", "").upper()}
    params: dict[str, Any] = {"packages": {"limits": limits}}
    if f.get("meetings.timezone"):
        params["meetings"] = {"timezone": f["meetings.timezone"]}
    if customers.needs_first_location(chosen) or f.get("location.name"):
        params["calling"] = {"location": {"name": f.get("location.name", ""), "address": address,
                                          "timezone": f.get("location.timezone", ""),
                                          "language": f.get("location.language", "")}}
    return {"provisioningId": f.get("provisioningId", ""), "packages": chosen, "externalId": f.get("externalId", ""),
            "address": address,
            "customerInfo": {"name": f.get("name", ""), "primaryEmail": f.get("primaryEmail", ""),
                             "language": f.get("language") or None},
            "provisioningParameters": params}


@router.post("/customers/new")
def onboard(request: Request):
    ctx = opened(request, partner=True, write=True)
    form = ctx.form
    f = form_fields(ctx)
    chosen = [p for p in form.getlist("packages") if isinstance(p, str)][:20]
    errors: Errors = {}
    limits: dict[str, int] = {}
    for p in chosen:
        raw = f.get(f"limit.{p}", "")
        if raw:
            try:
                limits[p] = int(raw)
            except ValueError:
                errors.setdefault(f"limit.{p}", []).append(ctx._("Enter a whole number, or leave empty for unlimited."))

    def rerender(found: Errors):
        return show(ctx, None, "onboard.html", lambda s, _c: _onboard_values(s, ctx.caller), hub=False, form=f,
                    chosen=chosen, errors=found)

    data = None
    try:
        data = CustomerCreate.model_validate(_onboard_body(f, chosen, limits))
    except ValidationError as exc:
        for k, v in pydantic_errors(ctx, exc).items():
            errors.setdefault(ONBOARD_FIELDS.get(k, k), []).extend(v)

    result: dict[str, Any] = {}

    def work(s: Session) -> str:
        assert data is not None
        created = customers.provision(s, ctx.caller, data)
        if errors:  # the service found nothing more: undo, the allocations must be fixed first
            raise FormInvalid(errors)
        # R5: the first administrator's set-password link, shown once on the result page (only its hash is kept).
        admin, token, expires = access.reset_link(s, ctx.caller, email=created.primary_email, customer_id=created.id)
        result.update(customer_id=created.id, customer_name=created.name, email=admin.email, expires=expires,
                      link=request.app.state.settings.base_url(str(request.base_url)) + access.SET_PASSWORD_PATH
                      + token)
        return f"/customers/{created.id}?created=1"

    def explain(exc: DomainError) -> Errors:
        for k, v in errors_of(ctx, exc).items():
            k = ONBOARD_FIELDS.get(k, k)
            if k.startswith("provisioningParameters.calling.location.address."):
                k = k.rsplit(".", 1)[-1]
                if k in errors:  # the location uses the billing address: say it once
                    continue
            errors.setdefault(k, []).extend(v)
        return errors

    # An invalid request shape stops before the unit; limits that are no numbers do not, so the
    # service can report everything else at once.
    response = submit(ctx, work, rerender, errors=errors if data is None else None, explain=explain)
    if response.status_code != 303 or not result:
        return response
    # The onboarding result is rendered, not redirected to: the link exists only in this response
    # (Cache-Control: no-store); `rtmhub admin reset-link` or the customer page makes a new one.
    return render(ctx, "onboarded.html", hub=False, **result)


# --- onboarding templates --------------------------------------------------------------------

def _templates(s: Session, caller: Caller) -> dict[str, Any]:
    return {"templates": partners.list_templates(s, caller)}


@router.get("/templates")
def templates_page(request: Request):
    ctx = opened(request, partner=True)
    return show(ctx, None, "templates.html", lambda s, _c: _templates(s, ctx.caller), hub=False,
                form={"country": "FI", "language": "fi"}, errors={}, languages=LANGUAGES,
                created=request.query_params.get("created") == "1")


@router.post("/templates")
def template_create(request: Request):
    ctx = opened(request, partner=True, write=True)
    f = form_fields(ctx, 200)

    def work(s: Session) -> str:
        partners.create_template(s, ctx.caller, access.partner_of(s, ctx.caller), f.get("name", ""),
                                 f.get("country", "").upper(), f.get("language", ""))
        return "/templates?created=1"

    return submit(ctx, work, lambda errors: show(
        ctx, None, "templates.html", lambda s, _c: _templates(s, ctx.caller), hub=False, form=f, errors=errors,
        languages=LANGUAGES, created=False), default="name")


# --- one customer ----------------------------------------------------------------------------

@router.get("/customers/{cid}")
def customer_detail(request: Request, cid: str):
    ctx = opened(request, partner=True)

    def load(s: Session, customer: Customer | None) -> dict[str, Any]:
        assert customer is not None
        return {"bars": package_bars(customers.packages_of(s, customer.id)),
                "locations": locations.list_locations(s, customer, limit=100),
                "sites": settings_service.meeting_sites(s, customer),
                "events": audit.recent_events(s, ctx.caller, customer.id, limit=15),
                "user_count": users.count_users(s, customer),
                "admins": access.customer_admins(s, ctx.caller, customer.id)}

    return show(ctx, cid, "customer.html", load, hub=False, status_label=status_label,
                created=request.query_params.get("created") == "1",
                saved=request.query_params.get("saved") == "1")


def _allocation_rows(s: Session, customer: Customer | None) -> dict[str, Any]:
    assert customer is not None
    return {"rows": customers.packages_of(s, customer.id)}


@router.get("/customers/{cid}/allocations")
def allocations_page(request: Request, cid: str):
    def load(s: Session, customer: Customer | None) -> dict[str, Any]:
        values = _allocation_rows(s, customer)
        values["form"] = {f"alloc.{r.package}": "" if r.allocation is None else str(r.allocation)
                          for r in values["rows"]}
        return values

    return customer_page(request, cid, "allocations.html", load, partner=True, writable=True, hub=False,
                         errors={}, display_name=display_name)


@router.post("/customers/{cid}/allocations")
def allocations_save(request: Request, cid: str):
    ctx = opened(request, partner=True)
    form = form_fields(ctx)

    def work(s: Session) -> str:
        errors: Errors = {}
        customer = access.get_customer(s, ctx.caller, cid, write=True)
        for row in customers.packages_of(s, customer.id):
            key = f"alloc.{row.package}"
            if key not in form:
                continue
            bad_value = [ctx._("Enter a whole number from 0 to 10,000,000, or leave empty for unlimited.")]
            try:
                value = None if form[key] == "" else int(form[key])
            except ValueError:
                errors[key] = bad_value
                continue
            if value == row.allocation:
                continue
            try:  # the service holds the bounds (D3) and refuses a limit below the units in use
                customers.set_allocation(s, ctx.caller, customer.id, row.package, value)
            except ValidationFailed:
                errors[key] = bad_value
            except Conflict:
                errors[key] = [ctx._("{package} cannot be limited to {value}: {used} units are assigned.",
                                     package=display_name(row.package), value=ctx.num(value), used=ctx.num(row.used))]
        if errors:
            raise FormInvalid(errors)
        return f"/customers/{cid}?saved=1"

    return submit(ctx, work, lambda errors: show(ctx, cid, "allocations.html", _allocation_rows, hub=False,
                                                 form=form, errors=errors, display_name=display_name))
