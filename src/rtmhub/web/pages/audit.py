"""The audit log pages: a customer's in its Control Hub, the partner tree's in the Partner Hub; filtered
by time, actor, action and user, paged, with a CSV download of the filtered log."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy.orm import Session

from rtmhub.domain.audit import service as audit
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.audit.schemas import AuditFilter
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.models import Customer
from rtmhub.errors import DomainError, Message
from rtmhub.jobs import audit_export
from rtmhub.web.forms import CSV_TYPE, PAGE, opened, page_args, show
from rtmhub.web.support import DISPLAY_TZ, Ctx, WebRoute

router = APIRouter(route_class=WebRoute, include_in_schema=False)
FILTERS = ("from", "to", "actor", "action", "email")


def words(ctx: Ctx, text: Any) -> str:
    """A domain ``Message`` (labels, yes/no) in the reader's language; anything else as it is."""
    if isinstance(text, Message):
        return ctx._.say(text)
    return "" if text is None else str(text)


def _filter(ctx: Ctx, request: Request) -> tuple[dict[str, str], AuditFilter | None, list[str]]:
    given = {k: request.query_params.get(k, "").strip()[:200] for k in FILTERS}
    try:
        flt = audit.parse_filter(since=given["from"], until=given["to"], actor=given["actor"],
                                 action=given["action"], email=given["email"], tz=DISPLAY_TZ,
                                 names=(ctx._("From"), ctx._("To")))
    except DomainError as exc:
        return given, None, [words(ctx, e.description) for e in exc.errors]
    return given, flt, []


def _rows(ctx: Ctx, s: Session, events: list[AuditEvent], names: dict[str, str]) -> list[dict[str, Any]]:
    places = audit.location_names(s, events)
    rows = []
    for e in events:
        found = audit.changes(e, places)
        rows.append({"at": e.at, "actor": e.actor, "what": words(ctx, audit.describe(e)), "action": e.action,
                     "subject": e.subject or "", "customer": names.get(e.customer_id or "", ""),
                     "is_change": e.before is not None and e.after is not None,
                     "changes": [(words(ctx, c.label), words(ctx, c.before), words(ctx, c.after)) for c in found]})
    return rows


def _actions(ctx: Ctx) -> list[tuple[str, str]]:
    return sorted(((code, words(ctx, label)) for code, label in audit.ACTIONS.items()), key=lambda a: a[1])


def _page(request: Request, cid: str | None) -> HTMLResponse:
    ctx = opened(request, partner=cid is None)
    page = page_args(request)
    given, flt, problems = _filter(ctx, request)

    def load(s: Session, customer: Customer | None) -> dict[str, Any]:
        if flt is None:
            return {"rows": [], "more": False}
        events = audit.list_events(s, ctx.caller, flt, customer_id=customer.id if customer else None,
                                   offset=(page - 1) * PAGE, limit=PAGE + 1)
        names = {} if customer else customers.names(s, ctx.caller, {e.customer_id for e in events if e.customer_id})
        return {"rows": _rows(ctx, s, events[:PAGE], names), "more": len(events) > PAGE}

    base = f"/customers/{cid}/hub/audit" if cid else "/audit"
    response = show(ctx, cid, "audit.html", load, hub=cid is not None, page=page, filters=given, problems=problems,
                    actions=_actions(ctx), base=base, query={k: v for k, v in given.items() if v})
    if problems:
        response.status_code = 400
    return response


def _csv(request: Request, cid: str | None) -> StreamingResponse | HTMLResponse:
    ctx = opened(request, partner=cid is None)
    given, flt, problems = _filter(ctx, request)
    if flt is None:
        return _page(request, cid)  # the page says what to fix (400)
    body = audit_export.export_events(ctx.db, ctx.caller, flt, cid)
    return StreamingResponse(body, media_type=CSV_TYPE,
                             headers={"Content-Disposition": 'attachment; filename="rtmhub-audit-log.csv"'})


@router.get("/audit")
def partner_audit(request: Request):
    return _page(request, None)


@router.get("/audit.csv")
def partner_audit_csv(request: Request):
    return _csv(request, None)


@router.get("/customers/{cid}/hub/audit")
def customer_audit(request: Request, cid: str):
    return _page(request, cid)


@router.get("/customers/{cid}/hub/audit.csv")
def customer_audit_csv(request: Request, cid: str):
    return _csv(request, cid)
