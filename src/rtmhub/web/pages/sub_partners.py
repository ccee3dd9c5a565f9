"""Partner Hub: the partner's sub-partners, with create, suspend and activate (R53)."""
from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from rtmhub.domain.access import service as access
from rtmhub.domain.partners import service as partners
from rtmhub.web.forms import Errors, FormInvalid, form_fields, opened, show, submit
from rtmhub.web.support import Ctx, WebRoute

router = APIRouter(route_class=WebRoute, include_in_schema=False)


def _rows(s: Session, ctx: Ctx) -> dict[str, Any]:
    own = partners.own_partner(s, ctx.caller) if ctx.caller else None
    return {"sub_partners": partners.own_sub_partners(s, ctx.caller) if ctx.caller else [],
            # sub-partners are one level deep: a sub-partner's administrators create none
            "can_create": ctx.can_write and own is not None and own.parent_id is None
                          and own.provisioning_state == "active"}


def _page(ctx: Ctx, form: dict[str, str], errors: Errors, done: str | None = None):
    return show(ctx, None, "sub_partners.html", lambda s, _c: _rows(s, ctx), hub=False, form=form,
                errors=errors, done=done)


@router.get("/sub-partners")
def sub_partners_page(request: Request):
    ctx = opened(request, partner=True)
    done = request.query_params.get("done")
    return _page(ctx, {}, {}, done if done in ("created", "suspended", "active") else None)


@router.post("/sub-partners")
def sub_partner_create(request: Request):
    ctx = opened(request, partner=True, write=True)
    f = form_fields(ctx, 200)

    def work(s: Session) -> str:
        start = None
        if f.get("billingStartDate"):
            try:
                start = date.fromisoformat(f["billingStartDate"])
            except ValueError:
                raise FormInvalid({"billingStartDate": [ctx._("Enter a date as YYYY-MM-DD, or leave it empty for "
                                                              "today.")]}) from None
        partners.create_partner(s, ctx.caller, f.get("name", ""), parent=access.partner_of(s, ctx.caller),
                                billing_start=start)
        return "/sub-partners?done=created"

    return submit(ctx, work, lambda errors: _page(ctx, f, errors), default="name")


def _set_state(request: Request, pid: str, state: str):
    ctx = opened(request, partner=True, write=True)

    def work(s: Session) -> str:
        partners.set_state(s, ctx.caller, partners.get_sub_partner(s, ctx.caller, pid), state)
        return f"/sub-partners?done={state}"

    return submit(ctx, work, lambda errors: _page(ctx, {}, errors))


@router.post("/sub-partners/{pid}/suspend")
def sub_partner_suspend(request: Request, pid: str):
    return _set_state(request, pid, "suspended")


@router.post("/sub-partners/{pid}/activate")
def sub_partner_activate(request: Request, pid: str):
    return _set_state(request, pid, "active")
