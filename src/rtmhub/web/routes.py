"""Partner Hub and Control Hub pages: thin adapters over the domain services (one unit of work each)."""
from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from pydantic import ValidationError
from sqlalchemy import func, select

from rtmhub.domain.access import service as access
from rtmhub.domain.access.models import AdminAccount
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers import settings_service
from rtmhub.domain.customers.models import CUSTOMER_STATUSES, Customer, CustomerPackage
from rtmhub.domain.customers.schemas import CustomerCreate, CustomerFilter
from rtmhub.domain.locations import service as locations
from rtmhub.domain.locations.schemas import LocationCreate, LocationUpdate
from rtmhub.domain.packages.models import (
    BASE_LICENCES,
    CALLING_PACKAGES,
    LIMIT_KEYS,
    PACKAGES,
    USER_PACKAGES,
    display_name,
)
from rtmhub.domain.partners import service as partners
from rtmhub.domain.partners.models import OnboardingTemplate, Partner
from rtmhub.domain.tasks import service as tasks
from rtmhub.domain.tasks.models import FINISHED, Task
from rtmhub.domain.users import service as users
from rtmhub.domain.users.schemas import UserFields, UserFilter
from rtmhub.errors import AllocationExceeded, Conflict, DomainError, Forbidden, Message
from rtmhub.web.support import (
    THROTTLE,
    Ctx,
    WebRoute,
    base_ctx,
    new_session,
    reading,
    render,
    safe_next,
    signed_in,
)

router = APIRouter(route_class=WebRoute, include_in_schema=False)
PAGE = 50
CSV_TYPE = "text/csv; charset=utf-8"
LANGUAGES = (("en", "English"), ("fi", "Suomi"), ("sv", "Svenska"), ("de", "Deutsch"), ("fr", "Français"))
ONBOARD_PACKAGES = (*USER_PACKAGES, "common_area_calling", "attendant_console", "cisco_calling_plan")


class _Rollback(Exception):
    """Raised inside a unit of work to undo it after field errors were collected."""


# --- helpers ---------------------------------------------------------------------------------

def status_label(ctx: Ctx, status: str) -> str:
    _ = ctx._
    return {
        "provisioned": _("Provisioned"), "provisioned_with_errors": _("Provisioned with errors"),
        "provisioning": _("Provisioning"), "updating": _("Updating"), "deleting": _("Deleting"),
        "error": _("Error"), "pending_rpl_review": _("Pending compliance review"),
        "queued": _("Queued"), "running": _("Running"), "completed": _("Completed"),
        "completed_with_errors": _("Completed with errors"), "failed": _("Failed"), "cancelled": _("Cancelled"),
        "add": _("Add"), "modify": _("Modify"), "delete": _("Delete"), "unchanged": _("Unchanged"),
    }.get(status, status)


def task_type_label(ctx: Ctx, kind: str) -> str:
    return {"csv_preview": ctx._("CSV preview (dry run)"), "csv_import": ctx._("CSV import")}.get(kind, kind)


def mode_label(ctx: Ctx, mode: str) -> str:
    return {"add": ctx._("Add services only"), "add-remove": ctx._("Add and remove services")}.get(mode, mode)


def require_partner(ctx: Ctx) -> None:
    if not ctx.caller.is_partner:
        raise Forbidden("Only partner administrators can open Partner Hub pages.")


def require_write(ctx: Ctx) -> None:
    if not ctx.can_write:
        raise Forbidden("A read-only administrator cannot change anything.")


def localised(ctx: Ctx, field: str | None, code: int | None, text: str) -> str:
    """The services speak English (the API contract). Outside English the commonest field errors are
    said in the page's language; anything else keeps the service's own precise message."""
    if ctx.lang == "en":
        return text
    if isinstance(text, Message):
        return ctx._(text.template, **text.params)
    _ = ctx._
    by_code = {10022: _("This e-mail address is already in use."),
               4201: _("This phone number is already in use by another user."),
               4202: _("This extension is already in use in this location.")}
    if code in by_code:
        return by_code[code]
    last = (field or "").rsplit(".", 1)[-1]
    by_field = {
        "email": _("Enter a valid e-mail address, for example name@example.com."),
        "primaryEmail": _("Enter a valid e-mail address, for example name@example.com."),
        "firstName": _("Check the first name: it must not contain % # < > \\ / \"."),
        "lastName": _("Check the last name: it must not contain % # < > \\ / \"."),
        "extension": _("Enter an extension of 2 to 10 digits, or a phone number."),
        "phoneNumber": _("Enter the phone number in E.164 form, for example +358912345678."),
        "locationId": _("Choose a location."),
        "callerIdFirstName": _("A calling user needs a first name and a last name."),
        "callerIdLastName": _("A calling user needs a first name and a last name."),
        "name": _("Enter a name without the character %."),
        "timeZone": _("Enter a time zone such as Europe/Helsinki."),
        "timezone": _("Enter a time zone such as Europe/Helsinki."),
        "language": _("Enter a language code such as fi_FI or en."),
        "preferredLanguage": _("Enter a language code such as fi_FI or en."),
        "country": _("Enter a two-letter country code in capitals, for example FI."),
        "addressLine1": _("This field is required."), "address1": _("This field is required."),
        "city": _("This field is required."), "externalId": _("This field is required."),
        "packages": _("Check the packages: at least one is needed, and some need another package with them."),
        "limits": _("Check the allocations: whole numbers from 0 to 10,000,000, for chosen packages only."),
        "preferredSite": _("Choose one of this organisation's Webex sites."),
        "package": _("Choose a package that this customer has."),
    }
    return by_field.get(last, text)


def row_message(ctx: Ctx, message: dict[str, str]) -> str:
    """A task row's message (the planner's English) in the page's language where a pattern is known."""
    text = message.get("message", "")
    if ctx.lang == "en":
        return text
    template = message.get("template")
    if template:
        return ctx._(template, **(message.get("params") or {}))
    column = message.get("column") or ""
    return localised(ctx, {"Extension": "extension", "Phone Number": "phoneNumber", "Location": "locationId",
                           "First Name": "firstName", "Last Name": "lastName"}.get(column), None, text)


def errors_of(ctx: Ctx, exc: DomainError, mapping: dict[str, str] | None = None,
              default: str = "_form") -> dict[str, list[str]]:
    """Domain errors by field (the field names of the services); errors without a field go to ``default``.
    Refusals (403, 404) are not form errors: they are raised again for the error page."""
    if exc.status in (403, 404):
        raise exc
    out: dict[str, list[str]] = {}
    for err in exc.errors:
        field = err.field
        if field is None:
            field = {10022: "email", 4201: "phoneNumber", 4202: "extension"}.get(err.error_code or 0, default)
        text = localised(ctx, err.field or field, err.error_code, err.description)
        field = (mapping or {}).get(field, field)
        if text not in out.get(field, []):
            out.setdefault(field, []).append(text)
    return out


def pydantic_errors(ctx: Ctx, exc: ValidationError, prefix_map: dict[str, str] | None = None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for err in exc.errors():
        field = ".".join(str(p) for p in err.get("loc", ()))
        for old, new in (prefix_map or {}).items():
            if field.startswith(old):
                field = new + field[len(old):]
        if err.get("type") == "string_too_long":
            text = ctx._("Too long: at most {n} characters.", n=err.get("ctx", {}).get("max_length", "?"))
        elif err.get("type") == "missing":
            text = ctx._("This field is required.")
        else:
            text = ctx._("Check this value.")
        out.setdefault(field, []).append(text)
    return out


def allocation_message(ctx: Ctx, s, customer_id: str, package: str) -> str:
    row = s.scalar(select(CustomerPackage).where(CustomerPackage.customer_id == customer_id,
                                                 CustomerPackage.package == package))
    used, total = (row.used, row.allocation) if row else (0, 0)
    return ctx._("{package} is fully used: {used} of {total} used. Free a unit or ask your partner to raise "
                 "the allocation.", package=display_name(package), used=ctx.num(used), total=ctx.num(total or 0))


def package_options(s, customer: Customer) -> list[dict[str, Any]]:
    rows = customers.packages_of(s, customer.id)
    out = []
    for row in rows:
        if row.package not in USER_PACKAGES:
            continue
        full = row.allocation is not None and row.used >= row.allocation
        out.append({"id": row.package, "name": display_name(row.package), "used": row.used,
                    "allocation": row.allocation, "full": full, "calling": row.package in CALLING_PACKAGES})
    return out


def package_bars(rows: list[CustomerPackage]) -> list[dict[str, Any]]:
    bars = []
    for row in rows:
        ratio = (row.used / row.allocation) if row.allocation else (0.0 if row.allocation is not None else None)
        bars.append({"id": row.package, "name": display_name(row.package), "used": row.used,
                     "allocation": row.allocation, "ratio": min(ratio, 1.0) if ratio is not None else None,
                     "level": "full" if ratio is not None and ratio >= 1 else
                     "high" if ratio is not None and ratio >= 0.9 else "ok"})
    return bars


def hub_customer(ctx: Ctx, s, cid: str, write: bool = False) -> Customer:
    return access.get_customer(s, ctx.caller, cid, write=write)


def hub_render(ctx: Ctx, customer: Customer, template: str, http_status: int = 200, **values: Any):
    return render(ctx, template, http_status=http_status, customer=customer, hub=True, **values)


def page_args(request: Request) -> int:
    try:
        return max(1, min(int(request.query_params.get("page", "1")), 1_000_000))
    except ValueError:
        return 1


# --- sign-in ---------------------------------------------------------------------------------

@router.get("/signin")
def signin_page(request: Request):
    ctx = signed_in(request, required=False)
    if ctx.caller is not None:
        return RedirectResponse("/", status_code=303)
    return render(ctx, "signin.html", next=safe_next(request.query_params.get("next")), email="", error=None)


@router.post("/signin")
def signin(request: Request):
    ctx = base_ctx(request)
    form = ctx.form
    email = str(form.get("email", "")).strip()[:200]
    password = str(form.get("password", ""))[:1024]
    target = safe_next(str(form.get("next", "/")))
    key = (email.lower(), request.client.host if request.client else "-")
    if THROTTLE.blocked(key):
        return render(ctx, "signin.html", http_status=429, next=target, email=email,
                      error=ctx._("Too many failed sign-ins. Wait 15 minutes and try again."))
    with reading(ctx) as s:
        account = s.scalar(select(AdminAccount).where(AdminAccount.email_key == email.lower())) if email else None
        ok = account is not None and access.verify_password(account, password)
        admin_id = account.id if ok else None
    if not ok:
        THROTTLE.fail(key)
        return render(ctx, "signin.html", http_status=401, next=target, email=email,
                      error=ctx._("The e-mail address or password is wrong."))
    THROTTLE.clear(key)
    request.state.web_session = new_session(admin_id)  # a fresh session (and CSRF token) at sign-in
    return RedirectResponse(target, status_code=303)


@router.post("/signout")
def signout(request: Request):
    request.state.web_session = new_session()
    return RedirectResponse("/signin", status_code=303)


# --- Partner Hub -----------------------------------------------------------------------------

@router.get("/")
def home(request: Request):
    ctx = signed_in(request)
    if not ctx.caller.is_partner:
        return RedirectResponse(f"/customers/{ctx.caller.customer_id}/hub/users", status_code=303)
    with reading(ctx) as s:
        stmt = access.scope_customers(
            select(Customer.id, Customer.name, CustomerPackage.package, CustomerPackage.allocation,
                   CustomerPackage.used)
            .join(CustomerPackage, CustomerPackage.customer_id == Customer.id)
            .where(CustomerPackage.package.not_in(BASE_LICENCES)), ctx.caller)
        totals: dict[str, dict[str, Any]] = {}
        fullness: dict[str, dict[str, Any]] = {}
        for cid, name, package, allocation, used in s.execute(stmt):
            t = totals.setdefault(package, {"id": package, "name": display_name(package), "allocated": 0,
                                            "used": 0, "unlimited": False})
            t["used"] += used
            if allocation is None:
                t["unlimited"] = True
            else:
                t["allocated"] += allocation
                ratio = used / allocation if allocation else 1.0
                best = fullness.get(cid)
                if best is None or ratio > best["ratio"]:
                    fullness[cid] = {"id": cid, "name": name, "package": display_name(package), "used": used,
                                     "allocation": allocation, "ratio": ratio}
        customer_count = s.scalar(access.scope_customers(select(func.count()).select_from(Customer), ctx.caller))
        recent = tasks.list_tasks(s, ctx.caller, limit=6)
        names = dict(s.execute(select(Customer.id, Customer.name).where(
            Customer.id.in_({t.customer_id for t in recent}))).all()) if recent else {}
    order = {p: i for i, p in enumerate(PACKAGES)}
    package_totals = sorted(totals.values(), key=lambda t: order.get(t["id"], 99))
    scale = max([max(t["allocated"], t["used"]) for t in package_totals] + [1])
    closest = sorted(fullness.values(), key=lambda c: -c["ratio"])[:6]
    return render(ctx, "dashboard.html", totals=package_totals, scale=scale, closest=closest, recent=recent,
                  names=names, customer_count=customer_count, status_label=status_label,
                  type_label=task_type_label)


@router.get("/customers")
def customer_list(request: Request):
    ctx = signed_in(request)
    require_partner(ctx)
    q = request.query_params.get("q", "").strip()[:100]
    status = request.query_params.get("status", "")
    status = status if status in CUSTOMER_STATUSES else ""
    page = page_args(request)
    with reading(ctx) as s:
        flt = CustomerFilter(search=q or None, statuses=[status] if status else None)
        rows = customers.list_customers(s, ctx.caller, flt, offset=(page - 1) * PAGE, limit=PAGE + 1)
        more = len(rows) > PAGE
        rows = rows[:PAGE]
        packs: dict[str, list[CustomerPackage]] = {}
        if rows:
            for row in s.scalars(select(CustomerPackage).where(
                    CustomerPackage.customer_id.in_([c.id for c in rows]),
                    CustomerPackage.package.not_in(BASE_LICENCES)).order_by(CustomerPackage.created,
                                                                            CustomerPackage.package)):
                packs.setdefault(row.customer_id, []).append(row)
        items = [{"customer": c, "bars": package_bars(packs.get(c.id, []))} for c in rows]
    return render(ctx, "customers.html", items=items, q=q, status=status, statuses=CUSTOMER_STATUSES,
                  status_label=status_label, page=page, more=more)


def _onboard_values(ctx: Ctx, s) -> dict[str, Any]:
    templates = list(s.scalars(select(OnboardingTemplate).where(
        OnboardingTemplate.partner_id.in_(ctx.caller.partner_ids or ("",))).order_by(OnboardingTemplate.name)))
    return {"templates": templates, "packages": [(p, display_name(p), p in LIMIT_KEYS, p in CALLING_PACKAGES)
                                                 for p in ONBOARD_PACKAGES],
            "languages": LANGUAGES}


@router.get("/customers/new")
def onboard_page(request: Request):
    ctx = signed_in(request)
    require_partner(ctx)
    require_write(ctx)
    with reading(ctx) as s:
        values = _onboard_values(ctx, s)
    form = {"country": "FI", "language": "fi", "location.timezone": "Europe/Helsinki",
            "location.language": "fi_FI", "meetings.timezone": "Europe/Helsinki"}
    return render(ctx, "onboard.html", form=form, chosen=[], errors={}, **values)


@router.post("/customers/new")
def onboard(request: Request):
    ctx = signed_in(request)
    require_partner(ctx)
    require_write(ctx)
    form = ctx.form
    f = {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}
    chosen = [p for p in form.getlist("packages") if isinstance(p, str)][:20]
    errors: dict[str, list[str]] = {}
    limits: dict[str, int] = {}
    for p in chosen:
        raw = f.get(f"limit.{p}", "")
        if raw:
            try:
                limits[p] = int(raw)
            except ValueError:
                errors.setdefault(f"limit.{p}", []).append(ctx._("Enter a whole number, or leave empty for unlimited."))
    address = {"addressLine1": f.get("addressLine1", ""), "addressLine2": f.get("addressLine2") or None,
               "city": f.get("city", ""), "zipOrPostalCode": f.get("zipOrPostalCode") or None,
               "country": f.get("country", "").upper()}
    params: dict[str, Any] = {"packages": {"limits": limits}}
    if f.get("meetings.timezone"):
        params["meetings"] = {"timezone": f["meetings.timezone"]}
    if CALLING_PACKAGES & set(chosen) or f.get("location.name"):
        params["calling"] = {"location": {"name": f.get("location.name", ""), "address": address,
                                          "timezone": f.get("location.timezone", ""),
                                          "language": f.get("location.language", "")}}
    body = {"provisioningId": f.get("provisioningId", ""), "packages": chosen, "externalId": f.get("externalId", ""),
            "address": address,
            "customerInfo": {"name": f.get("name", ""), "primaryEmail": f.get("primaryEmail", ""),
                             "language": f.get("language") or None},
            "provisioningParameters": params}
    mapping = {"customerInfo.name": "name", "customerInfo.primaryEmail": "primaryEmail",
               "customerInfo.language": "language", "address.addressLine1": "addressLine1",
               "address.city": "city", "address.country": "country", "address.zipOrPostalCode": "zipOrPostalCode",
               "address.addressLine2": "addressLine2",
               "provisioningParameters.packages.limits": "packages",
               "provisioningParameters.calling.location": "location.name",
               "provisioningParameters.calling.location.name": "location.name",
               "provisioningParameters.calling.location.timezone": "location.timezone",
               "provisioningParameters.calling.location.language": "location.language",
               "provisioningParameters.meetings.timezone": "meetings.timezone"}
    created = None
    try:
        data = CustomerCreate.model_validate(body)
    except ValidationError as exc:
        for k, v in pydantic_errors(ctx, exc).items():
            errors.setdefault(mapping.get(k, k), []).extend(v)
    else:
        try:
            with ctx.db.unit_of_work() as s:
                created = customers.provision(s, ctx.caller, data).id
                if errors:  # the service found nothing more: undo, the allocations must be fixed first
                    created = None
                    raise _Rollback()
        except _Rollback:
            pass
        except DomainError as exc:
            if isinstance(exc, Forbidden):
                raise
            for k, v in errors_of(ctx, exc).items():
                k = mapping.get(k, k)
                if k.startswith("provisioningParameters.calling.location.address."):
                    k = k.rsplit(".", 1)[-1]
                    if k in errors:  # the location uses the billing address: say it once
                        continue
                errors.setdefault(k, []).extend(v)
    if created:
        return RedirectResponse(f"/customers/{created}?created=1", status_code=303)
    with reading(ctx) as s:
        values = _onboard_values(ctx, s)
    return render(ctx, "onboard.html", http_status=400, form=f, chosen=chosen, errors=errors, **values)


@router.get("/templates")
def templates_page(request: Request):
    ctx = signed_in(request)
    require_partner(ctx)
    with reading(ctx) as s:
        rows = partners.list_templates(s, ctx.caller)
    return render(ctx, "templates.html", templates=rows, form={"country": "FI", "language": "fi"}, errors={},
                  languages=LANGUAGES, created=request.query_params.get("created") == "1")


@router.post("/templates")
def template_create(request: Request):
    ctx = signed_in(request)
    require_partner(ctx)
    require_write(ctx)
    f = {k: str(v).strip()[:200] for k, v in ctx.form.items() if isinstance(v, str)}
    try:
        with ctx.db.unit_of_work() as s:
            partner = s.get(Partner, ctx.caller.partner_id)
            partners.create_template(s, ctx.caller, partner, f.get("name", ""), f.get("country", "").upper(),
                                     f.get("language", ""))
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        with reading(ctx) as s:
            rows = partners.list_templates(s, ctx.caller)
        return render(ctx, "templates.html", http_status=400, templates=rows, form=f,
                      errors=errors_of(ctx, exc, default="name"), languages=LANGUAGES, created=False)
    return RedirectResponse("/templates?created=1", status_code=303)


@router.get("/customers/{cid}")
def customer_detail(request: Request, cid: str):
    ctx = signed_in(request)
    require_partner(ctx)
    with reading(ctx) as s:
        customer = access.get_customer(s, ctx.caller, cid)
        bars = package_bars(customers.packages_of(s, customer.id))
        locs = locations.list_locations(s, customer, limit=100)
        sites = settings_service.meeting_sites(s, customer)
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.customer_id == customer.id)
                                .order_by(AuditEvent.at.desc()).limit(15)))
        user_count = users.count_users(s, customer)
    return render(ctx, "customer.html", customer=customer, bars=bars, locations=locs, sites=sites, events=events,
                  user_count=user_count, status_label=status_label,
                  created=request.query_params.get("created") == "1",
                  saved=request.query_params.get("saved") == "1")


def _allocation_rows(s, customer: Customer) -> list[CustomerPackage]:
    return customers.packages_of(s, customer.id)


@router.get("/customers/{cid}/allocations")
def allocations_page(request: Request, cid: str):
    ctx = signed_in(request)
    require_partner(ctx)
    with reading(ctx) as s:
        customer = access.get_customer(s, ctx.caller, cid, write=True)
        rows = _allocation_rows(s, customer)
        form = {f"alloc.{r.package}": "" if r.allocation is None else str(r.allocation) for r in rows}
    return render(ctx, "allocations.html", customer=customer, rows=rows, form=form, errors={},
                  display_name=display_name)


@router.post("/customers/{cid}/allocations")
def allocations_save(request: Request, cid: str):
    ctx = signed_in(request)
    require_partner(ctx)
    form = {k: str(v).strip() for k, v in ctx.form.items() if isinstance(v, str)}
    errors: dict[str, list[str]] = {}
    try:
        with ctx.db.unit_of_work() as s:
            customer = access.get_customer(s, ctx.caller, cid, write=True)
            for row in _allocation_rows(s, customer):
                key = f"alloc.{row.package}"
                if key not in form:
                    continue
                raw = form[key]
                try:
                    value = None if raw == "" else int(raw)
                    if value is not None and not 0 <= value <= 10_000_000:
                        raise ValueError
                except ValueError:
                    errors[key] = [ctx._("Enter a whole number from 0 to 10,000,000, or leave empty for unlimited.")]
                    continue
                if value != row.allocation:
                    try:
                        customers.set_allocation(s, ctx.caller, customer.id, row.package, value)
                    except Conflict:
                        errors[key] = [ctx._("{package} cannot be limited to {value}: {used} units are assigned.",
                                             package=display_name(row.package), value=ctx.num(value),
                                             used=ctx.num(row.used))]
            if errors:
                raise _Rollback() from None
    except _Rollback:
        with reading(ctx) as s:
            customer = access.get_customer(s, ctx.caller, cid)
            rows = _allocation_rows(s, customer)
        return render(ctx, "allocations.html", http_status=400, customer=customer, rows=rows, form=form, errors=errors,
                      display_name=display_name)
    return RedirectResponse(f"/customers/{cid}?saved=1", status_code=303)


# --- Control Hub: users ----------------------------------------------------------------------

@router.get("/customers/{cid}/hub")
def hub_home(request: Request, cid: str):
    signed_in(request)
    return RedirectResponse(f"/customers/{cid}/hub/users", status_code=303)


@router.get("/customers/{cid}/hub/users")
def hub_users(request: Request, cid: str):
    ctx = signed_in(request)
    q = request.query_params.get("q", "").strip()[:100]
    package = request.query_params.get("package", "")
    package = package if package in (*USER_PACKAGES, "none") else ""
    page = page_args(request)
    with reading(ctx) as s:
        customer = hub_customer(ctx, s, cid)
        flt = UserFilter(search=q or None, package=package or None)
        total = users.count_users(s, customer, flt)
        rows = users.list_users(s, customer, flt, offset=(page - 1) * PAGE, limit=PAGE)
        options = package_options(s, customer)
    pages = max(1, math.ceil(total / PAGE))
    return hub_render(ctx, customer, "hub_users.html", rows=rows, total=total, q=q, package=package, page=page,
                      pages=pages, options=options, display_name=display_name, status_label=status_label,
                      added=request.query_params.get("added"))


@router.get("/customers/{cid}/hub/users/manage")
def hub_manage(request: Request, cid: str):
    ctx = signed_in(request)
    with reading(ctx) as s:
        customer = hub_customer(ctx, s, cid)
    return hub_render(ctx, customer, "hub_manage.html")


ROW_FIELDS = ("email", "firstName", "lastName", "package", "extension", "phoneNumber", "locationId")
FIELD_NAMES = {"first_name": "firstName", "last_name": "lastName", "phone_number": "phoneNumber",
               "location_id": "locationId", "callerIdFirstName": "firstName", "callerIdLastName": "lastName",
               "callerIdNumber": "phoneNumber"}


@router.get("/customers/{cid}/hub/users/add")
def add_users_page(request: Request, cid: str):
    ctx = signed_in(request)
    require_write(ctx)
    try:
        count = max(1, min(int(request.query_params.get("rows", "5")), users.MANUAL_ADD_MAX))
    except ValueError:
        count = 5
    with reading(ctx) as s:
        customer = hub_customer(ctx, s, cid, write=True)
        options = package_options(s, customer)
        locs = locations.list_locations(s, customer)
    rows = [{"values": {}, "errors": {}, "added": False} for _ in range(count)]
    return hub_render(ctx, customer, "hub_add.html", rows=rows, options=options, locations=locs, form_error=None,
                      max_rows=users.MANUAL_ADD_MAX)


@router.post("/customers/{cid}/hub/users/add")
def add_users(request: Request, cid: str):
    ctx = signed_in(request)
    require_write(ctx)
    form = ctx.form
    try:
        count = max(0, min(int(str(form.get("rows", "0"))), users.MANUAL_ADD_MAX))
    except ValueError:
        count = 0
    rows: list[dict[str, Any]] = []
    for i in range(count):
        values = {f: str(form.get(f"r{i}.{f}", "")).strip()[:300] for f in ROW_FIELDS}
        added = str(form.get(f"r{i}.added", "")) == "1"
        rows.append({"values": values, "errors": {}, "added": added})
    pending = [r for r in rows if not r["added"] and any(v for k, v in r["values"].items() if k != "locationId")]
    form_error = None
    with ctx.db.unit_of_work() as s:
        customer = hub_customer(ctx, s, cid, write=True)
        if not pending:
            form_error = ctx._("Enter at least one user: an e-mail address and a package.")
        else:
            entries = []
            for r in pending:
                v = r["values"]
                fields: dict[str, Any] = {"email": v["email"] or None, "first_name": v["firstName"] or None,
                                          "last_name": v["lastName"] or None, "package": v["package"] or None}
                if v["package"] in CALLING_PACKAGES:
                    fields.update(extension=v["extension"] or None, phone_number=v["phoneNumber"] or None,
                                  location_id=v["locationId"] or None)
                entries.append(UserFields(**fields))
            results = users.add_many(s, ctx.caller, customer, entries)
            for r, result in zip(pending, results, strict=False):
                if isinstance(result, AllocationExceeded):
                    r["errors"] = {"package": [allocation_message(ctx, s, customer.id, r["values"]["package"])]}
                elif isinstance(result, DomainError):
                    r["errors"] = errors_of(ctx, result, FIELD_NAMES, default="email")
                else:
                    r["added"] = True
                    r["new"] = True
        options = package_options(s, customer)
        locs = locations.list_locations(s, customer)
    failed = [r for r in pending if r["errors"]]
    if pending and not failed:
        done = [r for r in rows if r["added"]]
        return hub_render(ctx, customer, "hub_added.html", rows=done, display_name=display_name)
    for r in rows:
        if r["errors"]:
            r["error_ids"] = sorted(r["errors"])
    return hub_render(ctx, customer, "hub_add.html", http_status=400 if failed or form_error else 200, rows=rows,
                      options=options, locations=locs, form_error=form_error, max_rows=users.MANUAL_ADD_MAX)


@router.get("/customers/{cid}/hub/users/csv")
def csv_page(request: Request, cid: str):
    ctx = signed_in(request)
    require_write(ctx)
    with reading(ctx) as s:
        customer = hub_customer(ctx, s, cid, write=True)
    return hub_render(ctx, customer, "hub_csv.html", errors={}, mode="add")


@router.post("/customers/{cid}/hub/users/csv")
def csv_upload(request: Request, cid: str):
    ctx = signed_in(request)
    require_write(ctx)
    form = ctx.form
    upload = form.get("file")
    mode = str(form.get("mode", "add"))
    mode = mode if mode in ("add", "add-remove") else "add"
    errors: dict[str, list[str]] = {}
    settings = request.app.state.settings
    content = b""
    if upload is None or isinstance(upload, str) or not upload.filename:
        errors["file"] = [ctx._("Choose a CSV file to upload.")]
    else:
        content = upload.file.read(settings.max_upload_bytes + 1)
        if len(content) > settings.max_upload_bytes:
            errors["file"] = [ctx._("The file is too large.")]
        elif not content.strip():
            errors["file"] = [ctx._("The file is empty.")]
    task_id = None
    if not errors:
        try:
            with ctx.db.unit_of_work() as s:
                hub_customer(ctx, s, cid, write=True)
                task = tasks.create_import(s, ctx.caller, cid, file_name=upload.filename, content=content, mode=mode,
                                           preview=True, max_rows=settings.csv_max_rows or None)
                task_id = task.id
        except DomainError as exc:
            if exc.status in (403, 404):
                raise
            errors["file"] = [localised(ctx, None, None, e.description) for e in exc.errors]
    if task_id:
        return RedirectResponse(f"/tasks/{task_id}", status_code=303)
    with reading(ctx) as s:
        customer = hub_customer(ctx, s, cid)
    return hub_render(ctx, customer, "hub_csv.html", http_status=400, errors=errors, mode=mode)


@router.get("/customers/{cid}/hub/users/export.csv")
def export_csv(request: Request, cid: str):
    ctx = signed_in(request)
    with reading(ctx) as s:
        customer = hub_customer(ctx, s, cid)
        customer_id = customer.id
    return StreamingResponse(tasks.export_users(ctx.db, ctx.caller, customer_id), media_type=CSV_TYPE,
                             headers={"Content-Disposition": 'attachment; filename="rtmhub-users.csv"'})


@router.get("/customers/{cid}/hub/users/template.csv")
def template_csv(request: Request, cid: str):
    ctx = signed_in(request)
    with reading(ctx) as s:
        hub_customer(ctx, s, cid)
    return StreamingResponse(tasks.template(), media_type=CSV_TYPE,
                             headers={"Content-Disposition": 'attachment; filename="rtmhub-users-template.csv"'})


@router.get("/customers/{cid}/hub/users/directory-sync")
def directory_sync(request: Request, cid: str):
    ctx = signed_in(request)
    with reading(ctx) as s:
        customer = hub_customer(ctx, s, cid)
    return hub_render(ctx, customer, "hub_dirsync.html")


@router.get("/customers/{cid}/hub/users/{uid}")
def user_detail(request: Request, cid: str, uid: str):
    ctx = signed_in(request)
    with reading(ctx) as s:
        customer = hub_customer(ctx, s, cid)
        user = users.get_user(s, customer, uid)
        location = locations.get_location(s, customer, user.location_id) if user.location_id else None
    return hub_render(ctx, customer, "hub_user.html", user=user, location=location, display_name=display_name,
                      status_label=status_label, changed=request.query_params.get("changed") == "1",
                      external=users.is_external(user, customer))


def _change_values(s, ctx: Ctx, customer: Customer) -> dict[str, Any]:
    return {"options": package_options(s, customer), "locations": locations.list_locations(s, customer)}


@router.get("/customers/{cid}/hub/users/{uid}/package")
def change_package_page(request: Request, cid: str, uid: str):
    ctx = signed_in(request)
    require_write(ctx)
    with reading(ctx) as s:
        customer = hub_customer(ctx, s, cid, write=True)
        user = users.get_user(s, customer, uid)
        values = _change_values(s, ctx, customer)
    return hub_render(ctx, customer, "hub_package.html", user=user, form={"package": user.package or ""},
                      errors={}, display_name=display_name, **values)


@router.post("/customers/{cid}/hub/users/{uid}/package")
def change_package(request: Request, cid: str, uid: str):
    ctx = signed_in(request)
    require_write(ctx)
    f = {k: str(v).strip()[:300] for k, v in ctx.form.items() if isinstance(v, str)}
    new = f.get("package", "")
    errors: dict[str, list[str]] = {}
    try:
        with ctx.db.unit_of_work() as s:
            customer = hub_customer(ctx, s, cid, write=True)
            user = users.get_user(s, customer, uid)
            if new not in USER_PACKAGES:
                errors["package"] = [ctx._("Choose a package.")]
                raise _Rollback() from None
            fields: dict[str, Any] = {"package": new}
            entering = new in CALLING_PACKAGES and user.package not in CALLING_PACKAGES
            if entering:
                fields.update(extension=f.get("extension") or None, phone_number=f.get("phoneNumber") or None,
                              location_id=f.get("locationId") or None)
            try:
                users.update_user(s, ctx.caller, customer, user, UserFields(**fields),
                                  calling_data_given=bool(f.get("extension") or f.get("phoneNumber"))
                                  if entering else None)
            except AllocationExceeded:
                errors["package"] = [allocation_message(ctx, s, customer.id, new)]
                raise _Rollback() from None
            except DomainError as exc:
                errors = errors_of(ctx, exc, FIELD_NAMES, default="package")
                if "package" in errors and entering and not (f.get("extension") or f.get("phoneNumber")):
                    errors.pop("package")
                    errors.setdefault("phoneNumber", []).insert(0, ctx._(
                        "{package} needs caller ID data: enter a phone number and/or an extension, and choose a "
                        "location.", package=display_name(new)))
                raise _Rollback() from None
    except _Rollback:
        with reading(ctx) as s:
            customer = hub_customer(ctx, s, cid)
            user = users.get_user(s, customer, uid)
            values = _change_values(s, ctx, customer)
        return hub_render(ctx, customer, "hub_package.html", http_status=400, user=user, form=f, errors=errors,
                          display_name=display_name, **values)
    return RedirectResponse(f"/customers/{cid}/hub/users/{uid}?changed=1", status_code=303)


# --- Control Hub: locations and settings -----------------------------------------------------

@router.get("/customers/{cid}/hub/locations")
def hub_locations(request: Request, cid: str):
    ctx = signed_in(request)
    with reading(ctx) as s:
        customer = hub_customer(ctx, s, cid)
        locs = locations.list_locations(s, customer)
    return hub_render(ctx, customer, "hub_locations.html", locations=locs,
                      saved=request.query_params.get("saved") == "1")


def _location_form(loc) -> dict[str, str]:
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


@router.get("/customers/{cid}/hub/locations/new")
def location_new_page(request: Request, cid: str):
    ctx = signed_in(request)
    require_write(ctx)
    with reading(ctx) as s:
        customer = hub_customer(ctx, s, cid, write=True)
    return hub_render(ctx, customer, "hub_location.html", location=None, form=_location_form(None), errors={})


@router.get("/customers/{cid}/hub/locations/{lid}")
def location_edit_page(request: Request, cid: str, lid: str):
    ctx = signed_in(request)
    with reading(ctx) as s:
        customer = hub_customer(ctx, s, cid)
        loc = locations.get_location(s, customer, lid)
    return hub_render(ctx, customer, "hub_location.html", location=loc, form=_location_form(loc), errors={})


def _save_location(request: Request, cid: str, lid: str | None):
    ctx = signed_in(request)
    require_write(ctx)
    f = {k: str(v).strip() for k, v in ctx.form.items() if isinstance(v, str)}
    errors: dict[str, list[str]] = {}
    try:
        body = (LocationCreate if lid is None else LocationUpdate).model_validate(_location_body(f))
    except ValidationError as exc:
        errors = pydantic_errors(ctx, exc)
    else:
        try:
            with ctx.db.unit_of_work() as s:
                customer = hub_customer(ctx, s, cid, write=True)
                if lid is None:
                    locations.create_location(s, ctx.caller, customer, body)
                else:
                    locations.update_location(s, ctx.caller, customer, lid, body)
        except DomainError as exc:
            errors = errors_of(ctx, exc, default="name")
    if not errors:
        return RedirectResponse(f"/customers/{cid}/hub/locations?saved=1", status_code=303)
    with reading(ctx) as s:
        customer = hub_customer(ctx, s, cid)
        loc = locations.get_location(s, customer, lid) if lid else None
    return hub_render(ctx, customer, "hub_location.html", http_status=400, location=loc, form=f, errors=errors)


@router.post("/customers/{cid}/hub/locations/new")
def location_create(request: Request, cid: str):
    return _save_location(request, cid, None)


@router.post("/customers/{cid}/hub/locations/{lid}")
def location_update(request: Request, cid: str, lid: str):
    return _save_location(request, cid, lid)


@router.get("/customers/{cid}/hub/settings")
def settings_page(request: Request, cid: str):
    ctx = signed_in(request)
    with reading(ctx) as s:
        customer = hub_customer(ctx, s, cid)
        sites = settings_service.meeting_sites(s, customer)
    form = {"name": customer.name, "language": customer.language, "preferredSite": customer.preferred_site_url or ""}
    return hub_render(ctx, customer, "hub_settings.html", form=form, sites=sites, errors={}, languages=LANGUAGES,
                      saved=request.query_params.get("saved") == "1")


@router.post("/customers/{cid}/hub/settings")
def settings_save(request: Request, cid: str):
    ctx = signed_in(request)
    require_write(ctx)
    f = {k: str(v).strip()[:300] for k, v in ctx.form.items() if isinstance(v, str)}
    errors: dict[str, list[str]] = {}
    try:
        with ctx.db.unit_of_work() as s:
            settings_service.update_settings(s, ctx.caller, cid, name=f.get("name", ""),
                                             language=f.get("language", ""),
                                             preferred_site_url=f.get("preferredSite", ""))
    except DomainError as exc:
        errors = errors_of(ctx, exc, default="name")
    if not errors:
        return RedirectResponse(f"/customers/{cid}/hub/settings?saved=1", status_code=303)
    with reading(ctx) as s:
        customer = hub_customer(ctx, s, cid)
        sites = settings_service.meeting_sites(s, customer)
    return hub_render(ctx, customer, "hub_settings.html", http_status=400, form=f, sites=sites, errors=errors,
                      languages=LANGUAGES, saved=False)


# --- tasks -----------------------------------------------------------------------------------

@router.get("/tasks")
def task_list(request: Request):
    ctx = signed_in(request)
    page = page_args(request)
    with reading(ctx) as s:
        rows = tasks.list_tasks(s, ctx.caller, offset=(page - 1) * PAGE, limit=PAGE + 1)
        names = dict(s.execute(select(Customer.id, Customer.name).where(
            Customer.id.in_({t.customer_id for t in rows}))).all()) if rows else {}
    return render(ctx, "tasks.html", rows=rows[:PAGE], more=len(rows) > PAGE, page=page, names=names,
                  status_label=status_label, type_label=task_type_label, mode_label=mode_label,
                  progress=tasks.task_progress, finished=FINISHED)


@router.get("/customers/{cid}/hub/tasks")
def hub_tasks(request: Request, cid: str):
    ctx = signed_in(request)
    with reading(ctx) as s:
        customer = hub_customer(ctx, s, cid)
        rows = tasks.list_tasks(s, ctx.caller, customer.id, limit=PAGE)
    return hub_render(ctx, customer, "tasks.html", rows=rows, more=False, page=1, names={customer.id: customer.name},
                      status_label=status_label, type_label=task_type_label, mode_label=mode_label,
                      progress=tasks.task_progress, finished=FINISHED)


@router.get("/tasks/{tid}")
def task_detail(request: Request, tid: str):
    ctx = signed_in(request)
    outcome = request.query_params.get("outcome", "")
    outcome = outcome if outcome in ("add", "modify", "delete", "unchanged", "error", "warning") else ""
    page = page_args(request)
    with reading(ctx) as s:
        task = tasks.get_task(s, ctx.caller, tid)
        customer = access.get_customer(s, ctx.caller, task.customer_id)
        rows = tasks.task_rows(s, ctx.caller, task.id, outcome or None, offset=(page - 1) * PAGE, limit=PAGE + 1)
        applied = s.scalar(select(Task.id).where(Task.preview_of == task.id).limit(1))
    return hub_render(ctx, customer, "task.html", task=task, rows=rows[:PAGE], more=len(rows) > PAGE, page=page,
                      outcome=outcome, progress=tasks.task_progress(task), running=task.status not in FINISHED,
                      applied=applied, status_label=status_label, type_label=task_type_label,
                      mode_label=mode_label, display_name=display_name, row_message=row_message)


@router.get("/tasks/{tid}/progress")
def task_progress(request: Request, tid: str):
    ctx = signed_in(request)
    with reading(ctx) as s:
        task = tasks.get_task(s, ctx.caller, tid)
        body = {"status": task.status, "finished": task.status in FINISHED, **tasks.task_progress(task),
                "label": status_label(ctx, task.status)}
    return JSONResponse(body)


@router.post("/tasks/{tid}/apply")
def task_apply(request: Request, tid: str):
    ctx = signed_in(request)
    require_write(ctx)
    with ctx.db.unit_of_work() as s:
        task = tasks.apply_preview(s, ctx.caller, tid)
        new_id = task.id
    return RedirectResponse(f"/tasks/{new_id}", status_code=303)


@router.get("/tasks/{tid}/errors.csv")
def task_errors(request: Request, tid: str):
    ctx = signed_in(request)
    body = tasks.error_report(ctx.db, ctx.caller, tid)
    return StreamingResponse(body, media_type=CSV_TYPE,
                             headers={"Content-Disposition": 'attachment; filename="rtmhub-errors.csv"'})

