"""``rtmhub reports …``: billing reports (W7, R50) for the operator — create one and wait for it, list them,
download one's CSV.

``create`` makes the report in this process while it waits (a report-only worker loop beside any `rtmhub
worker`s, which may take it first): the command works with or without workers running and never leaves a
report behind for a worker that does not exist."""
from __future__ import annotations

import sys
import threading
import time
from datetime import date, timedelta
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from rtmhub import ids
from rtmhub.cli.common import JSON_OPTION, _fail, _print_json, _print_table, _unit
from rtmhub.db import Database
from rtmhub.domain.access import service as access
from rtmhub.domain.billing import schemas
from rtmhub.domain.billing import service as billing
from rtmhub.domain.billing.models import BillingReport
from rtmhub.domain.partners import service as partners
from rtmhub.domain.partners.models import Partner
from rtmhub.errors import DomainError
from rtmhub.jobs import billing as billing_jobs
from rtmhub.jobs.runner import worker_name
from rtmhub.settings import get_settings

reports_app = typer.Typer(help="Billing reports: usage per customer, package and user, from the ledger.",
                          no_args_is_help=True)
KIND = "BILLING_REPORT"


def _date(value: str, option: str) -> date:
    try:
        return schemas.parse_date(value, option)
    except DomainError as exc:
        raise _fail(exc.message) from None


def _partner(session, value: str) -> Partner:
    return access.find_partner(session, ids.raw("ORGANIZATION", value), shown=value)


def _owner(session, caller, partner: str | None, sub: Partner | None) -> Partner:
    """The partner the report is for: --partner, else the sub-partner's parent, else the only partner."""
    if partner:
        return _partner(session, partner)
    if sub is not None and sub.parent_id:
        found = session.get(Partner, sub.parent_id)
        if found is not None:
            return found
    tops = [p for p in partners.list_partners(session, caller) if p.parent_id is None]
    if len(tops) != 1:
        names = ", ".join(sorted(p.name for p in tops)) or "none yet: create one with 'rtmhub partners create'"
        raise _fail(f"Give --partner NAME: the report is for one partner (partners: {names}).")
    return tops[0]


def _row(r: BillingReport, names: dict[str, str]) -> dict[str, Any]:
    return {"id": ids.encode(KIND, r.id), "type": r.report_type, "billingStartDate": r.start_date.isoformat(),
            "billingEndDate": r.end_date.isoformat(), "status": r.status, "partner": names.get(r.partner_id),
            "subPartner": names.get(r.sub_partner_id) if r.sub_partner_id else None, "internal": r.internal,
            "created": r.created.isoformat(), "createdBy": r.created_by, "lines": r.lines, "bytes": r.bytes,
            "message": r.message}


@reports_app.command("create")
def reports_create(
    start: str = typer.Option(..., "--from", metavar="YYYY-MM-DD", help="First day of the period (UTC)."),
    end: str = typer.Option(..., "--to", metavar="YYYY-MM-DD", help="Last day of the period (UTC, at most "
                                                                    "yesterday)."),
    report_type: str = typer.Option("PARTNER", "--type", help="PARTNER, CUSTOMER or USER."),
    sub_partner: str | None = typer.Option(None, "--sub-partner", metavar="NAME_OR_ID",
                                           help="Only this sub-partner's customers."),
    partner: str | None = typer.Option(None, "--partner", metavar="NAME",
                                       help="The partner the report is for (needed when there are several)."),
) -> None:
    """Create a billing report and wait while it is made; the report id is printed on the last line."""
    first, last = _date(start, "--from"), _date(end, "--to")
    with _unit() as (s, caller):
        sub = _partner(s, sub_partner) if sub_partner else None
        if sub is not None and sub.parent_id is None:
            raise _fail(f"'{sub_partner}' is a partner, not a sub-partner: give it as --partner.")
        owner = _owner(s, caller, partner, sub)
        try:
            report = billing.create_report(s, caller, start=first, end=last, report_type=report_type.upper(),
                                           sub_partner_org_id=sub.id if sub else None, partner_id=owner.id)
        except DomainError as exc:
            message = exc.message.replace("billingStartDate", "--from").replace("billingEndDate", "--to")
            raise _fail(message.replace("subPartnerOrgId", "--sub-partner")) from None
        report_id = report.id
    done = _wait(report_id)
    public = ids.encode(KIND, report_id)
    if done.status == "FAILED":
        typer.echo(f"Error: the report failed: {done.message}", err=True)
        typer.echo(public)
        raise typer.Exit(code=1)
    typer.echo(f"COMPLETED: {done.lines} line(s), {done.bytes} bytes; 'rtmhub reports download {public} -o FILE' "
               "saves it.", err=True)
    typer.echo(public)


def _wait(report_id: str) -> BillingReport:
    """Make reports in a thread of this process until this one ends, showing its progress on stderr."""
    settings = get_settings()
    db = Database(settings.database_url)
    stop = threading.Event()
    lease = timedelta(seconds=settings.task_lease_seconds)
    name = worker_name()

    def work() -> None:
        while not stop.is_set():
            try:
                ran = billing_jobs.run_pending(db, name, lease)
            except Exception:  # noqa: BLE001 - e.g. the database busy: a report it claimed is already FAILED
                ran = False
            if not ran:
                stop.wait(0.2)

    helper = threading.Thread(target=work, name="rtmhub-reports-cli", daemon=True)
    helper.start()
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=Console(stderr=True), transient=True) as progress:
            bar = progress.add_task("making the report", total=None)
            while True:
                with db.unit_of_work(write=False) as s:
                    r = s.get(BillingReport, report_id)
                    if r is None:
                        raise _fail("The report was deleted while it was being made.")
                    s.expunge(r)
                progress.update(bar, description=f"making the report: {r.status}, {r.bytes:,} bytes")
                if r.status != "IN_PROGRESS":
                    return r
                time.sleep(0.2)
    finally:
        stop.set()
        helper.join()
        db.dispose()


@reports_app.command("list")
def reports_list(as_json: bool = JSON_OPTION) -> None:
    """Billing reports of every partner, by start date."""
    rows: list[dict[str, Any]] = []
    with _unit(write=False) as (s, caller):
        names = partners.partner_names(s, caller)
        offset = 0
        while page := billing.list_reports(s, caller, offset=offset, limit=500):
            rows.extend(_row(r, names) for r in page)
            offset += len(page)
    if as_json:
        _print_json(rows)
        return
    _print_table("Billing reports", ["id", "type", "from", "to", "status", "partner", "sub-partner", "lines",
                                     "bytes", "created"],
                 [[r["id"], r["type"], r["billingStartDate"], r["billingEndDate"], r["status"], r["partner"],
                   r["subPartner"], r["lines"], r["bytes"], r["created"][:19]] for r in rows])


@reports_app.command("download")
def reports_download(report: str = typer.Argument(..., metavar="ID"),
                     output: str = typer.Option(..., "-o", "--output", help="File to write ('-' for stdout).")) -> None:
    """Save a COMPLETED report's CSV."""
    raw = ids.decode(KIND, report)
    unknown = f"Billing report '{report}' not found; 'rtmhub reports list' shows the ids."
    if raw is None:
        raise _fail(unknown)
    with _unit(write=False) as (s, caller):
        try:
            found = billing.get_report(s, caller, raw)
        except DomainError:
            raise _fail(unknown) from None
        billing.require_completed(found)
        size = found.bytes
    db = Database(get_settings().database_url)
    try:
        target = sys.stdout.buffer if output == "-" else open(output, "wb")  # noqa: SIM115 - closed below
        try:
            for data in billing_jobs.stored_pieces(db, raw):
                target.write(data)
        finally:
            if output != "-":
                target.close()
            else:
                target.flush()
    except OSError as exc:
        raise _fail(f"cannot write {output}: {exc.strerror or exc}") from None
    finally:
        db.dispose()
    if output != "-":
        typer.echo(f"Saved {size} bytes to {output}", err=True)
