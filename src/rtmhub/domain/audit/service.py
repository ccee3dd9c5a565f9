"""The audit log: one event per change, written in the change's own transaction."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rtmhub.db import utcnow
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.ids import new_uuid

if TYPE_CHECKING:
    from rtmhub.domain.access.schemas import Caller


def event(caller: Caller, action: str, entity_type: str, entity_id: str, customer_id: str | None,
          before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """The column values of one audit event: the one builder behind ``record`` and the set-wise
    inserts of a bulk import (decision 12), so both paths log a change the same way."""
    return {"id": new_uuid(), "at": utcnow(), "actor": caller.actor, "action": action, "entity_type": entity_type,
            "entity_id": entity_id, "customer_id": customer_id, "before": before, "after": after,
            "request_id": caller.request_id}


def record(session: Session, caller: Caller, action: str, entity_type: str, entity_id: str,
           customer_id: str | None, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    """Written in the caller's transaction, so an event exists exactly when its change does."""
    session.add(AuditEvent(**event(caller, action, entity_type, entity_id, customer_id, before, after)))


def recent_events(session: Session, caller: Caller, customer_id: str, limit: int = 15) -> list[AuditEvent]:
    """A customer's newest audit events, if the caller reaches the customer (unknown and foreign: 404)."""
    # access.service records through this module, so it is imported here, not at the top.
    from rtmhub.domain.access.service import get_customer

    customer = get_customer(session, caller, customer_id)
    return list(session.scalars(select(AuditEvent).where(AuditEvent.customer_id == customer.id)
                                .order_by(AuditEvent.at.desc()).limit(limit)))
