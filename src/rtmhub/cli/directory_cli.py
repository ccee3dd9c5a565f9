"""``rtmhub directory``: directory synchronisation (SCIM) of a customer organisation: enable, disable, status,
tokens and group -> package mappings."""
from __future__ import annotations

import typer

from rtmhub.cli.common import _print_json, _print_table, _resolve_customer, _unit
from rtmhub.domain.directory import service as directory
from rtmhub.settings import get_settings

directory_app = typer.Typer(help="Directory synchronisation (SCIM 2.0) of a customer organisation.",
                            no_args_is_help=True)
CUSTOMER = typer.Option(..., "--customer", help="The customer's id or orgId (as 'rtmhub customers list' shows).")


@directory_app.command("enable")
def directory_enable(customer: str = CUSTOMER,
                     read_only: bool = typer.Option(False, "--read-only",
                                                    help="Make the token identity:people_read (it can only read).")
                     ) -> None:
    """Turn directory sync on; print the SCIM base URL and, alone on the last line, a new bearer token of the
    organisation's directory (scope identity:people_rw) for the identity provider. The token is shown only now."""
    with _unit() as (session, caller):
        found = _resolve_customer(session, caller, customer)
        _, was_off = directory.enable(session, caller, found.id)
        row, token = directory.create_token(session, caller, found.id, read_only=read_only)
        base = directory.scim_base_url(get_settings().base_url(), found)
        name = found.name
    typer.echo(f"Directory synchronisation is {'now on' if was_off else 'already on'} for {name}.", err=True)
    typer.echo(f"SCIM base URL: {base}")
    typer.echo(f"Token {row.id} (scope {row.scopes}, valid until revoked or 'rtmhub directory disable'); "
               "it is shown only now:", err=True)
    typer.echo(token)


@directory_app.command("disable")
def directory_disable(customer: str = CUSTOMER) -> None:
    """Turn directory sync off: the directory's tokens are revoked; the users it synced stay, with their packages."""
    with _unit() as (session, caller):
        found = _resolve_customer(session, caller, customer)
        revoked = directory.disable(session, caller, found.id)
        name = found.name
    typer.echo(f"Directory synchronisation is off for {name}; {revoked} directory token(s) revoked. "
               "The synced users stay.")


@directory_app.command("status")
def directory_status(customer: str = CUSTOMER,
                     as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text.")) -> None:
    """Whether sync is on, the SCIM base URL, users and groups synced, the last change, the last errors and the
    users waiting for a unit per package."""
    with _unit(write=False) as (session, caller):
        found = _resolve_customer(session, caller, customer)
        data = directory.status(session, caller, found.id, get_settings().base_url()).as_json()
        mappings = [{"group": m.group_name, "package": m.mapping.package, "location": m.location_name,
                     "priority": m.mapping.priority, "members": m.members}
                    for m in directory.list_mappings(session, caller, found.id)]
        name = found.name
    data["mappings"] = mappings
    if as_json:
        _print_json([data])
        return
    lines = [f"Directory synchronisation of {name}: {'on' if data['enabled'] else 'off'}",
             f"SCIM base URL: {data['scimBaseUrl']}",
             f"Enabled: {data['enabledAt'] or '-'} by {data['enabledBy'] or '-'}",
             f"Active directory tokens: {data['activeTokens']}",
             f"Users synced: {data['usersSynced']}; groups synced: {data['groupsSynced']}",
             f"Last change: {data['lastChange'] or 'never'}"]
    for w in data["waiting"]:
        lines.append(f"{w['name']} full or not ready: {w['users']} user(s) waiting "
                     f"({', '.join(f'{k}: {v}' for k, v in w['reasons'].items())})")
    if not data["waiting"]:
        lines.append("Users waiting for a unit: none")
    for e in data["lastErrors"]:
        lines.append(f"Error {e['at'][:19]} {e['operation']} {e['user'] or ''}: {e['reason'] or ''}")
    typer.echo("\n".join(lines))
    if mappings:
        _print_table("Group → package mappings", ["Group", "Package", "Location", "Priority", "Members"],
                     [[m["group"], m["package"], m["location"], m["priority"], m["members"]] for m in mappings])


@directory_app.command("token")
def directory_token(customer: str = CUSTOMER,
                    read_only: bool = typer.Option(False, "--read-only", help="A token with identity:people_read.")
                    ) -> None:
    """A new bearer token of the organisation's directory, alone on the last line (shown only now)."""
    with _unit() as (session, caller):
        found = _resolve_customer(session, caller, customer)
        row, token = directory.create_token(session, caller, found.id, read_only=read_only)
    typer.echo(f"Token {row.id} (scope {row.scopes}); it is shown only now:", err=True)
    typer.echo(token)


@directory_app.command("map")
def directory_map(customer: str = CUSTOMER,
                  group: str = typer.Option(..., "--group", help="The directory group's display name."),
                  package: str = typer.Option(..., "--package",
                                              help="The package its members get, e.g. webex_meetings."),
                  location: str | None = typer.Option(None, "--location", help="Location name (calling packages)."),
                  priority: int = typer.Option(0, "--priority", help="Of two mapped groups the higher priority wins.")
                  ) -> None:
    """Members of a directory group get a package (within the allocation; the rest wait for a unit)."""
    with _unit() as (session, caller):
        found = _resolve_customer(session, caller, customer)
        directory.map_group(session, caller, found.id, group=group, package=package, location=location,
                            priority=priority)
        waiting = directory.waiting_summary(session, found)
    typer.echo(f"Group '{group.strip()}' now gives {package} (priority {priority}).")
    for w in waiting:
        typer.echo(f"{w.name}: {w.count} user(s) waiting.")


@directory_app.command("unmap")
def directory_unmap(customer: str = CUSTOMER,
                    group: str = typer.Option(..., "--group", help="The directory group's display name.")) -> None:
    """Remove a group's mapping: members who got the package from it lose it."""
    with _unit() as (session, caller):
        found = _resolve_customer(session, caller, customer)
        count = directory.unmap_group(session, caller, found.id, group=group)
    typer.echo(f"Group '{group.strip()}' no longer gives a package; {count} member(s) reconciled.")
