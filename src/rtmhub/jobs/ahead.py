"""An import planned ahead (decision 64): on SQLite, a large import's rows are checked in a second process, batch
by batch as a preview checks them, while the worker writes the batches before them. Each batch is written only
if no other connection has committed since the import began; otherwise, or when the planner stops, the rest of
the file goes back to the runner's batch-by-batch loop (jobs/runner.py), from the task's ``last_line``."""
from __future__ import annotations

import logging
import multiprocessing
import pickle
import threading
import time
import traceback
from typing import Any, NamedTuple, cast

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rtmhub.bulk_sql import PLAIN_FROM_ROWS, Prepared, execute_many, prepare_many, run_prepared
from rtmhub.csvfile.columns import COLUMNS, Column
from rtmhub.csvfile.planner import BatchWrites, ImportContext, Simulation, plan_batch
from rtmhub.csvfile.reader import open_csv
from rtmhub.db import Database, utcnow
from rtmhub.domain.tasks import service as tasks
from rtmhub.jobs.task_steps import (
    BATCH_PAUSE,
    COLLECTOR,
    TASK_ROWS,
    customer_of,
    open_file,
    row_record,
    stops_here,
    task_caller,
    task_of,
)

log = logging.getLogger("rtmhub.worker")

_AHEAD_WAIT = 20.0  # seconds the writer waits for the planner's next batch before it plans the rest itself
_BY_HEADER = {column.header: column for column in COLUMNS}


class _Planned(NamedTuple):
    """A batch as the planner sends it: what it writes, its rows' results (converted for the DBAPI) with each
    row's outcome and messages for the task's counts, its size and its last line."""

    writes: BatchWrites
    records: Prepared | list[dict[str, Any]]
    outcomes: list[tuple[str, Any]]
    rows: int
    last_line: int


class _Stale(Exception):
    """Another connection committed since the import began: the plans may no longer hold."""


def run_import_ahead(db: Database, task_id: str, worker: str, batch_rows: int, suspended: set[Column],
                      duplicates: set[str], columns: frozenset[Column]) -> bool:
    """Write the import's batches as a second process plans them; True when the task ended here (finished,
    cancelled, or no longer ours), False when the rest of the file is the runner's to check and write batch by
    batch (another writer committed meanwhile, or the planner stopped), from the task's ``last_line``.

    The planner plans each batch as a preview does (``plan_batch``): against the database as it was when the
    import began, with the batches planned before it carried in a ``Simulation``. That is the state the writer
    writes the batch into only if no one else has committed since the import began, which SQLite answers per
    connection (``PRAGMA data_version``): the writer asks in each batch's write transaction, under the write
    lock, before it writes, on the connection it asked first."""
    with db.unit_of_work() as s:
        task = task_of(s, task_id, lock=True)
        if task.status != "running" or task.worker != worker:
            return True
        resume_after = task.last_line
        began = _data_version(s)
    context = _process_context()
    receiving, sending = context.Pipe(duplex=False)
    planner = context.Process(target=_plan_ahead, name=f"rtmhub-plan-{task_id[:8]}", daemon=True, args=(
        db.url, task_id, resume_after, batch_rows, sorted(c.header for c in suspended), sorted(duplicates),
        sorted(c.header for c in columns), sending))
    planner.start()
    sending.close()  # the planner's end: a planner that dies closes the pipe, and the wait below ends
    log.info("task %s: planned ahead in process %s", task_id, planner.pid)
    try:
        while True:
            planned = _next_planned(receiving, task_id)
            if planned is None:
                return False
            time.sleep(BATCH_PAUSE)  # as between the runner's batches: a moment for other writers
            try:
                with COLLECTOR.paused(), db.unit_of_work() as s:
                    task = task_of(s, task_id, lock=True)
                    if stops_here(task, worker):
                        return True
                    if _data_version(s) != began:
                        raise _Stale
                    if planned == "end":
                        tasks.finish(s, task)
                        return True
                    planned.writes.write(s)
                    if isinstance(planned.records, Prepared):
                        run_prepared(s, planned.records)
                    else:
                        execute_many(s, TASK_ROWS.insert(), planned.records)
                    tasks.count_outcomes(task, planned.outcomes)
                    task.rows_done += planned.rows
                    task.last_line = planned.last_line
                    task.heartbeat = utcnow()
            except _Stale:
                log.info("task %s: another writer committed; the rest is checked under the write lock", task_id)
                return False
            except IntegrityError:
                # Cannot happen without another writer; if it does, the batch is checked again under the lock.
                log.warning("task %s: a planned batch was refused; the rest is checked under the write lock",
                            task_id, exc_info=True)
                return False
    finally:
        receiving.close()
        if planner.is_alive():
            planner.terminate()
        planner.join(5)


def on_a_file(db: Database) -> bool:
    """SQLite in a file, which a second process can open (an in-memory database is this process's alone)."""
    name = db.engine.url.database
    return db.is_sqlite and name not in (None, "", ":memory:") and "mode=memory" not in db.url


def _data_version(session: Session) -> tuple[int, int]:
    """SQLite's count of other connections' commits as this connection sees it, with the connection's identity
    (the count means nothing on another connection)."""
    driver = session.connection().connection.dbapi_connection
    return int(session.execute(text("PRAGMA data_version")).scalar_one()), id(driver)


def _process_context() -> Any:
    """Fork when this process runs one thread (a worker process, a script): the planner starts at once. SQLite
    asks that a connection never be used across a fork: the planner opens its own and never touches the ones it
    inherits, which are idle at the fork (between transactions, so holding no lock of the database), and it ends
    by ``os._exit`` (multiprocessing's), which closes nothing of theirs first. With other threads (the server's
    in-process worker, the CLI's), a fork could copy a lock another thread holds at that moment; the planner then
    comes from a fork server, started once per process."""
    if threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["rtmhub.jobs.ahead"])
    return context


def _next_planned(receiving: Any, task_id: str) -> _Planned | str | None:
    """The planner's next batch, "end" after its last, or None when it failed, died or took too long."""
    try:
        if not receiving.poll(_AHEAD_WAIT):
            log.warning("task %s: the planner sent nothing for %s s; the rest is checked under the write lock",
                        task_id, _AHEAD_WAIT)
            return None
        kind, payload = pickle.loads(receiving.recv_bytes())
    except (EOFError, OSError):
        log.warning("task %s: the planner stopped; the rest is checked under the write lock", task_id)
        return None
    if kind == "error":
        log.warning("task %s: the planner failed; the rest is checked under the write lock:\n%s", task_id, payload)
        return None
    return cast(_Planned | str, payload)


def _plan_ahead(url: str, task_id: str, resume_after: int, batch_rows: int, suspended: list[str],
                duplicates: list[str], columns: list[str], sending: Any) -> None:
    """The planner (a process of its own): the task's rows after ``resume_after``, batch by batch, each planned
    in a read transaction and sent to the writer. Sending waits while the writer has not taken the batch
    before, so the planner runs at most a batch or two ahead."""
    try:
        db = Database(url).for_workers()
        dialect = db.engine.dialect
        with db.unit_of_work(write=False) as s:
            task = task_of(s, task_id)
            mode, caller = task.mode, task_caller(task)
        simulation = Simulation(freeze_units=True)
        rows = (r for r in open_csv(open_file(db, task_id)) if r.line > resume_after)
        chosen = frozenset(_BY_HEADER[h] for h in columns)
        held = {_BY_HEADER[h] for h in suspended}
        while True:
            with COLLECTOR.paused():
                batch = [r for _, r in zip(range(batch_rows), rows, strict=False)]
                if not batch:
                    sending.send_bytes(pickle.dumps(("batch", "end"), pickle.HIGHEST_PROTOCOL))
                    return
                with db.unit_of_work(write=False) as s:
                    task = task_of(s, task_id)
                    ctx = ImportContext.load(s, customer_of(s, task), mode, held, set(duplicates), chosen)
                    results, writes = plan_batch(s, caller, ctx, batch, simulation)
                records = [row_record(task_id, result, row) for row, result in zip(batch, results, strict=True)]
                outcomes = [(r["outcome"], r["messages"]) for r in records]
                # Converted for the DBAPI here, on the planner's core, as the writer would convert them.
                writes.prepare(dialect)
                converted = prepare_many(dialect, TASK_ROWS.insert(), records) if len(records) >= PLAIN_FROM_ROWS \
                    else None
                message = pickle.dumps(("batch", _Planned(writes, converted or records, outcomes, len(batch),
                                                          batch[-1].line)), pickle.HIGHEST_PROTOCOL)
                del batch, results, writes, records, outcomes, converted, ctx
            sending.send_bytes(message)
    except BaseException:  # noqa: BLE001 - whatever stops the planner, the writer takes over and says why
        try:
            sending.send_bytes(pickle.dumps(("error", traceback.format_exc()), pickle.HIGHEST_PROTOCOL))
        except (OSError, ValueError):
            pass  # the writer has gone
