"""``rtmhub admin …`` and ``rtmhub token …``: administrator accounts and their API tokens.

``admin reset-link`` prints a one-time set-password link (on the last line of stdout), valid for 7 days; it
makes a new administrator's first password (a customer's first administrator is created without one when
the customer is onboarded) and replaces a forgotten one.

A token is printed once, on the last line of ``token create``; only its SHA-256 digest is stored, and
``token list`` shows ids and dates, never a token or a digest.
"""
from __future__ import annotations

import sys
from typing import Any

import typer

from rtmhub import ids
from rtmhub.cli.common import JSON_OPTION, _fail, _print_json, _print_table, _unit
from rtmhub.domain.access import service as access
from rtmhub.domain.access.models import ROLES
from rtmhub.domain.access.schemas import SCOPES
from rtmhub.domain.customers import service as customers
from rtmhub.domain.partners import service as partners
from rtmhub.settings import get_settings

admin_app = typer.Typer(help="Administrator accounts.", no_args_is_help=True)
token_app = typer.Typer(help="API access tokens.", no_args_is_help=True)


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def _read_password(password: str | None, from_stdin: bool) -> str:
    if password is not None and from_stdin:
        raise _fail("Give the password either with --password or with --password-stdin, not both.")
    if from_stdin:
        # The first line of standard input, without its line break: `printf '%s\n' "$PW" | rtmhub …`.
        line = sys.stdin.readline()
        if not line:
            raise _fail("--password-stdin found nothing on standard input; pipe the password in.")
        return line.rstrip("\r\n")
    if password is None:
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@admin_app.command("create")
def admin_create(
    email: str = typer.Option(..., "--email", help="The administrator's e-mail address."),
    role: str = typer.Option(..., "--role", help=" | ".join(ROLES)),
    partner: str | None = typer.Option(None, "--partner", help="Partner name or orgId (partner roles)."),
    customer: str | None = typer.Option(None, "--customer", help="Customer id or orgId (customer_full_admin)."),
    password: str | None = typer.Option(
        None, "--password", help="Sign-in password (stays in shell history: prefer --password-stdin or the prompt)."),
    password_stdin: bool = typer.Option(False, "--password-stdin",
                                        help="Read the password from the first line of standard input."),
) -> None:
    """Create an administrator account. The password needs at least 12 characters, must not contain the
    e-mail's name and must not be easy to guess; it is asked for when neither --password nor
    --password-stdin is given."""
    if role not in ROLES:
        raise _fail(f"Unknown role '{role}'; use one of: {', '.join(ROLES)}.")
    secret = _read_password(password, password_stdin)
    with _unit() as (session, caller):
        # Public ids are decoded here, at the edge; the domain matches raw ids (and partner names).
        account = access.create_admin(
            session, caller, email=email, role=role, password=secret,
            partner=ids.raw("ORGANIZATION", partner) if partner else partner,
            customer=ids.raw(("CUSTOMER", "ORGANIZATION"), customer) if customer else customer,
            shown=customer if role == "customer_full_admin" else partner)
        where = ""
        if account.customer_id:
            name = customers.names(session, caller, [account.customer_id]).get(account.customer_id)
            where = f" for customer '{name}' ({ids.encode('CUSTOMER', account.customer_id)})" if name else ""
        elif account.partner_id:
            name = partners.partner_names(session, caller).get(account.partner_id)
            where = f" for partner '{name}'" if name else ""
        message = f"Created {account.role} {account.email}{where}."
    typer.echo(message)


@admin_app.command("list")
def admin_list(as_json: bool = JSON_OPTION) -> None:
    """Administrator accounts with their role and organisation."""
    with _unit(write=False) as (session, caller):
        accounts = access.list_admins(session, caller)
        partner_names = partners.partner_names(session, caller)
        customer_names = customers.names(session, caller, {a.customer_id for a in accounts if a.customer_id})
        rows = [{
            "email": a.email, "role": a.role,
            "partner": partner_names.get(a.partner_id) if a.partner_id else None,
            "partnerOrgId": ids.encode("ORGANIZATION", a.partner_id) if a.partner_id else None,
            "customer": customer_names.get(a.customer_id) if a.customer_id else None,
            "customerId": ids.encode("CUSTOMER", a.customer_id) if a.customer_id else None,
            "canSignIn": a.password_hash is not None, "created": _iso(a.created),
        } for a in accounts]
    if as_json:
        _print_json(rows)
        return
    _print_table("Administrators", ["E-mail", "Role", "Organisation", "Password set", "Created"],
                 [[r["email"], r["role"], r["partner"] or r["customer"], "yes" if r["canSignIn"] else "no",
                   (r["created"] or "")[:19]] for r in rows])


@admin_app.command("reset-link")
def admin_reset_link(email: str = typer.Option(..., "--email", help="The administrator's e-mail address.")) -> None:
    """Print a new one-time set-password link for an administrator (any role), valid for 7 days. Earlier
    links of the account stop working; a password it has works until the link is used. The link is shown
    only now, alone on the last line: hand it to the administrator over a channel you trust."""
    with _unit() as (session, caller):
        account, token, expires = access.reset_link(session, caller, email=email)
        note = (f"Set-password link for {account.role} {account.email}, valid until "
                f"{expires:%Y-%m-%d %H:%M} UTC and for one use; earlier links no longer work. It is shown only now:")
    typer.echo(note, err=True)
    typer.echo(get_settings().base_url() + access.SET_PASSWORD_PATH + token)


@admin_app.command("delete")
def admin_delete(email: str = typer.Option(..., "--email", help="The administrator's e-mail address.")) -> None:
    """Delete an administrator account with its API tokens and sessions."""
    with _unit() as (session, caller):
        account = access.delete_admin(session, caller, email=email)
        message = f"Deleted {account.role} {account.email} with its API tokens."
    typer.echo(message)


@token_app.command("create")
def token_create(
    email: str = typer.Option(..., "--email", help="The administrator the token acts as."),
    scope: list[str] = typer.Option(..., "--scope", help="A scope (repeat for more), or 'all' for every scope."),
    expires_in: int | None = typer.Option(None, "--expires-in", metavar="DAYS",
                                          help="Days until the token expires (default: until revoked)."),
) -> None:
    """Create an API token; the token is printed once, alone on the last line of stdout."""
    scopes: list[str] = []
    for item in scope:
        for name in item.replace(",", " ").split():
            scopes.extend(SCOPES if name == "all" else [name])
    with _unit() as (session, caller):
        row, token = access.issue_token(session, caller, email=email, scopes=list(dict.fromkeys(scopes)),
                                        expires_in_days=expires_in)
        until = f"expires {_iso(row.expires)}" if row.expires else "valid until revoked"
        note = f"Token {row.id} for {email.strip()} ({until}); it is shown only now:"
    typer.echo(note, err=True)
    typer.echo(token)


@token_app.command("list")
def token_list(email: str = typer.Option(..., "--email", help="The administrator whose tokens to list."),
               as_json: bool = JSON_OPTION) -> None:
    """An administrator's tokens: id, scopes, dates and state (never the token itself)."""
    with _unit(write=False) as (session, caller):
        rows = [{"id": t.id, "scopes": t.scopes.split(), "created": _iso(t.created), "expires": _iso(t.expires),
                 "lastUsed": _iso(t.last_used), "revoked": _iso(t.revoked), "state": access.token_state(t)}
                for t in access.list_tokens(session, caller, email=email)]
    if as_json:
        _print_json(rows)
        return
    _print_table(f"API tokens of {email.strip()}", ["id", "State", "Scopes", "Created", "Expires", "Last used",
                                                    "Revoked"],
                 [[r["id"], r["state"], "\n".join(r["scopes"]), r["created"], r["expires"] or "never",
                   r["lastUsed"] or "never", r["revoked"]] for r in rows])


@token_app.command("revoke")
def token_revoke(token_id: str = typer.Argument(..., metavar="TOKEN_ID",
                                                help="The id shown by 'rtmhub token list'.")) -> None:
    """Revoke a token: this process refuses it at once, every other app process within 5 seconds (decision 38)."""
    with _unit() as (session, caller):
        row = access.revoke_token(session, caller, token_id)
        message = f"Revoked token {row.id}."
    typer.echo(message)
