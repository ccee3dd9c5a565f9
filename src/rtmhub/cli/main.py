"""The operator's command line: ``rtmhub``. A thin adapter over the domain services.

Every command runs in one unit of work as the local operator (``Caller.operator()``). Domain
errors are shown as ``Error: <message>`` on stderr with exit code 1, never as a traceback.
List commands print Rich tables for people and, with ``--json``, a JSON array for scripts.
"""
from __future__ import annotations

from typing import Any

import typer
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError, ProgrammingError
from typer.core import TyperGroup

from rtmhub import ids
from rtmhub.cli import admins, audit_cli, directory_cli, partners_cli, reports_cli
from rtmhub.cli.common import (
    JSON_OPTION,
    _database_problem,
    _fail,
    _print_json,
    _print_table,
    _resolve_customer,
    _safe_url,
    _unit,
)
from rtmhub.db import Database
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.customers import service as customers
from rtmhub.domain.partners import service as partners
from rtmhub.settings import Settings, get_settings, settings_problems


class _SettingsNamedGroup(TyperGroup):
    """The root command group: a wrong RTMHUB_ setting met by any command (every command but --help reads them
    before it does anything) is named on a line of its own with what it must be, exit code 2, instead of a
    traceback."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ValidationError as exc:
            if exc.title != Settings.__name__:  # a command's own input, not the environment
                raise
            typer.echo("Error: these settings cannot be used; fix them in the environment (or .env):", err=True)
            for line in settings_problems(exc):
                typer.echo(f"  {line}", err=True)
            raise typer.Exit(code=2) from None


app = typer.Typer(
    name="rtmhub",
    help="rtmhub: self-hosted Partner Hub and Control Hub for wholesale Route-to-Market.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_SettingsNamedGroup,
)
customers_app = typer.Typer(help="Wholesale customers.", no_args_is_help=True)
users_app = typer.Typer(help="Users of a customer organisation.", no_args_is_help=True)
app.add_typer(admins.admin_app, name="admin")
app.add_typer(admins.token_app, name="token")
app.add_typer(partners_cli.partners_app, name="partners")
app.add_typer(partners_cli.templates_app, name="templates")
app.add_typer(customers_app, name="customers")
app.add_typer(users_app, name="users")
app.add_typer(audit_cli.audit_app, name="audit")
app.add_typer(directory_cli.directory_app, name="directory")
app.add_typer(reports_cli.reports_app, name="reports")

# --- set-up --------------------------------------------------------------------------------

@app.command()
def init() -> None:
    """Create the database or upgrade it to the latest schema."""
    from rtmhub import migrate

    url = get_settings().database_url
    try:
        migrate.upgrade(url)
    except (OperationalError, ProgrammingError) as exc:
        raise _database_problem(url, exc) from None
    typer.echo(f"Database ready: {_safe_url(url)}")


def _print_sign_in(info: dict[str, Any]) -> None:
    typer.echo("")
    typer.echo("Demo sign-in")
    typer.echo(f"  URL:      {info['url']}")
    typer.echo(f"  E-mail:   {info['email']}")
    typer.echo(f"  Password: {info['password']}")
    if info.get("readonly_email"):
        typer.echo(f"  Read-only admin: {info['readonly_email']} / {info['readonly_password']}")
    if info.get("customer_admin_email"):
        typer.echo(f"  Customer admin:  {info['customer_admin_email']} / {info['customer_admin_password']}")
    typer.echo("")
    typer.echo("API token for scripts:")
    typer.echo(f"  rtmhub token create --email {info['email']} --scope all")


@app.command()
def demo(
    url: str = typer.Option(None, "--url", help="The address rtmhub will be served at, printed with the sign-in "
                                                "(default http://127.0.0.1:8000, where `rtmhub serve` listens)."),
) -> None:
    """Migrate, then load demo data (partner "Demo Partner") if the database holds no partner yet."""
    from rtmhub import demo as demo_data
    from rtmhub import migrate

    if url is not None and not url.startswith(("http://", "https://")):
        raise typer.BadParameter(f"'{url}' is not a web address; give it as http://host:port.", param_hint="--url")
    database = get_settings().database_url
    try:
        migrate.upgrade(database)
    except (OperationalError, ProgrammingError) as exc:
        raise _database_problem(database, exc) from None
    with _unit() as (session, caller):
        if partners.holds_data(session):
            typer.echo(f"The database {_safe_url(database)} already holds data; the demo was not loaded again.")
            info = {"url": demo_data.DEMO_URL, "email": demo_data.ADMIN_EMAIL, "password": demo_data.ADMIN_PASSWORD}
        else:
            info = demo_data.load_demo(session, caller)
            typer.echo(f"Demo data loaded into {_safe_url(database)}: partner '{info['partner']}', sub-partner "
                       f"'{info['sub_partner']}', {len(info['customers'])} customers, {info['users']} users.")
    _print_sign_in({**info, "url": url or info["url"]})


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, max=64, help="App processes (each also runs the in-process task "
                                "worker unless RTMHUB_INPROCESS_WORKER=false; see docs/operations.md)."),
) -> None:
    """Serve the web pages, REST API and SCIM."""
    import os
    import shutil
    import tempfile

    import uvicorn

    from rtmhub.ops.logs import logging_config

    settings = get_settings()
    made = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # One /metrics for all N processes: prometheus-client shares their counters through this directory
        # (the processes inherit the variable). Set it yourself to share it with `rtmhub worker`s too.
        made = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="rtmhub-metrics-")
    try:
        # proxy_headers=False: uvicorn would otherwise take the client address from X-Forwarded-For of any
        # peer; the app decides which proxies it trusts. access_log=False: the app writes its own access
        # line (route template, status, duration, trackingId).
        uvicorn.run("rtmhub.app:create_app", factory=True, host=host, port=port, workers=workers,
                    proxy_headers=False, access_log=False,
                    log_config=logging_config(settings.log_format, settings.log_level))
    finally:
        if made:
            shutil.rmtree(made, ignore_errors=True)


# --- lists ---------------------------------------------------------------------------------

@customers_app.command("list")
def customers_list(as_json: bool = JSON_OPTION) -> None:
    """Customers with their packages as used/allocation."""
    from rtmhub.domain.customers.schemas import CustomerFilter

    rows: list[dict[str, Any]] = []
    with _unit(write=False) as (session, caller):
        names = partners.partner_names(session, caller)
        offset = 0
        while True:
            page = customers.list_customers(session, caller, CustomerFilter(), offset=offset, limit=500)
            for c in page:
                packages = {p.package: {"used": p.used, "allocation": p.allocation}
                            for p in customers.packages_of(session, c.id)}
                rows.append({
                    "id": ids.encode("CUSTOMER", c.id), "orgId": ids.encode("ORGANIZATION", c.org_id),
                    "name": c.name, "externalId": c.external_id, "status": c.status,
                    "partner": names.get(c.partner_id), "packages": packages,
                })
            if len(page) < 500:
                break
            offset += 500
    if as_json:
        _print_json(rows)
        return

    def usage(packages: dict[str, dict[str, Any]]) -> str:
        return "\n".join(f"{name} {p['used']}/{'unlimited' if p['allocation'] is None else p['allocation']}"
                         for name, p in packages.items())

    _print_table("Customers", ["id", "orgId", "Name", "externalId", "Status", "Partner", "Packages used/allocation"],
                 [[r["id"], r["orgId"], r["name"], r["externalId"], r["status"], r["partner"], usage(r["packages"])]
                  for r in rows])


@users_app.command("list")
def users_list(
    customer: str = typer.Option(..., "--customer", help="Customer id, orgId or UUID."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Users of one customer with package and calling data."""
    from rtmhub.domain.locations import service as locations
    from rtmhub.domain.users import service as users
    from rtmhub.domain.users.schemas import UserFilter

    rows: list[dict[str, Any]] = []
    with _unit(write=False) as (session, caller):
        row = _resolve_customer(session, caller, customer)
        location_names = {loc.id: loc.name for loc in locations.list_locations(session, row, limit=100_000)}
        offset = 0
        while True:
            page = users.list_users(session, row, UserFilter(), offset=offset, limit=1000)
            for u in page:
                rows.append({
                    "id": ids.encode("PEOPLE", u.id), "email": u.email, "displayName": u.display_name,
                    "package": u.package, "extension": u.extension, "phoneNumber": u.phone_number,
                    "locationId": ids.encode("LOCATION", u.location_id) if u.location_id else None,
                    "location": location_names.get(u.location_id) if u.location_id else None,
                })
            if len(page) < 1000:
                break
            offset += 1000
        title = f"Users of {row.name} ({len(rows)})"
    if as_json:
        _print_json(rows)
        return
    _print_table(title, ["id", "E-mail", "Name", "Package", "Ext.", "Phone number", "Location"],
                 [[r["id"], r["email"], r["displayName"], r["package"], r["extension"], r["phoneNumber"],
                   r["location"]] for r in rows])


if __name__ == "__main__":  # pragma: no cover
    app()


# --- bulk users, tasks and workers -----------------------------------------------------------

tasks_app = typer.Typer(help="CSV preview, import and revert tasks.", no_args_is_help=True)
app.add_typer(tasks_app, name="tasks")


def _task_row(t, org_id: str | None = None, reverted_by: list[str] | None = None) -> dict[str, Any]:
    from rtmhub.domain.tasks import service as tasks

    return {"id": ids.encode("TASK", t.id), "type": t.type, "status": t.status, "mode": t.mode,
            "file": t.file_name, "orgId": org_id, "progress": tasks.task_progress(t),
            "added": t.added, "modified": t.modified, "deleted": t.deleted, "unchanged": t.unchanged,
            "failed": t.failed, "warnings": t.warnings, "created": t.created.isoformat(),
            "finished": t.finished.isoformat() if t.finished else None, "message": t.message,
            "deletions": t.deleted, "notices": [n["message"] for n in t.notices or []],
            "revertsTaskId": ids.encode("TASK", t.reverts_task_id) if t.reverts_task_id else None,
            "revertedBy": [ids.encode("TASK", r) for r in reverted_by or []]}


def _links(row: dict[str, Any]) -> str:
    """A task's revert links for the tables: "reverts X" / "reverted by Y"."""
    parts = [f"reverts {row['revertsTaskId']}"] if row["revertsTaskId"] else []
    parts += [f"reverted by {r}" for r in row["revertedBy"]]
    return "; ".join(parts)


def _resolve_task(value: str) -> str:
    raw = ids.decode("TASK", value)
    if raw is None:
        raise _fail(f"Task '{value}' not found; list tasks with 'rtmhub tasks list'.")
    return raw


@app.command()
def worker(once: bool = typer.Option(False, "--once", help="Run the queued tasks, then exit."),
           poll: float = typer.Option(1.0, help="Seconds between looks for new tasks.")) -> None:
    """Run CSV tasks. Start any number of these; each task and row is taken by one worker only."""
    from rtmhub.jobs.worker import Worker
    from rtmhub.ops.logs import configure

    settings = get_settings()
    configure(settings.log_format, settings.log_level)
    db = Database(settings.database_url)
    w = Worker(db, poll_seconds=poll)
    typer.echo(f"worker {w.name} started", err=True)
    try:
        if once:
            while w.run_once():
                pass
        else:
            w.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        db.dispose()


def _run_task(caller: Caller, task_id: str, label: str) -> Any:
    """Works the queue in this process (beside any `rtmhub worker`s) until the task ends, with a progress
    bar; returns the ended task (detached from its session)."""
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from rtmhub.domain.tasks import service as tasks
    from rtmhub.domain.tasks.models import FINISHED
    from rtmhub.jobs.worker import Worker

    db = Database(get_settings().database_url)
    helper = Worker(db, poll_seconds=0.2)
    helper.start_thread()
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeRemainingColumn(), transient=False) as progress:
            bar = progress.add_task(label, total=None)
            while True:
                with db.unit_of_work(write=False) as s:
                    t = tasks.get_task(s, caller, task_id)
                    s.expunge(t)  # read after the session ends (its rollback would expire it)
                progress.update(bar, completed=t.rows_done, total=t.total_rows, description=f"{label} {t.status}")
                if t.status in FINISHED:
                    return t
                time.sleep(0.2)
    finally:
        helper.stop.set()
        db.dispose()


@users_app.command("import")
def users_import(
    file: typer.FileBinaryRead = typer.Argument(..., help="CSV file in the Control Hub format, or an Excel "
                                                "workbook (.xlsx) with the same columns."),
    customer: str = typer.Option(..., "--customer", help="Customer id, orgId or UUID."),
    mode: str = typer.Option("add", help="add = Add services only; add-remove = Add and remove services."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Preview only: validate every row, change nothing."),
    sheet: str | None = typer.Option(None, "--sheet", help="The sheet of an .xlsx workbook to import (default: the "
                                                           "one sheet with user columns)."),
) -> None:
    """Import users from CSV as a task; waits with a progress bar and exits 0 only if every row applied."""
    from rtmhub.jobs.imports import submit_import

    settings = get_settings()
    with _unit() as (s, caller):
        c = _resolve_customer(s, caller, customer)
        # The open file itself: it is stored chunk by chunk, never read whole into memory.
        task = submit_import(s, caller, c.id, file_name=getattr(file, "name", "users.csv"), content=file,
                             mode=mode, preview=dry_run, max_rows=settings.csv_max_rows or None,
                             quota_bytes=settings.task_file_quota_bytes, sheet=sheet)
        task_id = task.id
    t = _run_task(caller, task_id, "preview" if dry_run else "import")
    summary = _task_row(t)
    typer.echo(f"Task {summary['id']}")
    if dry_run and t.deleted:  # what a preview would delete comes first
        typer.echo(f"Deletions: {t.deleted} user(s) would be deleted; 'rtmhub tasks show {summary['id']} "
                   "--outcome delete' lists them.")
    _print_table("Result", ["status", "added", "modified", "deleted", "unchanged", "failed", "warnings"],
                 [[t.status, t.added, t.modified, t.deleted, t.unchanged, t.failed, t.warnings]])
    if t.message:
        typer.echo(t.message, err=True)
    for notice in summary["notices"]:
        typer.echo(notice)
    if t.failed:
        typer.echo(f"{t.failed} row(s) failed: 'rtmhub tasks show {summary['id']}' lists them.", err=True)
    if t.status != "completed" or t.failed:
        raise typer.Exit(code=1)


@users_app.command("export")
def users_export(customer: str = typer.Option(..., "--customer", help="Customer id, orgId or UUID."),
                 output: str = typer.Option(..., "-o", "--output", help="File to write ('-' for stdout); a name "
                                                                       "ending in .xlsx writes an Excel workbook."),
                 ) -> None:
    """Export a customer's users in the import format (re-importing it changes nothing): CSV, or an Excel
    workbook when the file name ends in .xlsx."""
    import sys

    from rtmhub.jobs.exports import export_users

    with _unit(write=False) as (s, caller):
        customer_id = _resolve_customer(s, caller, customer).id
    db = Database(get_settings().database_url)
    try:
        chunks = export_users(db, Caller.operator(), customer_id,
                              "xlsx" if output.lower().endswith(".xlsx") else "csv")
        if output == "-":
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
        else:
            with open(output, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
    finally:
        db.dispose()


@tasks_app.command("list")
def tasks_list(customer: str | None = typer.Option(None, "--customer"), as_json: bool = JSON_OPTION) -> None:
    """CSV tasks, newest first."""
    from rtmhub.domain.tasks import service as tasks

    with _unit(write=False) as (s, caller):
        customer_id = _resolve_customer(s, caller, customer).id if customer else None
        found = tasks.list_tasks(s, caller, customer_id, 0, 1000)
        links = tasks.reverted_by(s, [t.id for t in found])
        rows = [_task_row(t, reverted_by=links.get(t.id)) for t in found]
    if as_json:
        _print_json(rows)
        return
    _print_table("Tasks", ["id", "type", "status", "progress", "added", "modified", "deleted", "failed", "created",
                           "revert"],
                 [[r["id"], r["type"], r["status"], f"{r['progress']['percent']}%", r["added"], r["modified"],
                   r["deleted"], r["failed"], r["created"][:19], _links(r)] for r in rows])


@tasks_app.command("show")
def tasks_show(task: str, as_json: bool = JSON_OPTION,
               outcome: str | None = typer.Option(None, help="Only rows with this outcome (e.g. error).")) -> None:
    """One task with its per-row results."""
    from rtmhub.domain.tasks import service as tasks

    raw = _resolve_task(task)
    with _unit(write=False) as (s, caller):
        t = tasks.get_task(s, caller, raw)
        head = _task_row(t, reverted_by=tasks.reverted_by(s, [t.id]).get(t.id))
        rows = [{"line": r.line, "email": r.email, "outcome": r.outcome, "changes": r.changes or [],
                 "messages": r.messages or []} for r in tasks.task_rows(s, caller, raw, outcome, 0, 100_000)]
    if as_json:
        _print_json([{**head, "rows": rows}])
        return
    _print_table("Task " + head["id"], ["type", "status", "added", "modified", "deleted", "unchanged", "failed"],
                 [[head["type"], head["status"], head["added"], head["modified"], head["deleted"], head["unchanged"],
                   head["failed"]]])
    for notice in head["notices"]:
        typer.echo(notice)
    if _links(head):
        typer.echo(_links(head))
    _print_table("Rows", ["line", "email", "outcome", "details"],
                 [[r["line"], r["email"], r["outcome"],
                   "; ".join(f"{m['column']}: {m['message']}" if m["column"] else m["message"] for m in r["messages"])
                   or ", ".join(r["changes"])] for r in rows if r["outcome"] != "unchanged" or r["messages"]])


@tasks_app.command("cancel")
def tasks_cancel(task: str) -> None:
    """Cancel a queued or running task (a running one stops after its current batch)."""
    from rtmhub.domain.tasks import service as tasks

    raw = _resolve_task(task)
    with _unit() as (s, caller):
        t = tasks.cancel(s, caller, raw)
        stopping = " (stopping after the current batch)" if t.cancel_requested else ""
        typer.echo(f"{ids.encode('TASK', t.id)} {t.status}{stopping}")


@tasks_app.command("revert")
def tasks_revert(task: str,
                 dry_run: bool = typer.Option(False, "--dry-run", help="Preview the revert: change nothing."),
                 force: bool = typer.Option(False, "--force",
                                            help="Also put back users changed after the import (their rows fail "
                                                 "otherwise).")) -> None:
    """Revert an applied import: a new task puts every user it added, modified or deleted back as it was before
    it. Waits with a progress bar; exits 0 only if every user was put back."""
    from rtmhub.domain.tasks import service as tasks

    raw = _resolve_task(task)
    with _unit() as (s, caller):
        task_id = tasks.start_revert(s, caller, raw, dry_run=dry_run, force=force).id
    t = _run_task(caller, task_id, "revert preview" if dry_run else "revert")
    summary = _task_row(t)
    typer.echo(f"Task {summary['id']} ({'dry run: nothing changed; ' if dry_run else ''}{_links(summary)})")
    _print_table("Result", ["status", "added", "modified", "deleted", "unchanged", "failed", "warnings"],
                 [[t.status, t.added, t.modified, t.deleted, t.unchanged, t.failed, t.warnings]])
    if t.message:
        typer.echo(t.message, err=True)
    if t.failed:
        typer.echo(f"{t.failed} user(s) not put back: 'rtmhub tasks show {summary['id']} --outcome error' says why"
                   f"{'' if force else ' (--force puts back users changed after the import)'}.", err=True)
    if t.status != "completed" or t.failed:
        raise typer.Exit(code=1)
