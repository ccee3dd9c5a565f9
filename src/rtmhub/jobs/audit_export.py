"""The filtered audit log as a CSV download, read from the database in chunks (newest first).

Owns its units of work like ``exports``: the caller's reach is checked in the first one (a foreign or
unknown customer is a 404 before anything is sent), then each chunk of 1,000 events is read in a short
read-only unit and written with the project's CSV writer (formula cells neutralised)."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from rtmhub.csvfile.writer import write_csv
from rtmhub.db import Database
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.audit import service as audit
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.audit.schemas import AuditFilter
from rtmhub.domain.customers import service as customers

HEADERS = ["Time (UTC)", "Actor", "Action", "Event", "Entity type", "Entity id", "Subject", "Customer", "Changes",
           "Tracking id"]
CHUNK = 1000


def row(e: AuditEvent, customer_names: dict[str, str], location_names: dict[str, str]) -> list[str]:
    """One event as a CSV row (English, like the API)."""
    return [e.at.isoformat().replace("+00:00", "Z"), e.actor, e.action, str(audit.describe(e)), e.entity_type,
            e.entity_id, e.subject or "", customer_names.get(e.customer_id or "", ""),
            audit.change_text(e, audit.changes(e, location_names)), e.request_id or ""]


def export_events(db: Database, caller: Caller, flt: AuditFilter, customer_id: str | None = None,
                  partner_ids: tuple[str, ...] | None = None) -> Iterator[bytes]:
    """The events ``audit.list_events`` would list, all of them, as CSV chunks."""
    with db.unit_of_work(write=False) as s:  # the scope check (404), before anything is streamed
        audit.list_events(s, caller, flt, customer_id=customer_id, partner_ids=partner_ids, limit=1)

    def rows() -> Iterator[list[str]]:
        after: tuple[datetime, str] | None = None
        while True:
            with db.unit_of_work(write=False) as s:
                chunk = audit.events_after(s, caller, flt, customer_id=customer_id, partner_ids=partner_ids,
                                           after=after, limit=CHUNK)
                names = customers.names(s, caller, {e.customer_id for e in chunk if e.customer_id})
                places = audit.location_names(s, chunk)
                rendered = [row(e, names, places) for e in chunk]
                if chunk:
                    after = (chunk[-1].at, chunk[-1].id)
            if not chunk:
                return
            yield from rendered

    return write_csv(rows(), HEADERS)


__all__ = ["HEADERS", "export_events", "row"]
