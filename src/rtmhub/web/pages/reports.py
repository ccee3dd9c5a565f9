"""Partner Hub reports: units in use per package over time, each customer's peak and average, and the
billing reports (list, create, download, delete). Every figure comes from the ledger (domain/usage)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from rtmhub.domain.access import service as access
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.packages.models import display_name
from rtmhub.domain.partners import service as partners
from rtmhub.domain.usage import summary
from rtmhub.web.charts import PERIODS, usage_chart, usage_period
from rtmhub.web.forms import PAGE, opened, page_args, show
from rtmhub.web.support import Ctx, WebRoute

router = APIRouter(route_class=WebRoute, include_in_schema=False)


def _customer_rows(ctx: Ctx, s: Session, usage: summary.UsageOverview, page: int) -> dict[str, Any]:
    """Each customer's packages with peak and average, customers by name, a page of ``PAGE`` customers. A
    customer deleted since keeps the name the ledger knew it by, without a link."""
    by_customer: dict[str, list[summary.CustomerUsage]] = {}
    for row in usage.customers:
        by_customer.setdefault(row.customer_id, []).append(row)
    current = customers.names(s, ctx.caller, by_customer)
    known = {**summary.ledger_names(s, set(by_customer) - set(current)), **current}
    order = sorted(by_customer, key=lambda cid: (known.get(cid, cid).casefold(), cid))
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


@router.get("/reports")
def reports_page(request: Request):
    ctx = opened(request, partner=True)
    sub = request.query_params.get("sub", "").strip()[:64]
    page = page_args(request)

    def load(s: Session, _customer: Customer | None) -> dict[str, Any]:
        return _usage(ctx, s, request, sub, page)

    return show(ctx, None, "reports.html", load, hub=False, page=page)
