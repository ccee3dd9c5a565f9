"""/v1/auditEvents — rtmhub's own addition: the audit log, filtered and paged like the other lists,
and its CSV export. Partner administrators read their partner tree's events, customer administrators
their organisation's; ``orgId`` narrows to one customer (unknown and foreign: 404)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from rtmhub import ids
from rtmhub.api import serializers as out
from rtmhub.api.deps import DB, CallerDep, next_link, org_customer
from rtmhub.api.people import PEOPLE_READ
from rtmhub.api.responses import ERRORS
from rtmhub.domain.access import service as access
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.audit import service as audit
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.audit.schemas import AuditFilter
from rtmhub.domain.customers.models import Customer
from rtmhub.jobs import audit_export

router = APIRouter(prefix="/v1", tags=["audit log"], responses=ERRORS)
CSV = "text/csv; charset=utf-8"
# Public id kinds of the entities an event is about; others (admins, tokens, templates) keep their raw id.
ENTITY_KINDS = {"user": "PEOPLE", "location": "LOCATION", "customer": "CUSTOMER", "task": "TASK",
                "partner": "ORGANIZATION", "billing_report": "BILLING_REPORT"}


class ChangeItem(BaseModel):
    field: str
    label: str
    before: str | None
    after: str | None


class AuditEventItem(BaseModel):
    id: str
    time: str
    actor: str
    action: str
    description: str
    entityType: str
    entityId: str
    subject: str | None
    orgId: str | None
    trackingId: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    changes: list[ChangeItem]


class AuditEventList(BaseModel):
    items: list[AuditEventItem]


Text = Annotated[str | None, Query(max_length=200)]


def _filter(since: str | None, until: str | None, actor: str | None, action: str | None,
            email: str | None) -> AuditFilter:
    return audit.parse_filter(since=since, until=until, actor=actor, action=action, email=email)


def _scope(s: Session, caller: Caller, org_id: str | None) -> str | None:
    """The customer ``orgId`` names (raw id), or None for everything the caller reaches."""
    customer = org_customer(s, caller, org_id) if org_id else None
    return customer.id if customer else None


def _item(e: AuditEvent, orgs: dict[str, str], names: dict[str, str]) -> dict[str, Any]:
    kind = ENTITY_KINDS.get(e.entity_type)
    return {
        "id": ids.encode("AUDIT_EVENT", e.id), "time": out.iso(e.at), "actor": e.actor, "action": e.action,
        "description": str(audit.describe(e)), "entityType": e.entity_type,
        "entityId": ids.encode(kind, e.entity_id) if kind else e.entity_id, "subject": e.subject,
        "orgId": ids.encode("ORGANIZATION", orgs[e.customer_id]) if e.customer_id in orgs else None,
        "trackingId": e.request_id, "before": e.before, "after": e.after,
        "changes": [{"field": c.field, "label": str(c.label), "before": c.before and str(c.before),
                     "after": c.after and str(c.after)} for c in audit.changes(e, names)],
    }


def _org_ids(s: Session, caller: Caller, events: list[AuditEvent]) -> dict[str, str]:
    wanted = {e.customer_id for e in events if e.customer_id}
    if not wanted:
        return {}
    stmt = access.scope_customers(select(Customer.id, Customer.org_id).where(Customer.id.in_(wanted)), caller)
    return {cid: org for cid, org in s.execute(stmt)}


@router.get("/auditEvents", response_model=AuditEventList)
def list_audit_events(request: Request, response: Response, db: DB, caller: CallerDep,
                      orgId: Text = None,
                      since: Annotated[str | None, Query(alias="from", max_length=40,
                                                         description="YYYY-MM-DD (UTC) or an ISO 8601 time")] = None,
                      until: Annotated[str | None, Query(alias="to", max_length=40,
                                                         description="YYYY-MM-DD (the whole day) or an ISO 8601 "
                                                                     "time")] = None,
                      actor: Text = None, action: Text = None, email: Text = None,
                      offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                      max: Annotated[int, Query(ge=1, le=1000)] = 100):
    """Audit events newest first: who changed what, when, with the difference field by field."""
    access.require_scope(caller, PEOPLE_READ)
    flt = _filter(since, until, actor, action, email)
    with db.unit_of_work(write=False) as s:
        rows = audit.list_events(s, caller, flt, customer_id=_scope(s, caller, orgId), offset=offset, limit=max + 1)
        next_link(request, response, offset, max, len(rows) > max)
        page = rows[:max]
        orgs, names = _org_ids(s, caller, page), audit.location_names(s, page)
        return {"items": [_item(e, orgs, names) for e in page]}


@router.get("/auditEvents/export", response_class=StreamingResponse, responses={200: {"content": {"text/csv": {}}}})
def export_audit_events(db: DB, caller: CallerDep, orgId: Text = None,
                        since: Annotated[str | None, Query(alias="from", max_length=40)] = None,
                        until: Annotated[str | None, Query(alias="to", max_length=40)] = None,
                        actor: Text = None, action: Text = None, email: Text = None):
    """The same events (every page) as CSV."""
    access.require_scope(caller, PEOPLE_READ)
    flt = _filter(since, until, actor, action, email)
    with db.unit_of_work(write=False) as s:
        customer_id = _scope(s, caller, orgId)
    body = audit_export.export_events(db, caller, flt, customer_id)
    return StreamingResponse(body, media_type=CSV,
                             headers={"Content-Disposition": 'attachment; filename="rtmhub-audit-log.csv"'})
