"""Partner Hub reports: units in use per package over time, each customer's peak and average, and the
billing reports (list, create, download, delete). Every figure comes from the ledger (domain/usage)."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy.orm import Session

from rtmhub.db import utcnow
from rtmhub.domain.access import service as access
from rtmhub.domain.billing import service as billing
from rtmhub.domain.billing.content import REPORT_TYPES
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.packages.models import display_name
from rtmhub.domain.partners import service as partners
from rtmhub.domain.usage import summary
from rtmhub.jobs.billing import stored_pieces
from rtmhub.web.charts import PERIODS, usage_chart, usage_period
from rtmhub.web.forms import CSV_TYPE, PAGE, Errors, form_fields, opened, page_args, show, submit
from rtmhub.web.support import Ctx, WebRoute

router = APIRouter(route_class=WebRoute, include_in_schema=False)
NAME_CHUNK = 500


def _customer_rows(ctx: Ctx, s: Session, usage: summary.UsageOverview, page: int) -> dict[str, Any]:
    """Each customer's packages with peak and average, customers by name, a page of ``PAGE`` customers. A
    customer deleted since keeps the name the ledger knew it by, without a link."""
    by_customer: dict[str, list[summary.CustomerUsage]] = {}
    for row in usage.customers:
        by_customer.setdefault(row.customer_id, []).append(row)
    ids = list(by_customer)
    current: dict[str, str] = {}
    for i in range(0, len(ids), NAME_CHUNK):  # parameters per query stay within every database's limit
        current.update(customers.names(s, ctx.caller, ids[i:i + NAME_CHUNK]))
    known = {**summary.ledger_names(s, set(by_customer) - set(current)), **current}
    order = sorted(by_customer, key=lambda cid: ((known.get(cid) or cid).casefold(), cid))
    shown = order[(page - 1) * PAGE:page * PAGE]
    return {"customer_rows": [{"id": cid, "name": known.get(cid, cid), "linked": cid in current,
                               "packages": [{"name": display_name(u.package), "peak": u.peak, "average": u.average}
                                            for u in by_customer[cid]]} for cid in shown],
            "more": len(order) > page * PAGE, "customer_total": len(order)}


def _usage(ctx: Ctx, s: Session, request: Request, sub: str, page: int) -> dict[str, Any]:
    days, start, end = usage_period(request)
    scope = access.sub_partner_scope(s, ctx.caller, sub) if sub else None  # foreign or unknown: 404
    usage = summary.overview(s, ctx.caller, start, end, partner_ids=scope)
    return {"chart": usage_chart(ctx, usage), "days": days, "periods": PERIODS,
            "sub_partners": partners.own_sub_partners(s, ctx.caller), "sub": sub,
            **_customer_rows(ctx, s, usage, page)}


SORTS = ("billingStartDate", "billingEndDate", "status")  # R51's keys a person sorts by (not the id)
# The service's field names (the API's) for the form's fields.
FORM_FIELDS = {"billingStartDate": "from", "billingEndDate": "to", "type": "type", "subPartnerOrgId": "subPartner"}


def type_label(ctx: Ctx, kind: str) -> str:
    _ = ctx._
    return {"PARTNER": _("Partner: customers and packages"), "CUSTOMER": _("Customer: packages per day"),
            "USER": _("User: package assignments")}.get(kind, kind)


def report_status_label(ctx: Ctx, status: str) -> str:
    _ = ctx._
    return {"IN_PROGRESS": _("In progress"), "COMPLETED": _("Completed"), "FAILED": _("Failed")}.get(status, status)


def _default_form() -> dict[str, str]:
    """Last calendar month: what a partner invoices for."""
    last = utcnow().date().replace(day=1) - timedelta(days=1)
    return {"from": last.replace(day=1).isoformat(), "to": last.isoformat(), "type": "PARTNER", "subPartner": ""}


def _billing(ctx: Ctx, s: Session, request: Request, sub: str) -> dict[str, Any]:
    sort = request.query_params.get("sort", "")
    sort = sort if sort in SORTS else SORTS[0]
    try:
        rpage = max(1, min(int(request.query_params.get("rpage", "1")[:6]), 100_000))
    except ValueError:
        rpage = 1
    reports = billing.list_reports(s, ctx.caller, sub_partner_org_id=sub or None, sort_by=sort,
                                   offset=(rpage - 1) * PAGE, limit=PAGE + 1)
    return {"reports": reports[:PAGE], "reports_more": len(reports) > PAGE, "rpage": rpage, "sort": sort,
            "partner_names": partners.partner_names(s, ctx.caller),
            "type_options": [(kind, type_label(ctx, kind)) for kind in REPORT_TYPES]}


def _page(ctx: Ctx, request: Request, form: dict[str, str], errors: Errors) -> HTMLResponse:
    sub = request.query_params.get("sub", "").strip()[:64]
    page = page_args(request)

    def load(s: Session, _customer: Customer | None) -> dict[str, Any]:
        values = {**_usage(ctx, s, request, sub, page), **_billing(ctx, s, request, sub)}
        values["sub_partner_options"] = [(p.id, p.name) for p in values["sub_partners"]]
        return values

    return show(ctx, None, "reports.html", load, hub=False, page=page, form=form, errors=errors,
                done=request.query_params.get("done", ""), type_label=type_label,
                report_status_label=report_status_label)


@router.get("/reports")
def reports_page(request: Request):
    ctx = opened(request, partner=True)
    return _page(ctx, request, _default_form(), {})


def _day(ctx: Ctx, value: str, errors: Errors, name: str) -> date | None:
    if len(value) == 10:  # fromisoformat alone would take other ISO forms too (20260131)
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    errors.setdefault(name, []).append(ctx._("Enter a date as YYYY-MM-DD, for example 2026-01-31."))
    return None


@router.post("/reports")
def report_create(request: Request):
    ctx = opened(request, partner=True, write=True)
    f = form_fields(ctx, 64)
    errors: Errors = {}
    start, end = _day(ctx, f.get("from", ""), errors, "from"), _day(ctx, f.get("to", ""), errors, "to")

    def work(s: Session) -> str:
        assert start is not None and end is not None
        billing.create_report(s, ctx.caller, start=start, end=end, report_type=f.get("type") or "PARTNER",
                              sub_partner_org_id=f.get("subPartner") or None)
        return "/reports?done=created#billing"

    return submit(ctx, work, lambda found: _page(ctx, request, f, found), errors=errors, mapping=FORM_FIELDS,
                  default="_report")


@router.get("/reports/{rid}/download")
def report_download(request: Request, rid: str):
    ctx = opened(request, partner=True)
    with ctx.db.unit_of_work(write=False) as s:
        report = billing.get_report(s, ctx.caller, rid)  # unknown and foreign: 404
        billing.require_completed(report)  # still being made, or failed: 409 with what to do
        name, size, report_id = billing.file_name(report), report.bytes, report.id
    return StreamingResponse(stored_pieces(ctx.db, report_id), media_type=CSV_TYPE,
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "Content-Length": str(size)})



@router.post("/reports/{rid}/delete")
def report_delete(request: Request, rid: str):
    ctx = opened(request, partner=True, write=True)

    def work(s: Session) -> str:
        billing.delete_report(s, ctx.caller, rid)
        return "/reports?done=deleted#billing"

    return submit(ctx, work, lambda found: _page(ctx, request, _default_form(), found), default="_report")
