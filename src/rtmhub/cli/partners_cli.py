"""``rtmhub partners …`` and ``rtmhub templates …``: partners, sub-partners (R53) and onboarding templates,
so that an empty database can be set up without the demo."""
from __future__ import annotations

from datetime import date

import typer
from sqlalchemy.orm import Session

from rtmhub import ids
from rtmhub.cli.common import JSON_OPTION, _fail, _print_json, _print_table, _unit
from rtmhub.domain.access import service as access
from rtmhub.domain.partners import service as partners
from rtmhub.domain.partners.models import Partner

partners_app = typer.Typer(help="Partners and sub-partners.", no_args_is_help=True)
templates_app = typer.Typer(help="Onboarding templates (provisioningId).", no_args_is_help=True)


def _partner(session: Session, value: str) -> Partner:
    """A partner by name, public orgId or raw id (decoded here, at the edge)."""
    return access.find_partner(session, ids.raw("ORGANIZATION", value), shown=value)


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise _fail(f"--billing-start-date '{value}' is not a date; write it as YYYY-MM-DD, e.g. 2026-01-31.") from None


@partners_app.command("create")
def partners_create(
    name: str = typer.Argument(..., help="The partner's organisation name."),
    parent: str | None = typer.Option(None, "--parent", help="Make it a sub-partner of this partner (name or orgId)."),
    subscription_id: str | None = typer.Option(
        None, "--subscription-id", help="Wholesale subscription id (a sub-partner shares its parent's by default)."),
    billing_start_date: str | None = typer.Option(None, "--billing-start-date", metavar="YYYY-MM-DD",
                                                  help="Billing start date (default: today)."),
) -> None:
    """Create a partner, or with --parent a sub-partner."""
    start = _date(billing_start_date)
    with _unit() as (session, caller):
        parent_row = _partner(session, parent) if parent else None
        row = partners.create_partner(session, caller, name, parent=parent_row, billing_start=start,
                                      subscription_id=subscription_id)
        kind = f" as a sub-partner of '{parent_row.name}'" if parent_row else ""
        message = (f"Created partner '{row.name}'{kind} (orgId {ids.encode('ORGANIZATION', row.id)}, subscription "
                   f"{row.subscription_id}, billing from {row.billing_start_date}).")
    typer.echo(message)


@partners_app.command("list")
def partners_list(as_json: bool = JSON_OPTION) -> None:
    """Partners and sub-partners with their provisioning state."""
    with _unit(write=False) as (session, caller):
        found = partners.list_partners(session, caller)
        names = {p.id: p.name for p in found}
        rows = [{
            "name": p.name, "orgId": ids.encode("ORGANIZATION", p.id), "parent": names.get(p.parent_id or ""),
            "parentOrgId": ids.encode("ORGANIZATION", p.parent_id) if p.parent_id else None,
            "provisioningState": p.provisioning_state, "subscriptionId": p.subscription_id,
            "billingStartDate": p.billing_start_date.isoformat() if p.billing_start_date else None,
        } for p in found]
    if as_json:
        _print_json(rows)
        return
    _print_table("Partners", ["Name", "orgId", "Parent", "State", "Subscription", "Billing start"],
                 [[r["name"], r["orgId"], r["parent"], r["provisioningState"], r["subscriptionId"],
                   r["billingStartDate"]] for r in rows])


def _set_state(value: str, state: str) -> None:
    with _unit() as (session, caller):
        row = _partner(session, value)
        changed = partners.set_state(session, caller, row, state)
        message = (f"Sub-partner '{row.name}' is now {state}" if changed
                   else f"Sub-partner '{row.name}' was already {state}; nothing changed")
        if state == "suspended":
            message += " (R53: it may only delete customers and subscribers)."
        else:
            message += "."
    typer.echo(message)


@partners_app.command("suspend")
def partners_suspend(partner: str = typer.Argument(..., metavar="NAME_OR_ID")) -> None:
    """Suspend a sub-partner: it may then only delete customers and subscribers (R53)."""
    _set_state(partner, "suspended")


@partners_app.command("activate")
def partners_activate(partner: str = typer.Argument(..., metavar="NAME_OR_ID")) -> None:
    """Activate a suspended sub-partner again."""
    _set_state(partner, "active")


@templates_app.command("create")
def templates_create(
    partner: str = typer.Option(..., "--partner", help="The partner that owns it (name or orgId)."),
    name: str = typer.Option(..., "--name", help="Template name (unique within the partner)."),
    country: str = typer.Option(..., "--country", metavar="CC", help="Two-letter country code, e.g. FI."),
    language: str = typer.Option(..., "--language", metavar="LL", help="Default e-mail language, e.g. fi or en."),
) -> None:
    """Create an onboarding template; its provisioningId is printed alone on the last line."""
    with _unit() as (session, caller):
        owner = _partner(session, partner)
        row = partners.create_template(session, caller, owner, name, country.strip().upper(), language.strip())
        note = f"Created template '{row.name}' of partner '{owner.name}'; provisioningId:"
        provisioning_id = row.provisioning_id
    typer.echo(note, err=True)
    typer.echo(provisioning_id)


@templates_app.command("list")
def templates_list(as_json: bool = JSON_OPTION) -> None:
    """Onboarding templates with the provisioningId to use when creating customers."""
    with _unit(write=False) as (session, caller):
        names = partners.partner_names(session, caller)
        rows = [{
            "name": t.name, "provisioningId": t.provisioning_id, "partner": names.get(t.partner_id),
            "partnerOrgId": ids.encode("ORGANIZATION", t.partner_id), "country": t.country, "language": t.language,
        } for t in partners.list_templates(session, caller)]
    if as_json:
        _print_json(rows)
        return
    _print_table("Onboarding templates", ["Name", "provisioningId", "Partner", "Country", "Language"],
                 [[r["name"], r["provisioningId"], r["partner"], r["country"], r["language"]] for r in rows])
