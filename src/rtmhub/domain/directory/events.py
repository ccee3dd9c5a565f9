"""The organisation's sync log: one line per SCIM write, package grant or wait, kept for the directory page
(the newest EVENTS_KEPT per organisation)."""
from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from rtmhub.db import utcnow
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.directory.sync_models import SyncEvent

EVENTS_SHOWN = 100
EVENTS_KEPT = 1000  # per organisation; older events are deleted as new ones come


def _event_row(customer_id: str, operation: str, user_email: str | None, result: str,
               reason: str | None) -> dict[str, Any]:
    return {"id": secrets.token_hex(16), "customer_id": customer_id, "at": utcnow(), "operation": operation[:60],
            "user_email": (user_email or None) and user_email[:161], "result": result[:20],
            "reason": reason[:2000] if reason else None}


def record_sync_event(session: Session, customer_id: str, operation: str, user_email: str | None, result: str,
                      reason: str | None) -> None:
    """One line of the organisation's sync log (SCIM writes, package grants, waits). An error of a SCIM
    request is recorded by its edge in a transaction of its own, since the request's own rolls back."""
    session.add(SyncEvent(**_event_row(customer_id, operation, user_email, result, reason)))
    # Not flushed here: the line goes with the change's next flush, one round of the unit of work fewer.
    if secrets.randbelow(50) == 0:
        _trim_events(session, customer_id)


def _trim_events(session: Session, customer_id: str) -> None:
    """Now and then: keep the newest EVENTS_KEPT."""
    cutoff = session.scalar(select(SyncEvent.at).where(SyncEvent.customer_id == customer_id)
                            .order_by(SyncEvent.at.desc()).offset(EVENTS_KEPT).limit(1))
    if cutoff is not None:
        session.execute(delete(SyncEvent).where(SyncEvent.customer_id == customer_id, SyncEvent.at <= cutoff))


class SyncLog:
    """The sync log lines of one SCIM Bulk request, written with one INSERT when its operations are done, in
    the request's transaction (a line per operation costs about as much as the user's own row otherwise).
    The lines of an operation rolled back to its SAVEPOINT are dropped with it (``mark``/``drop_since``)."""

    def __init__(self, customer_id: str):
        self.customer_id = customer_id
        self._rows: list[dict[str, Any]] = []

    def add(self, operation: str, user_email: str | None, result: str, reason: str | None) -> None:
        self._rows.append(_event_row(self.customer_id, operation, user_email, result, reason))

    def mark(self) -> int:
        return len(self._rows)

    def drop_since(self, mark: int) -> None:
        del self._rows[mark:]

    def write(self, session: Session) -> None:
        if not self._rows:
            return
        session.execute(insert(SyncEvent), self._rows)
        if secrets.randbelow(50) < len(self._rows):
            _trim_events(session, self.customer_id)
        self._rows = []


def recent_events(session: Session, customer: Customer, limit: int = EVENTS_SHOWN) -> list[SyncEvent]:
    return list(session.scalars(select(SyncEvent).where(SyncEvent.customer_id == customer.id)
                                .order_by(SyncEvent.at.desc(), SyncEvent.id).limit(limit)))
