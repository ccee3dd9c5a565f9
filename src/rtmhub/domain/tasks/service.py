"""CSV tasks: create, claim (row locks), run in batches with a SAVEPOINT per row, resume, cancel.

Apply: each batch of rows is one transaction that also writes the rows' results and the task's
progress, so after a crash the task resumes after ``last_line`` and no row is applied twice.
Preview: the whole file is applied inside one transaction that is rolled back (the real rules,
nothing kept); the results are written afterwards.
"""
from __future__ import annotations

import io
import os
import socket
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import String, and_, cast, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rtmhub.csvfile.columns import COLUMNS, template_headers
from rtmhub.csvfile.reader import CsvFileError, open_csv
from rtmhub.csvfile.writer import write_csv
from rtmhub.db import Database, utcnow
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.access.service import get_customer, require_writable
from rtmhub.domain.audit.service import record
from rtmhub.domain.customers.models import Customer, CustomerPackage
from rtmhub.domain.locations.models import Location
from rtmhub.domain.packages.models import BASE_LICENCES
from rtmhub.domain.tasks.models import FINISHED, Task, TaskFile, TaskRow
from rtmhub.domain.tasks.planner import MODES, ImportContext, RowResult, apply_batch, apply_row, export_row
from rtmhub.domain.users.models import User
from rtmhub.errors import Conflict, NotFound, ValidationFailed

BATCH_ROWS = 500
LEASE = timedelta(seconds=60)
TASK_TYPES = ("csv_preview", "csv_import")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


# --- creating and reading tasks ------------------------------------------------------------

def create_import(session: Session, caller: Caller, customer_id: str, *, file_name: str, content: bytes,
                  mode: str = "add", preview: bool = True, max_rows: int | None = None) -> Task:
    if mode not in MODES:
        raise ValidationFailed(f"Unknown import behaviour '{mode}'; use 'add' (Add services only) or "
                               "'add-remove' (Add and remove services).")
    customer = get_customer(session, caller, customer_id, write=not preview)
    if not preview:
        require_writable(session, caller, customer.partner_id)
    reader = open_csv(io.BytesIO(content), max_rows=max_rows)  # a broken file is refused now, not later
    del reader
    task = Task(type="csv_preview" if preview else "csv_import", customer_id=customer.id, mode=mode,
                file_name=(file_name or "users.csv")[:255], status="queued", created_by=caller.actor)
    session.add(task)
    session.flush()
    session.add(TaskFile(task_id=task.id, content=content))
    record(session, caller, "task.create", "task", task.id, customer.id, None,
           {"type": task.type, "mode": mode, "file": task.file_name})
    return task


def apply_preview(session: Session, caller: Caller, task_id: str) -> Task:
    """Queue the import of a previewed file with the same behaviour."""
    preview = get_task(session, caller, task_id)
    if preview.type != "csv_preview":
        raise ValidationFailed("Only a preview task can be applied; this task is already an import.")
    if preview.status not in ("completed", "completed_with_errors"):
        raise Conflict(f"The preview is {preview.status}; wait until it has completed.")
    customer = get_customer(session, caller, preview.customer_id, write=True)
    content = session.get(TaskFile, preview.id).content
    task = Task(type="csv_import", customer_id=customer.id, mode=preview.mode, file_name=preview.file_name,
                status="queued", created_by=caller.actor, preview_of=preview.id)
    session.add(task)
    session.flush()
    session.add(TaskFile(task_id=task.id, content=content))
    record(session, caller, "task.create", "task", task.id, customer.id, None,
           {"type": task.type, "mode": task.mode, "file": task.file_name, "previewOf": preview.id})
    return task


def get_task(session: Session, caller: Caller, task_id: str | None) -> Task:
    task = session.get(Task, task_id or "")
    if task is None:
        raise NotFound("Task not found; check the task id.")
    try:
        get_customer(session, caller, task.customer_id)
    except NotFound:  # a task of a customer the caller does not reach answers exactly like an unknown one
        raise NotFound("Task not found; check the task id.") from None
    return task


def list_tasks(session: Session, caller: Caller, customer_id: str | None = None, offset: int = 0,
               limit: int = 100) -> list[Task]:
    from rtmhub.domain.access.service import scope_customers

    stmt = select(Task).join(Customer, Customer.id == Task.customer_id)
    stmt = scope_customers(stmt, caller)
    if customer_id is not None:
        stmt = stmt.where(Task.customer_id == customer_id)
    return list(session.scalars(stmt.order_by(Task.created.desc(), Task.id).offset(offset).limit(limit)))


def task_rows(session: Session, caller: Caller, task_id: str, outcome: str | None = None, offset: int = 0,
              limit: int = 100) -> list[TaskRow]:
    get_task(session, caller, task_id)
    stmt = select(TaskRow).where(TaskRow.task_id == task_id)
    if outcome == "warning":
        # messages of a row without any is stored as JSON 'null' (not SQL NULL): look for a warning in the text
        stmt = stmt.where(TaskRow.outcome != "error", cast(TaskRow.messages, String).like('%"warning"%'))
    elif outcome:
        stmt = stmt.where(TaskRow.outcome == outcome)
    return list(session.scalars(stmt.order_by(TaskRow.line).offset(offset).limit(limit)))


def cancel(session: Session, caller: Caller, task_id: str) -> Task:
    task = get_task(session, caller, task_id)
    require_writable(session, caller, get_customer(session, caller, task.customer_id).partner_id, deleting=True)
    if task.status in FINISHED:
        raise Conflict(f"The task has already ended ({task.status}).")
    if task.status == "queued":
        task.status, task.finished = "cancelled", utcnow()
    else:
        task.cancel_requested = True
    record(session, caller, "task.cancel", "task", task.id, task.customer_id, None, {"status": task.status})
    return task


def delete_task(session: Session, caller: Caller, task_id: str) -> None:
    task = get_task(session, caller, task_id)
    require_writable(session, caller, get_customer(session, caller, task.customer_id).partner_id, deleting=True)
    if task.status == "running":
        raise Conflict("The task is running; cancel it first.")
    session.execute(delete(TaskRow).where(TaskRow.task_id == task.id))
    session.execute(delete(TaskFile).where(TaskFile.task_id == task.id))
    session.delete(task)
    record(session, caller, "task.delete", "task", task.id, task.customer_id, None, None)


# --- claiming and running ------------------------------------------------------------------

def claim(session: Session, worker: str, lease: timedelta = LEASE) -> str | None:
    """Take the oldest runnable task: queued, or running with a dead worker (stale heartbeat).
    One task per customer runs at a time (R14); PostgreSQL skips rows another worker holds."""
    now = utcnow()
    stale = now - lease
    # A customer with any running task — even one whose worker stopped reporting — starts no other:
    # the stalled task is resumed first (R14 holds through crashes too).
    busy = select(Task.customer_id).where(Task.status == "running")
    stmt = (select(Task).where(or_(and_(Task.status == "queued", Task.customer_id.not_in(busy)),
                                   and_(Task.status == "running", Task.heartbeat < stale)))
            .order_by(Task.created, Task.id).limit(1))
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        stmt = stmt.with_for_update(skip_locked=True, of=Task)
    task = session.scalar(stmt)
    if task is None:
        return None
    if postgres:
        # Serialise claims per customer so two workers cannot start two tasks of one customer.
        session.execute(select(Customer.id).where(Customer.id == task.customer_id).with_for_update())
        others = busy.where(Task.customer_id == task.customer_id, Task.id != task.id)
        if task.status == "running":
            others = others.where(Task.heartbeat >= stale)
        if session.scalar(others.limit(1)):
            return None
    now = utcnow()  # read after the locks were taken: on SQLite the claim may have waited for them
    task.status, task.worker, task.heartbeat = "running", worker, now
    task.started = task.started or now
    return task.id


def run_task(db: Database, task_id: str, worker: str, batch_rows: int = BATCH_ROWS,
             max_rows: int | None = None) -> None:
    with db.unit_of_work(write=False) as s:
        task = s.get(Task, task_id)
        kind = task.type if task else None
    if kind == "csv_preview":
        _run_preview(db, task_id, worker, max_rows, batch_rows)
    elif kind == "csv_import":
        _run_import(db, task_id, worker, batch_rows, max_rows)


def _task_caller(task: Task) -> Caller:
    return replace(Caller.operator(actor=task.created_by), request_id=task.id)


def _prepare(db: Database, task_id: str, max_rows: int | None) -> tuple[bytes, set, set]:
    """Count rows and find e-mails that occur twice (both rows are errors)."""
    with db.unit_of_work() as s:
        task = s.get(Task, task_id)
        content = s.get(TaskFile, task_id).content
        reader = open_csv(io.BytesIO(content), max_rows=max_rows)
        counts: Counter[str] = Counter()
        total = 0
        email = next(c for c in COLUMNS if c.field == "email")
        for row in reader:
            total += 1
            value = row.cells.get(email, "").strip().lower()
            if value:
                counts[value] += 1
        task.total_rows = total
        suspended = {e.column for e in reader.header_map.entries if e.suspended}
        return content, suspended, {e for e, n in counts.items() if n > 1}


def _count(task: Task, result: RowResult) -> None:
    field = {"add": "added", "modify": "modified", "delete": "deleted", "unchanged": "unchanged",
             "error": "failed"}[result.outcome]
    setattr(task, field, getattr(task, field) + 1)
    if not result.failed and any(m["level"] == "warning" for m in result.messages):  # as /rows?outcome=warning
        task.warnings += 1


def _row_record(task_id: str, result: RowResult, cells: dict | None) -> dict[str, Any]:
    return {"task_id": task_id, "line": result.line, "email": result.email, "outcome": result.outcome,
            "changes": result.changes or None, "messages": result.messages or None,
            "cells": cells if result.failed else None}


def _cells(row) -> dict[str, str]:
    return {c.header: v for c, v in row.cells.items()}


def _apply_rows(s: Session, caller: Caller, ctx: ImportContext, batch: list, protect: bool = True) -> list[RowResult]:
    """The batch set-wise; if the database refuses it (a concurrent writer got in between), row by row.
    Unprotected (no SAVEPOINT), a refusal propagates: the preview then starts over."""
    if not protect:
        return apply_batch(s, caller, ctx, batch)
    savepoint = s.begin_nested()
    try:
        results = apply_batch(s, caller, ctx, batch)
        savepoint.commit()
        return results
    except IntegrityError:
        savepoint.rollback()
        s.expire_all()
        return [apply_row(s, caller, ctx, row) for row in batch]


def _run_import(db: Database, task_id: str, worker: str, batch_rows: int, max_rows: int | None) -> None:
    try:
        content, suspended, duplicates = _prepare(db, task_id, max_rows)
    except CsvFileError as exc:
        _fail(db, task_id, exc.message)
        return
    with db.unit_of_work(write=False) as s:
        resume_after = s.get(Task, task_id).last_line
    rows = (r for r in open_csv(io.BytesIO(content)) if r.line > resume_after)
    while True:
        batch = [r for _, r in zip(range(batch_rows), rows, strict=False)]
        with db.unit_of_work() as s:
            # Locked for the whole batch: a worker whose lease lapsed mid-batch keeps the task until it commits
            # (claim skips the locked row), so a takeover can never re-apply rows it is applying (PostgreSQL;
            # on SQLite the write transaction is exclusive anyway).
            task = s.get(Task, task_id, with_for_update=True)
            if task.status != "running" or task.worker != worker:
                return  # another worker took over (our lease lapsed)
            if task.cancel_requested:
                task.status, task.finished, task.message = "cancelled", utcnow(), "Cancelled on request."
                return
            if not batch:
                _finish(s, task)
                return
            customer = s.get(Customer, task.customer_id)
            ctx = ImportContext.load(s, customer, task.mode, suspended, duplicates)
            caller = _task_caller(task)
            records = []
            for row, result in zip(batch, _apply_rows(s, caller, ctx, batch), strict=False):
                _count(task, result)
                records.append(_row_record(task.id, result, _cells(row)))
            s.execute(TaskRow.__table__.insert(), records)
            task.rows_done += len(batch)
            task.last_line = batch[-1].line
            task.heartbeat = utcnow()


def _run_preview(db: Database, task_id: str, worker: str, max_rows: int | None, batch_rows: int) -> None:
    try:
        content, suspended, duplicates = _prepare(db, task_id, max_rows)
    except CsvFileError as exc:
        _fail(db, task_id, exc.message)
        return
    for attempt in range(3):
        try:
            results, allocations = _dry_run(db, task_id, worker, batch_rows, suspended, duplicates, content)
            break
        except IntegrityError:
            # A concurrent change took an e-mail or number after the prefetch: simulate again. (No
            # SAVEPOINT per batch here: hundreds of subtransactions in one transaction slow PostgreSQL.)
            if attempt == 2:
                _fail(db, task_id, "The organisation kept changing while the preview ran; run the preview again.")
                return
    with db.unit_of_work() as s:
        task = s.get(Task, task_id, with_for_update=True)
        if task.status != "running" or task.worker != worker:
            return
        s.execute(delete(TaskRow).where(TaskRow.task_id == task_id))
        task.added = task.modified = task.deleted = task.unchanged = task.failed = task.warnings = 0
        for start in range(0, len(results), 2000):
            chunk = results[start:start + 2000]
            s.execute(TaskRow.__table__.insert(), chunk)
        for r in results:
            _count(task, RowResult(r["line"], r["email"], r["outcome"], r["changes"] or [], r["messages"] or []))
        task.rows_done = len(results)
        task.last_line = results[-1]["line"] if results else 0
        task.allocations = allocations
        _finish(s, task, allocations_done=True)


def _dry_run(db: Database, task_id: str, worker: str, batch_rows: int, suspended: set, duplicates: set,
             content: bytes) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every row through the real rules in one transaction that is rolled back."""
    results: list[dict[str, Any]] = []
    with db.dry_run() as s:
        task = s.get(Task, task_id)
        customer = s.get(Customer, task.customer_id)
        ctx = ImportContext.load(s, customer, task.mode, suspended, duplicates)
        caller = _task_caller(task)
        rows = iter(open_csv(io.BytesIO(content)))
        while batch := [r for _, r in zip(range(batch_rows), rows, strict=False)]:
            for row, result in zip(batch, _apply_rows(s, caller, ctx, batch, protect=False), strict=False):
                results.append(_row_record(task_id, result, _cells(row)))
            if not db.is_sqlite:
                # Report progress and keep the lease from another connection. (On SQLite the dry run
                # holds the only write lock, so no other worker can claim the task meanwhile anyway.)
                _report(db, task_id, worker, len(results))
        return results, _allocations(s, customer.id)


def _report(db: Database, task_id: str, worker: str, rows_done: int) -> None:
    with db.unit_of_work() as s:
        s.execute(update(Task).where(Task.id == task_id, Task.worker == worker, Task.status == "running")
                  .values(rows_done=rows_done, heartbeat=utcnow()))


def _allocations(session: Session, customer_id: str) -> dict[str, Any]:
    rows = session.execute(select(CustomerPackage.package, CustomerPackage.used, CustomerPackage.allocation)
                           .where(CustomerPackage.customer_id == customer_id,
                                  CustomerPackage.package.not_in(BASE_LICENCES))).all()
    return {p: {"used": u, "allocation": a} for p, u, a in rows}


def _finish(session: Session, task: Task, allocations_done: bool = False) -> None:
    if not allocations_done:
        task.allocations = _allocations(session, task.customer_id)
    task.status = "completed_with_errors" if task.failed else "completed"
    task.finished = utcnow()
    task.heartbeat = utcnow()


def _fail(db: Database, task_id: str, message: str) -> None:
    with db.unit_of_work() as s:
        task = s.get(Task, task_id)
        task.status, task.finished, task.message = "failed", utcnow(), message[:1000]


def run_pending(db: Database, worker: str, lease: timedelta = LEASE, batch_rows: int = BATCH_ROWS,
                max_rows: int | None = None) -> bool:
    """Claim and run one task; False when there was none."""
    with db.unit_of_work(write=False) as s:
        # A cheap read first: idle workers must not take the write lock every poll.
        waiting = s.scalar(select(Task.id).where(or_(Task.status == "queued", and_(
            Task.status == "running", Task.heartbeat < utcnow() - lease))).limit(1))
    if waiting is None:
        return False
    with db.unit_of_work() as s:
        task_id = claim(s, worker, lease)
    if task_id is None:
        return False
    try:
        run_task(db, task_id, worker, batch_rows, max_rows)
    except Exception as exc:  # noqa: BLE001 - a task must end as failed, never stay running forever
        _fail(db, task_id, f"The task stopped on an unexpected error: {type(exc).__name__}: {exc}")
        raise
    return True


# --- export and error report ---------------------------------------------------------------

def export_users(db: Database, caller: Caller, customer_id: str) -> Iterator[bytes]:
    """The customer's users in the import format, streamed in chunks."""
    with db.unit_of_work(write=False) as s:
        customer = get_customer(s, caller, customer_id)
        names = dict(s.execute(select(Location.id, Location.name).where(Location.customer_id == customer.id)).all())
        cid = customer.id

    def rows() -> Iterator[list[str]]:
        last_created, last_id = None, ""
        while True:
            with db.unit_of_work(write=False) as s:
                stmt = select(User).where(User.customer_id == cid)
                if last_created is not None:
                    stmt = stmt.where(or_(User.created > last_created,
                                          and_(User.created == last_created, User.id > last_id)))
                chunk = list(s.scalars(stmt.order_by(User.created, User.id).limit(2000)))
                # rendered while the session is open: its end expires the rows (DetachedInstanceError after)
                rendered = [export_row(user, names) for user in chunk]
                if chunk:
                    last_created, last_id = chunk[-1].created, chunk[-1].id
            if not chunk:
                return
            yield from rendered

    return write_csv(rows(), [c.header for c in COLUMNS])


def error_report(db: Database, caller: Caller, task_id: str) -> Iterator[bytes]:
    """The failed rows with an added Error column, ready to fix and upload again."""
    with db.unit_of_work(write=False) as s:
        get_task(s, caller, task_id)
        failed = list(s.execute(select(TaskRow.cells, TaskRow.messages).where(
            TaskRow.task_id == task_id, TaskRow.outcome == "error").order_by(TaskRow.line)))
    headers = [c.header for c in COLUMNS]
    used = [h for h in headers if any(h in (cells or {}) for cells, _ in failed)] or headers

    def rows() -> Iterator[list[str]]:
        for cells, messages in failed:
            text = "; ".join(f"{m['column']}: {m['message']}" if m.get("column") else m["message"]
                             for m in messages or [] if m.get("level") == "error")
            yield [(cells or {}).get(h, "") for h in used] + [text]

    return write_csv(rows(), used + ["Error"])


def template() -> Iterator[bytes]:
    return write_csv(iter(()), template_headers())


def task_progress(task: Task) -> dict[str, Any]:
    total = task.total_rows
    return {"rowsDone": task.rows_done, "totalRows": total,
            "percent": round(100 * task.rows_done / total, 1) if total else (100.0 if task.status in FINISHED else 0.0)}


__all__ = ["TASK_TYPES", "apply_preview", "cancel", "claim", "create_import", "delete_task", "error_report",
           "export_users", "get_task", "list_tasks", "run_pending", "run_task", "task_rows", "template",
           "worker_name"]


def applied_import_of(session: Session, caller: Caller, task_id: str) -> str | None:
    """The id of the import task that applied the preview ``task_id`` (None while it is not applied)."""
    preview = get_task(session, caller, task_id)
    return session.scalar(select(Task.id).where(Task.preview_of == preview.id).limit(1))
