"""Plumbing shared by the ``rtmhub`` command modules: the operator's unit of work, clean errors, tables
and JSON."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from rtmhub import ids
from rtmhub.db import Database
from rtmhub.domain.access import service as access
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.customers.models import Customer
from rtmhub.errors import DomainError
from rtmhub.settings import get_settings

JSON_OPTION = typer.Option(False, "--json", help="Print a JSON array instead of a table.")


# --- plumbing ------------------------------------------------------------------------------

def _safe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is reported by the engine itself
        return url


def _fail(message: str) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code=1)


def _database_problem(url: str, exc: Exception) -> typer.Exit:
    text = str(getattr(exc, "orig", exc) or exc)
    lowered = text.lower()
    if "database" in lowered and "does not exist" in lowered:
        return _fail(f"the database {_safe_url(url)} does not exist; create it (e.g. with createdb), then run "
                     "'rtmhub init'.")
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return _fail(f"the database {_safe_url(url)} has no rtmhub tables yet; run 'rtmhub init' first.")
    first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return _fail(f"cannot use the database {_safe_url(url)} ({first_line}). Check RTMHUB_DATABASE_URL and "
                 "run 'rtmhub init'.")


@contextmanager
def _unit(write: bool = True) -> Iterator[tuple[Session, Caller]]:
    """One unit of work as the operator; domain and database errors become a clean exit 1."""
    url = get_settings().database_url
    db = Database(url)
    try:
        with db.unit_of_work(write=write) as session:
            yield session, Caller.operator()
    except DomainError as exc:
        raise _fail(exc.message) from None
    except (OperationalError, ProgrammingError) as exc:
        raise _database_problem(url, exc) from None
    finally:
        db.dispose()


def _print_json(rows: list[dict[str, Any]]) -> None:
    typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))


def _print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title, show_lines=False, header_style="bold")
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    for i, column in enumerate(columns):
        # Ids and e-mails are copied into other commands: never cut a cell, widen the table instead.
        width = max([len(line) for r in cells for line in r[i].splitlines()] or [1])
        table.add_column(column, no_wrap=True, min_width=width)
    for row in cells:
        table.add_row(*row)
    console = Console()
    needed = console.measure(table, options=console.options.update_width(10_000)).minimum
    if needed > console.width:
        console = Console(width=needed)
    console.print(table)


def _resolve_customer(session: Session, caller: Caller, value: str) -> Customer:
    """A customer by public customer id, public orgId or raw UUID, within the caller's scope."""
    return access.resolve_customer(
        session, caller, ids.raw(("CUSTOMER", "ORGANIZATION"), value),
        not_found=f"Customer '{value}' not found; use an id or orgId shown by 'rtmhub customers list'.")
