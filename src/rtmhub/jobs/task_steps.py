"""What the task runner's loops share (jobs/runner.py, and the import planned ahead, jobs/ahead.py): the task
read under its lock, its customer and caller, its stored file, a row's stored result, the check before each
batch, and the pause of Python's cycle collector while a batch runs."""
from __future__ import annotations

import gc
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, BinaryIO, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from rtmhub.csvfile.planner import RowResult
from rtmhub.csvfile.reader import CsvRow
from rtmhub.db import Database
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.tasks import service as tasks
from rtmhub.domain.tasks.models import CHUNK_BYTES, Task, TaskRow

BATCH_PAUSE = 0.005  # seconds an import on SQLite leaves the write lock free between batches
TASK_ROWS = cast(Table, TaskRow.__table__)


class CollectorPause:
    """Python's cycle collector waits while a CSV import's or preview's batch runs (decision 60). A batch makes
    and drops tens of thousands of small objects (a row's cells, values, results), which reference counting frees
    at once; the collector, counting them, still ran every few hundred and now and then walked every object of
    the process (90 ms a time): 15 % of a preview. Between batches it runs as usual, so the few cycles a batch
    leaves are collected then. Process-wide, so counted: the collector comes back when the last batch running in
    the process (another worker thread's, say) ends, and only if it was on before."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batches = 0
        self._was_enabled = False

    @contextmanager
    def paused(self) -> Iterator[None]:
        with self._lock:
            if self._batches == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._batches += 1
        try:
            yield
        finally:
            with self._lock:
                self._batches -= 1
                if self._batches == 0 and self._was_enabled:
                    gc.enable()


COLLECTOR = CollectorPause()


def task_of(session: Session, task_id: str, *, lock: bool = False) -> Task:
    """A task the runner claimed: it exists until it ends (a running task cannot be deleted)."""
    task = session.get(Task, task_id, with_for_update=lock)
    if task is None:
        raise LookupError(f"task {task_id} is gone")
    return task


def customer_of(session: Session, task: Task) -> Customer:
    customer = session.get(Customer, task.customer_id)
    if customer is None:
        raise LookupError(f"the customer of task {task.id} is gone")
    return customer


def task_caller(task: Task) -> Caller:
    return replace(Caller.operator(actor=task.created_by), request_id=task.id)


def open_file(db: Database, task_id: str) -> BinaryIO:
    """The task's stored file as a binary stream. Each chunk is read in a short read-only unit of its own,
    so a reader that spans many batches holds no transaction between chunks and one chunk in memory."""
    def fetch(seq: int) -> bytes | None:
        with db.unit_of_work(write=False) as s:
            return tasks.file_chunk(s, task_id, seq)

    return cast(BinaryIO, io.BufferedReader(tasks.FileStream(fetch), CHUNK_BYTES))


EMAIL_ECHO = cast(Any, TaskRow.__table__).c.email.type.length


def echo(value: str | None, limit: int) -> str | None:
    """A cell shown back in the row's result, cut to fit its column (an over-long value is the row's error,
    and must not fail the batch's INSERT on PostgreSQL)."""
    if value is None or len(value) <= limit:
        return value
    return value[:limit - 1] + "…"


def stops_here(task: Task, worker: str) -> bool:
    """Checked under the task's lock before each batch: another worker took over (our lease lapsed), or
    the task was asked to stop (ended as cancelled here)."""
    if task.status != "running" or task.worker != worker:
        return True
    if task.cancel_requested:
        tasks.end_cancelled(task)
        return True
    return False


def row_record(task_id: str, result: RowResult, row: CsvRow) -> dict[str, Any]:
    """A row's result as stored; a failed row keeps its cells, by header, for the error report."""
    return {"task_id": task_id, "line": result.line, "email": echo(result.email, EMAIL_ECHO),
            "outcome": result.outcome,
            "changes": result.changes or None, "messages": result.messages or None,
            "cells": {c.header: v for c, v in row.cells.items()} if result.failed else None}
