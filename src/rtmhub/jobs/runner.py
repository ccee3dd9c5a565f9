"""The task runner: claim (row locks), run CSV imports in batches with a SAVEPOINT per refused row,
resume, preview. It owns its units of work; the rules live in the domain and the CSV planner.

Apply: each batch of rows is one transaction that also writes the rows' results and the task's
progress, so after a crash the task resumes after ``last_line`` and no row is applied twice.
Preview (decision 23): the same batches through the same rules, simulated: each batch is planned in a
read transaction, with what earlier batches changed carried in memory (``Simulation``), and its results
and progress are written in a short write transaction of their own. No transaction lasts the whole file,
so on SQLite other customers' writes wait for one batch's results at most.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rtmhub.bulk_sql import execute_many
from rtmhub.csvfile.columns import EMAIL_COLUMN, Column
from rtmhub.csvfile.planner import (
    BY_FIELD,
    FileRules,
    ImportContext,
    RowResult,
    Simulation,
    apply_batch,
    apply_row,
    check_file,
    file_notices,
)
from rtmhub.csvfile.reader import CsvFileError, CsvRow, open_csv
from rtmhub.db import Database, utcnow
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.tasks import revert as reverts
from rtmhub.domain.tasks import service as tasks
from rtmhub.domain.tasks.models import FINISHED, Task, TaskRow
from rtmhub.jobs import ahead
from rtmhub.jobs.task_steps import (
    BATCH_PAUSE,
    COLLECTOR,
    EMAIL_ECHO,
    TASK_ROWS,
    customer_of,
    echo,
    open_file,
    row_record,
    stops_here,
    task_caller,
    task_of,
)
from rtmhub.ops import metrics
from rtmhub.settings import Settings

log = logging.getLogger("rtmhub.worker")
# The settings' defaults (RTMHUB_TASK_BATCH_ROWS, RTMHUB_TASK_PREVIEW_BATCH_ROWS), for a runner called without
# them. An import's batch is one write transaction: on SQLite it holds the only write lock, and _next_size keeps
# each hold near _LOCK_BUDGET (decisions 23, 59). A preview's batch is simulated in a read transaction and only
# its results are written: a larger batch holds no lock longer (decision 58).
BATCH_ROWS: int = Settings.model_fields["task_batch_rows"].default
PREVIEW_BATCH_ROWS: int = Settings.model_fields["task_preview_batch_rows"].default
PLAN_AHEAD_ROWS: int = Settings.model_fields["task_plan_ahead_rows"].default
LEASE = timedelta(seconds=60)
_LOCK_BUDGET = 0.25  # seconds an import's batch should hold SQLite's write lock (decision 23)
_MIN_BATCH = 25


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


# --- claiming ------------------------------------------------------------------------------

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


def run_pending(db: Database, worker: str, lease: timedelta = LEASE, batch_rows: int = BATCH_ROWS,
                max_rows: int | None = None, preview_batch_rows: int = PREVIEW_BATCH_ROWS,
                plan_ahead_rows: int = PLAN_AHEAD_ROWS) -> bool:
    """Claim and run one task; False when there was none. ``batch_rows``: rows per batch of an import or a
    revert; ``preview_batch_rows``: of a CSV preview; ``plan_ahead_rows``: an import on SQLite of at least
    this many rows is planned ahead in a second process (0: never; decision 64)."""
    db = db.for_workers()  # a worker waits longer for SQLite's write lock than a request (decision 23)
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
        run_task(db, task_id, worker, batch_rows, max_rows, preview_batch_rows, plan_ahead_rows)
    except Exception:  # noqa: BLE001 - a task must end as failed, never stay running forever
        # The tenant reads the task's message: never the exception, which may quote SQL and its parameters
        # (other tenants' data too). The details go to the server log under the same tracking id.
        tracking = f"RTMHUB_{uuid.uuid4()}"
        log.exception("task %s stopped on an unexpected error (tracking id %s)", task_id, tracking)
        _fail(db, task_id, f"The task stopped on an unexpected error (tracking id {tracking}). Rows of batches "
                           "already completed are kept; run the file again, or report the tracking id to the operator.")
    try:
        _count(db, task_id, worker)
    except Exception:  # noqa: BLE001 - counting must never fail a task that ended
        log.warning("task %s: not counted in the metrics", task_id, exc_info=True)
    return True


def _count(db: Database, task_id: str, worker: str) -> None:
    """The ended task into this process's metrics, by the worker that ended it: a task taken over by
    another worker (our lease lapsed) is counted once, by the one that finished it."""
    with db.unit_of_work(write=False) as s:
        task = s.get(Task, task_id)
        if task is None or task.status not in FINISHED or task.worker != worker:
            return
        seconds = (task.finished - task.started).total_seconds() if task.finished and task.started else None
        metrics.record_task(task.type, task.status, seconds, {
            "added": task.added, "modified": task.modified, "deleted": task.deleted, "unchanged": task.unchanged,
            "failed": task.failed})


def run_task(db: Database, task_id: str, worker: str, batch_rows: int = BATCH_ROWS,
             max_rows: int | None = None, preview_batch_rows: int = PREVIEW_BATCH_ROWS,
             plan_ahead_rows: int = PLAN_AHEAD_ROWS) -> None:
    with db.unit_of_work(write=False) as s:
        task = s.get(Task, task_id)
        kind = task.type if task else None
    if kind == "csv_preview":
        _run_preview(db, task_id, worker, max_rows, preview_batch_rows)
    elif kind == "csv_import":
        _run_import(db, task_id, worker, batch_rows, max_rows, plan_ahead_rows)
    elif kind in ("revert", "revert_preview"):
        _run_revert(db, task_id, worker, batch_rows, preview=kind == "revert_preview")


# --- running -------------------------------------------------------------------------------

def _prepare(db: Database, task_id: str, max_rows: int | None) -> tuple[set[Column], set[str], frozenset[Column]]:
    """Check the header against the customer, note the ignored columns on the task, count rows and find
    e-mails that occur twice (both rows are errors); returns the suspended columns, those e-mails and the
    file's columns. The file is read outside any writing transaction; only the row count is written, in a
    short one: parsing a large file under SQLite's write lock would stop every other customer's writes
    meanwhile (decision 23)."""
    with db.unit_of_work(write=False) as s:
        if not tasks.has_file(s, task_id):
            raise CsvFileError("The task's file was deleted before the task ran; upload the file again.")
        rules = FileRules.load(s, customer_of(s, task_of(s, task_id)))
    reader = open_csv(open_file(db, task_id), max_rows=max_rows)
    check_file(reader.header_map, rules)  # as at upload: the partner's subscription may have changed since
    counts: Counter[str] = Counter()
    total = 0
    with COLLECTOR.paused():
        for row in reader.only(EMAIL_COLUMN):
            total += 1
            value = row.cells.get(EMAIL_COLUMN, "").strip().lower()
            if value:
                counts[value] += 1
    with db.unit_of_work() as s:
        task = task_of(s, task_id)
        task.total_rows = total
        task.notices = file_notices(reader.header_map, reader.encoding) or None
    suspended = {e.column for e in reader.header_map.entries if e.suspended}
    return suspended, {e for e, n in counts.items() if n > 1}, frozenset(e.column for e in reader.header_map.entries)


def _apply_rows(s: Session, caller: Caller, ctx: ImportContext, batch: list[CsvRow],
                protect: bool = True) -> list[RowResult]:
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


def _run_import(db: Database, task_id: str, worker: str, batch_rows: int, max_rows: int | None,
                plan_ahead_rows: int = 0) -> None:
    try:
        suspended, duplicates, columns = _prepare(db, task_id, max_rows)
    except CsvFileError as exc:
        _fail(db, task_id, exc.message)
        return
    with db.unit_of_work(write=False) as s:
        task = task_of(s, task_id)
        left = (task.total_rows or 0) - task.last_line
    if ahead.on_a_file(db) and plan_ahead_rows and left >= plan_ahead_rows and ahead.run_import_ahead(
            db, task_id, worker, batch_rows, suspended, duplicates, columns):
        return
    # Checked and written batch by batch under the write lock: every import on PostgreSQL, a small one on
    # SQLite, and the rest of one whose planning ahead stopped (from the task's last_line).
    with db.unit_of_work(write=False) as s:
        resume_after = task_of(s, task_id).last_line
    rows = (r for r in open_csv(open_file(db, task_id)) if r.line > resume_after)
    size = batch_rows
    while True:
        if db.is_sqlite:
            # Between two batches the write lock is free: a moment for other customers' waiting writers,
            # which poll for it every 2 ms (decision 23), before this task takes it again.
            time.sleep(BATCH_PAUSE)
        # The batch is read, applied and recorded with the cycle collector waiting, and dropped before it runs.
        with COLLECTOR.paused():
            batch = [r for _, r in zip(range(size), rows, strict=False)]
            with db.unit_of_work() as s:
                # Locked for the whole batch: a worker whose lease lapsed mid-batch keeps the task until it
                # commits (claim skips the locked row), so a takeover can never re-apply rows it is applying
                # (PostgreSQL; on SQLite the write transaction is exclusive anyway).
                task = task_of(s, task_id, lock=True)
                held = time.monotonic()  # the lock is ours from here (waiting for it is not holding it)
                if stops_here(task, worker):
                    return
                if not batch:
                    tasks.finish(s, task)
                    return
                ctx = ImportContext.load(s, customer_of(s, task), task.mode, suspended, duplicates, columns)
                caller = task_caller(task)
                results = _apply_rows(s, caller, ctx, batch)
                tasks.count_outcomes(task, ((result.outcome, result.messages) for result in results))
                records = [row_record(task.id, result, row) for row, result in zip(batch, results, strict=False)]
                # The rows' results and the progress in the batch's own transaction: resume after last_line.
                execute_many(s, TASK_ROWS.insert(), records)
                task.rows_done += len(batch)
                task.last_line = batch[-1].line
                task.heartbeat = utcnow()
            del batch, results, records, ctx
        if db.is_sqlite:
            size = _next_size(size, batch_rows, time.monotonic() - held)


def _next_size(size: int, most: int, held: float) -> int:
    """On SQLite a batch holds the only write lock: keep each hold near ``_LOCK_BUDGET`` seconds (other
    customers' writes wait at most about that, decision 23) by halving the batch after a longer hold and
    growing it back, up to the configured size, after a short one."""
    if held > _LOCK_BUDGET:
        return max(_MIN_BATCH, size // 2)
    if held < _LOCK_BUDGET / 3:
        return min(most, size * 2)
    return size


def _run_preview(db: Database, task_id: str, worker: str, max_rows: int | None, batch_rows: int) -> None:
    try:
        suspended, duplicates, columns = _prepare(db, task_id, max_rows)
    except CsvFileError as exc:
        _fail(db, task_id, exc.message)
        return
    allocations = _dry_run(db, task_id, worker, batch_rows, suspended, duplicates, columns)
    if allocations is None:
        return  # another worker took over (our lease lapsed)
    with db.unit_of_work() as s:
        task = task_of(s, task_id, lock=True)
        if task.status != "running" or task.worker != worker:
            return
        tasks.finish(s, task, allocations)


def _dry_run(db: Database, task_id: str, worker: str, batch_rows: int, suspended: set[Column],
             duplicates: set[str], columns: frozenset[Column]) -> dict[str, Any] | None:
    """Every row through the real rules, simulated batch by batch (decision 23); returns the allocation
    snapshot the file would leave, or None when the task is no longer ours. A preview always starts over
    (the simulated state lives in memory only), so a resumed one first clears its earlier results."""
    simulation = Simulation()
    with db.unit_of_work() as s:
        task = task_of(s, task_id, lock=True)
        if task.status != "running" or task.worker != worker:
            return None
        s.execute(delete(TaskRow).where(TaskRow.task_id == task_id))
        task.added = task.modified = task.deleted = task.unchanged = task.failed = task.warnings = 0
        task.rows_done, task.last_line, task.heartbeat = 0, 0, utcnow()
    rows = iter(open_csv(open_file(db, task_id)))
    while True:
        # The batch is read, planned and written with the cycle collector waiting, and dropped before it runs.
        with COLLECTOR.paused():
            batch = [r for _, r in zip(range(batch_rows), rows, strict=False)]
            if not batch:
                break
            # Planned in a read transaction: on SQLite no lock is taken, on PostgreSQL no row is locked.
            with db.unit_of_work(write=False) as s:
                task = task_of(s, task_id)
                ctx = ImportContext.load(s, customer_of(s, task), task.mode, suspended, duplicates, columns)
                results = apply_batch(s, task_caller(task), ctx, batch, simulation)
                records = [row_record(task_id, result, row) for row, result in zip(batch, results, strict=False)]
            # The batch's results and the progress (and the lease) in one short write transaction.
            with db.unit_of_work() as s:
                task = task_of(s, task_id, lock=True)
                if task.status != "running" or task.worker != worker:
                    return None
                execute_many(s, TASK_ROWS.insert(), records)
                tasks.count_outcomes(task, ((r["outcome"], r["messages"]) for r in records))
                task.rows_done += len(batch)
                task.last_line = batch[-1].line
                task.heartbeat = utcnow()
            del batch, results, records, ctx
    with db.unit_of_work(write=False) as s:
        return simulation.used(tasks.allocation_snapshot(s, task_of(s, task_id).customer_id))


# --- reverts ---------------------------------------------------------------------------------

def _revert_record(task_id: str, result: reverts.RevertResult) -> dict[str, Any]:
    changes = [BY_FIELD[f].header if f in BY_FIELD else f for f in result.changes]
    return {"task_id": task_id, "line": result.line, "email": echo(result.email, EMAIL_ECHO),
            "outcome": result.outcome, "changes": changes or None, "messages": result.messages or None,
            "cells": None}


def _run_revert(db: Database, task_id: str, worker: str, batch_rows: int, *, preview: bool) -> None:
    """A revert (``domain/tasks/revert.py``): its rows are the users the reverted task touched, found in the
    audit trail, in a fixed order (row N is the N-th of them), so a resumed revert continues after
    ``last_line`` as an import does. Applied, each batch is one transaction with its results and progress
    (set-wise, replayed row by row if the database refuses it); as a dry run, each batch is simulated in a
    read transaction and its results written in a short one, like a CSV preview (decision 23)."""
    with db.unit_of_work(write=False) as s:
        task = task_of(s, task_id)
        source_id, customer_id = task.reverts_task_id or "", task.customer_id
        user_ids = reverts.touched_users(s, source_id, customer_id)
    simulation = Simulation() if preview else None
    with db.unit_of_work() as s:
        task = task_of(s, task_id, lock=True)
        if task.status != "running" or task.worker != worker:
            return
        task.total_rows = len(user_ids)
        if preview:  # a dry run starts over (its simulated state lives in memory only)
            s.execute(delete(TaskRow).where(TaskRow.task_id == task_id))
            task.added = task.modified = task.deleted = task.unchanged = task.failed = task.warnings = 0
            task.rows_done, task.last_line = 0, 0
        resume_after = task.last_line
        task.heartbeat = utcnow()
    force = task.mode == "revert-force"
    start = resume_after
    while True:
        if db.is_sqlite and not preview:
            time.sleep(BATCH_PAUSE)
        batch_ids = user_ids[start:start + batch_rows]
        lines = list(range(start + 1, start + len(batch_ids) + 1))
        records: list[dict[str, Any]] = []
        if batch_ids and preview:
            with db.unit_of_work(write=False) as s:
                task = task_of(s, task_id)
                customer = customer_of(s, task)
                touched = reverts.load_touched(s, source_id, customer_id, batch_ids)
                results = reverts.revert_batch(s, task_caller(task), customer, touched, lines, force, simulation)
                records = [_revert_record(task_id, r) for r in results]
        with db.unit_of_work() as s:
            task = task_of(s, task_id, lock=True)
            if stops_here(task, worker):
                return
            if not batch_ids:
                allocations = None
                if simulation is not None:
                    allocations = simulation.used(tasks.allocation_snapshot(s, customer_id))
                tasks.finish(s, task, allocations)
                return
            if not preview:
                customer = customer_of(s, task)
                caller = task_caller(task)
                touched = reverts.load_touched(s, source_id, customer_id, batch_ids)
                savepoint = s.begin_nested()
                try:
                    results = reverts.revert_batch(s, caller, customer, touched, lines, force)
                    savepoint.commit()
                except IntegrityError:
                    savepoint.rollback()
                    s.expire_all()
                    results = [reverts.revert_row(s, caller, customer, t, line, force)
                               for t, line in zip(touched, lines, strict=True)]
                records = [_revert_record(task_id, r) for r in results]
            if records:
                execute_many(s, TASK_ROWS.insert(), records)
            tasks.count_outcomes(task, ((r["outcome"], r["messages"]) for r in records))
            task.rows_done += len(batch_ids)
            task.last_line = lines[-1]
            task.heartbeat = utcnow()
        start += len(batch_ids)


# --- retention of uploaded files ------------------------------------------------------------

def purge_task_files(db: Database, retention_days: int, batch: int = 100) -> int:
    """Delete the files of ended tasks uploaded more than ``retention_days`` ago, in short transactions of
    ``batch`` tasks (a large backlog never holds the write lock long); results and error reports stay."""
    cutoff = utcnow() - timedelta(days=retention_days)
    purged = 0
    while True:
        with db.unit_of_work() as s:
            n = tasks.purge_files(s, cutoff, batch)
        purged += n
        if n < batch:
            break
    if purged:
        log.info("deleted the files of %d task(s) older than %d days", purged, retention_days)
    return purged


def _fail(db: Database, task_id: str, message: str) -> None:
    with db.unit_of_work() as s:
        tasks.fail(task_of(s, task_id), message)


__all__ = ["BATCH_ROWS", "LEASE", "PLAN_AHEAD_ROWS", "PREVIEW_BATCH_ROWS", "claim", "purge_task_files", "run_pending",
           "run_task", "worker_name"]
