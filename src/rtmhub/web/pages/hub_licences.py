"""Control Hub licences: one customer's units in use per package over time, its peak and average, and
the use of each package now against its allocation."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.usage import summary
from rtmhub.web.charts import PERIODS, usage_chart, usage_period
from rtmhub.web.forms import opened, package_bars, show
from rtmhub.web.support import WebRoute

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/customers/{cid}/hub/licences")
def hub_licences(request: Request, cid: str):
    ctx = opened(request)
    days, start, end = usage_period(request)

    def load(s: Session, customer: Customer | None) -> dict[str, Any]:
        assert customer is not None  # looked up through the caller's scope by ``show``
        usage = summary.overview(s, ctx.caller, start, end, customer=customer)
        over_period = {u.package: u for u in usage.customers}
        bars = package_bars(customers.packages_of(s, customer.id))
        return {"chart": usage_chart(ctx, usage),
                "rows": [{**bar, "peak": over_period[bar["id"]].peak if bar["id"] in over_period else 0,
                          "average": over_period[bar["id"]].average if bar["id"] in over_period else 0}
                         for bar in bars]}

    return show(ctx, cid, "hub_licences.html", load, days=days, periods=PERIODS)
