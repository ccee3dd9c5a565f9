"""Shared page helpers: the GET scaffold (``customer_page``/``show``), the POST pattern (``submit``),
form errors in the reader's language, and labels. Adapter code only: the rules are the services'."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from rtmhub.domain.access import service as access
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.models import Customer, CustomerPackage
from rtmhub.domain.packages.models import display_name
from rtmhub.errors import DomainError, Forbidden, Message
from rtmhub.web.support import Ctx, reading, render, signed_in

PAGE = 50
CSV_TYPE = "text/csv; charset=utf-8"
LANGUAGES = (("en", "English"), ("fi", "Suomi"), ("sv", "Svenska"), ("de", "Deutsch"), ("fr", "Français"))

Errors = dict[str, list[str]]
Load = Callable[[Session, Customer | None], dict[str, Any]]


class FormInvalid(Exception):
    """Raised inside ``submit``'s unit of work to undo it after the page collected field errors."""

    def __init__(self, errors: Errors):
        super().__init__("form errors")
        self.errors = errors


# --- the GET scaffold and the POST pattern ----------------------------------------------------

def opened(request: Request, *, partner: bool = False, write: bool = False) -> Ctx:
    """The signed-in page context; ``partner``: Partner Hub pages only; ``write``: no read-only admin."""
    ctx = signed_in(request)
    if partner:
        require_partner(ctx)
    if write:
        require_write(ctx)
    return ctx


def show(ctx: Ctx, cid: str | None, template: str, load: Load | None = None, *, write: bool = False,
         hub: bool = True, **values: Any) -> HTMLResponse:
    """Read in one read-only unit of work and render. With ``cid`` the customer is looked up through
    the caller's scope first (unknown and foreign ids: 404; ``write``: R53 and the read-only role too)
    and handed to ``load`` and the template; ``hub`` renders the page inside the customer's Control Hub."""
    with reading(ctx) as s:
        customer = access.get_customer(s, ctx.caller, cid, write=write) if cid is not None else None
        if load is not None:
            values.update(load(s, customer))
    if customer is not None:
        values["customer"] = customer
    if hub:
        values["hub"] = True
    return render(ctx, template, **values)


def customer_page(request: Request, cid: str, template: str, load: Load | None = None, *, partner: bool = False,
                  write: bool = False, writable: bool | None = None, hub: bool = True,
                  **values: Any) -> HTMLResponse:
    """The GET page of one customer: context, role checks, scoped read, render. ``writable`` (default:
    ``write``) looks the customer up for writing without refusing read-only roles first."""
    ctx = opened(request, partner=partner, write=write)
    return show(ctx, cid, template, load, write=write if writable is None else writable, hub=hub, **values)


def submit(ctx: Ctx, work: Callable[[Session], str], rerender: Callable[[Errors], Response], *,
           errors: Errors | None = None, default: str = "_form", mapping: dict[str, str] | None = None,
           explain: Callable[[DomainError], Errors] | None = None) -> Response:
    """The POST pattern. ``work`` runs in one unit of work and returns where to go (303). If it raises
    ``FormInvalid`` (errors the page collected) or a ``DomainError``, the unit is rolled back and the form
    is shown again with the errors by field (``rerender``, answered 400). ``errors`` found before the unit
    skip it. Refusals (403, 404) are not form errors: they go on to the error page."""
    if errors:
        return _invalid(rerender, errors)
    try:
        with ctx.db.unit_of_work() as s:
            target = work(s)
    except FormInvalid as exc:
        return _invalid(rerender, exc.errors)
    except DomainError as exc:
        if exc.status in (403, 404, 503):  # 503: the lock not got in time, the route's busy page (decision 23)
            raise
        return _invalid(rerender, explain(exc) if explain else errors_of(ctx, exc, mapping, default))
    return RedirectResponse(target, status_code=303)


def _invalid(rerender: Callable[[Errors], Response], errors: Errors) -> Response:
    response = rerender(errors)
    response.status_code = 400
    return response


def form_fields(ctx: Ctx, limit: int | None = None) -> dict[str, str]:
    """The form's text fields, stripped (and cut to ``limit`` characters)."""
    return {k: str(v).strip()[:limit] for k, v in ctx.form.items() if isinstance(v, str)}


MAX_PAGE = 10_000_000 // PAGE  # offsets stay within the API's bound (10,000,000 rows)


def page_args(request: Request) -> int:
    """The `page` query parameter, clamped to 1..MAX_PAGE (a page link is followed by people: an
    impossible page shows the nearest one instead of an error, unlike the API, which answers 400)."""
    try:
        return max(1, min(int(request.query_params.get("page", "1")[:12]), MAX_PAGE))
    except ValueError:
        return 1


def require_partner(ctx: Ctx) -> None:
    if not ctx.caller.is_partner:
        raise Forbidden("Only partner administrators can open Partner Hub pages.")


def require_write(ctx: Ctx) -> None:
    if not ctx.can_write:
        raise Forbidden("A read-only administrator cannot change anything.")


# --- errors in the reader's language ---------------------------------------------------------

def localised(ctx: Ctx, field: str | None, code: int | None, text: str) -> str:
    """The services speak English (the API contract). Outside English the commonest field errors are
    said in the page's language; anything else keeps the service's own precise message."""
    if ctx.lang == "en":
        return text
    if isinstance(text, Message):
        return ctx._.say(text)
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
    if message.get("template"):
        return ctx._.say(Message.from_dict(message), csv=True)
    column = message.get("column") or ""
    return localised(ctx, {"Extension": "extension", "Phone Number": "phoneNumber", "Location": "locationId",
                           "First Name": "firstName", "Last Name": "lastName"}.get(column), None, text)


def errors_of(ctx: Ctx, exc: DomainError, mapping: dict[str, str] | None = None,
              default: str = "_form") -> Errors:
    """Domain errors by field (the field names of the services); errors without a field go to ``default``.
    Refusals (403, 404) are not form errors: they are raised again for the error page."""
    if exc.status in (403, 404):
        raise exc
    out: Errors = {}
    for err in exc.errors:
        field = err.field
        if field is None:
            field = {10022: "email", 4201: "phoneNumber", 4202: "extension"}.get(err.error_code or 0, default)
        text = localised(ctx, err.field or field, err.error_code, err.description)
        field = (mapping or {}).get(field, field)
        if text not in out.get(field, []):
            out.setdefault(field, []).append(text)
    return out


def pydantic_errors(ctx: Ctx, exc: ValidationError) -> Errors:
    out: Errors = {}
    for err in exc.errors():
        field = ".".join(str(p) for p in err.get("loc", ()))
        if err.get("type") == "string_too_long":
            text = ctx._("Too long: at most {n} characters.", n=err.get("ctx", {}).get("max_length", "?"))
        elif err.get("type") == "missing":
            text = ctx._("This field is required.")
        else:
            text = ctx._("Check this value.")
        out.setdefault(field, []).append(text)
    return out


def allocation_message(ctx: Ctx, s: Session, customer: Customer, package: str) -> str:
    """Why a package could not be given (R3), with its use read in the same transaction."""
    use = customers.package_use(s, customer, package)
    used, total = (use.used, use.allocation) if use else (0, 0)
    return ctx._("{package} is fully used: {used} of {total} used. Free a unit or ask your partner to raise "
                 "the allocation.", package=display_name(package), used=ctx.num(used), total=ctx.num(total or 0))


# --- labels and bars -------------------------------------------------------------------------

def status_label(ctx: Ctx, status: str) -> str:
    _ = ctx._
    return {
        "provisioned": _("Provisioned"), "provisioned_with_errors": _("Provisioned with errors"),
        "provisioning": _("Provisioning"), "updating": _("Updating"), "deleting": _("Deleting"),
        "error": _("Error"), "pending_rpl_review": _("Pending compliance review"),
        "queued": _("Queued"), "running": _("Running"), "completed": _("Completed"),
        "completed_with_errors": _("Completed with errors"), "failed": _("Failed"), "cancelled": _("Cancelled"),
        "add": _("Addition"), "modify": _("Modification"), "delete": _("Deletion"), "unchanged": _("Unchanged"),
    }.get(status, status)


def task_type_label(ctx: Ctx, kind: str) -> str:
    return {"csv_preview": ctx._("CSV preview (dry run)"), "csv_import": ctx._("CSV import")}.get(kind, kind)


def mode_label(ctx: Ctx, mode: str) -> str:
    return {"add": ctx._("Add services only"), "add-remove": ctx._("Add and remove services")}.get(mode, mode)


def package_bars(rows: list[CustomerPackage]) -> list[dict[str, Any]]:
    bars = []
    for row in rows:
        ratio = (row.used / row.allocation) if row.allocation else (0.0 if row.allocation is not None else None)
        bars.append({"id": row.package, "name": display_name(row.package), "used": row.used,
                     "allocation": row.allocation, "ratio": min(ratio, 1.0) if ratio is not None else None,
                     "level": "full" if ratio is not None and ratio >= 1 else
                     "high" if ratio is not None and ratio >= 0.9 else "ok"})
    return bars
