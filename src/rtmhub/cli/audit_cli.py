"""``rtmhub audit …``: the audit log — who changed what and when, with the difference in words."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from rtmhub import ids
from rtmhub.cli.common import JSON_OPTION, _fail, _print_json, _print_table, _resolve_customer, _unit
from rtmhub.db import Database
from rtmhub.domain.access import service as access
from rtmhub.domain.audit import service as audit
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.audit.schemas import AuditFilter
from rtmhub.errors import DomainError
from rtmhub.jobs import audit_export
from rtmhub.settings import get_settings

audit_app = typer.Typer(help="The audit log: every change, who made it and when.", no_args_is_help=True)

CUSTOMER = typer.Option(None, "--customer", help="Only this customer's events (customer id or orgId).")
PARTNER = typer.Option(None, "--partner", help="Only this partner's and its sub-partners' events (name or orgId).")
SINCE = typer.Option(None, "--since", metavar="DATE", help="From this day (YYYY-MM-DD, UTC) or time (ISO 8601).")
UNTIL = typer.Option(None, "--until", metavar="DATE", help="Up to and including this day (YYYY-MM-DD, UTC).")
ACTOR = typer.Option(None, "--actor", metavar="E", help="Who made the change (part of the e-mail is enough).")
ACTION = typer.Option(None, "--action", metavar="A", help="An action such as user.update, or a kind such as user.")
EMAIL = typer.Option(None, "--email", metavar="E", help="The user (or admin) the event is about (part of the "
                                                         "e-mail is enough).")


def _filter(since: str | None, until: str | None, actor: str | None, action: str | None,
            email: str | None) -> AuditFilter:
    try:
        return audit.parse_filter(since=since, until=until, actor=actor, action=action, email=email,
                                  names=("--since", "--until"))
    except DomainError as exc:
        raise _fail(exc.message) from None


def _where(session, caller, customer: str | None, partner: str | None) -> tuple[str | None, tuple[str, ...] | None]:
    customer_id = _resolve_customer(session, caller, customer).id if customer else None
    partner_ids = None
    if partner:
        found = access.find_partner(session, ids.raw("ORGANIZATION", partner), shown=partner)
        partner_ids = access.partner_tree(session, found.id)
    return customer_id, partner_ids


def _json(e: AuditEvent, names: dict[str, str]) -> dict[str, Any]:
    return {"id": e.id, "time": e.at.isoformat().replace("+00:00", "Z"), "actor": e.actor, "action": e.action,
            "description": str(audit.describe(e)), "entityType": e.entity_type, "entityId": e.entity_id,
            "customerId": e.customer_id, "subject": e.subject, "trackingId": e.request_id,
            "before": e.before, "after": e.after,
            "changes": [{"field": c.field, "label": str(c.label), "before": c.before and str(c.before),
                         "after": c.after and str(c.after)} for c in audit.changes(e, names)]}


@audit_app.command("list")
def audit_list(customer: str | None = CUSTOMER, partner: str | None = PARTNER, since: str | None = SINCE,
               until: str | None = UNTIL, actor: str | None = ACTOR, action: str | None = ACTION,
               email: str | None = EMAIL,
               limit: int = typer.Option(100, "--max", min=1, max=10_000, help="At most this many, newest first."),
               as_json: bool = JSON_OPTION) -> None:
    """Audit events newest first: when, who, what, and the difference field by field."""
    flt = _filter(since, until, actor, action, email)
    with _unit(write=False) as (session, caller):
        customer_id, partner_ids = _where(session, caller, customer, partner)
        events = audit.list_events(session, caller, flt, customer_id=customer_id, partner_ids=partner_ids,
                                   limit=limit)
        names = audit.location_names(session, events)
        rows = [_json(e, names) for e in events]
        texts = [audit.change_text(e, audit.changes(e, names)) for e in events]
    if as_json:
        _print_json(rows)
        return
    if not rows:
        typer.echo("No audit events match.")
        return
    _print_table("Audit log", ["Time (UTC)", "Who", "What", "About", "Changes"],
                 [[r["time"][:19].replace("T", " "), r["actor"], r["description"], r["subject"], text]
                  for r, text in zip(rows, texts, strict=True)])


@audit_app.command("export")
def audit_export_cmd(customer: str | None = CUSTOMER, partner: str | None = PARTNER, since: str | None = SINCE,
                     until: str | None = UNTIL, actor: str | None = ACTOR, action: str | None = ACTION,
                     email: str | None = EMAIL,
                     output: Path | None = typer.Option(None, "--output", "-o", help="Write here (default: stdout)."),
                     ) -> None:
    """The filtered audit log (every event) as CSV."""
    flt = _filter(since, until, actor, action, email)
    with _unit(write=False) as (session, caller):
        customer_id, partner_ids = _where(session, caller, customer, partner)
    db = Database(get_settings().database_url)
    try:
        chunks = audit_export.export_events(db, caller, flt, customer_id, partner_ids)
        if output is None:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
        else:
            with output.open("wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
            typer.echo(f"Wrote the audit log to {output}.")
    except DomainError as exc:
        raise _fail(exc.message) from None
    finally:
        db.dispose()
