"""CSV tasks in the domain: create, read, cancel and delete them, and the bookkeeping a task runner
does in its own transactions (counting a row's outcome, finishing, failing, the allocation snapshot).

Every function takes the caller's Session and never commits. The task runner of the application layer
(jobs/runner.py), which claims tasks and applies their rows batch by batch, owns the transactions;
reading the file as CSV belongs to the CSV package, so ``create_import`` is given the caller's header check.
A task's file is stored as chunks (``TaskFileChunk``) and read back as a stream (``open_file``, ``FileStream``).
"""
from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, BinaryIO
from typing import cast as typed

from sqlalchemy import String, case, cast, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session

from rtmhub.db import utcnow
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.access.service import get_customer, require_writable
from rtmhub.domain.audit.service import record
from rtmhub.domain.customers.models import Customer, CustomerPackage
from rtmhub.domain.packages.models import BASE_LICENCES
from rtmhub.domain.tasks.models import CHUNK_BYTES, FINISHED, MODES, Task, TaskFileChunk, TaskRow
from rtmhub.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed

TASK_TYPES = ("csv_preview", "csv_import", "revert_preview", "revert")
PREVIEW_TYPES = ("csv_preview", "revert_preview")  # dry runs: nothing changed, "apply" runs them for real
REVERTIBLE = ("csv_import", "revert")  # tasks that change users (and so can be reverted)


# --- creating and reading tasks ------------------------------------------------------------

def authorise_import(session: Session, caller: Caller, customer_id: str, *, mode: str, preview: bool) -> Customer:
    """Whether ``caller`` may start this import, before anything reads the file: the behaviour is known,
    the customer is reached (for writing, unless it is a preview) and, for an import, R53 allows it."""
    if mode not in MODES:
        raise ValidationFailed(f"Unknown import behaviour '{mode}'; use 'add' (Add services only) or "
                               "'add-remove' (Add and remove services).")
    customer = get_customer(session, caller, customer_id, write=not preview)
    if not preview:
        require_writable(session, caller, customer.partner_id)
    return customer


def create_import(session: Session, caller: Caller, customer_id: str, *, file_name: str, stream: BinaryIO,
                  read_header: Callable[[BinaryIO], list[str]], mode: str = "add", preview: bool = True,
                  quota_bytes: int | None = None) -> Task:
    """Queue a preview or an import of the file ``stream`` yields. The file is stored chunk by chunk as it is
    read (never whole in memory) and counted against the customer's quota; then ``read_header``, the
    caller's CSV check, reads the stored file's start, so a broken file is refused when it is uploaded, not
    later by a worker. The header's column names go into the task's audit event."""
    customer = authorise_import(session, caller, customer_id, mode=mode, preview=preview)
    task = Task(type="csv_preview" if preview else "csv_import", customer_id=customer.id, mode=mode,
                file_name=(file_name or "users.csv")[:255], status="queued", created_by=caller.actor)
    session.add(task)
    session.flush()
    store_file(session, task, stream, quota_bytes=quota_bytes)
    columns = read_header(_stream(session, task.id))  # an empty upload has no chunk: the check says "empty"
    record(session, caller, "task.create", "task", task.id, customer.id, None,
           {"type": task.type, "mode": mode, "file": task.file_name, "columns": list(columns)})
    return task


def apply_preview(session: Session, caller: Caller, task_id: str, *, quota_bytes: int | None = None) -> Task:
    """Queue the import of a previewed file with the same behaviour. The import gets its own copy of the
    file (copied chunk by chunk inside the database), which counts against the quota like an upload."""
    preview = get_task(session, caller, task_id)
    if preview.type not in PREVIEW_TYPES:
        raise ValidationFailed("Only a preview task can be applied; this task is already an import.")
    if preview.status not in ("completed", "completed_with_errors"):
        raise Conflict(f"The preview is {preview.status}; wait until it has completed.")
    if preview.type == "revert_preview":
        return _queue_revert(session, caller, preview.reverts_task_id or "", preview.customer_id,
                             preview.file_name, mode=preview.mode, preview_of=preview.id)
    customer = get_customer(session, caller, preview.customer_id, write=True)
    if preview.file_deleted is not None or not _has_file(session, preview.id):
        deleted = f" on {preview.file_deleted:%Y-%m-%d}" if preview.file_deleted else ""
        raise Conflict(f"The preview's file was deleted{deleted} (uploaded files are kept for a limited time; the "
                       "preview's results and error report stay). Upload the file again to preview and import it.")
    _check_quota(session, customer.id, quota_bytes, adding=preview.file_bytes)
    task = Task(type="csv_import", customer_id=customer.id, mode=preview.mode, file_name=preview.file_name,
                status="queued", created_by=caller.actor, preview_of=preview.id, file_bytes=preview.file_bytes)
    session.add(task)
    session.flush()
    # INSERT … SELECT: the bytes never leave the database server.
    session.execute(insert(TaskFileChunk).from_select(
        ["task_id", "seq", "data"],
        select(literal(task.id, String(36)), TaskFileChunk.seq, TaskFileChunk.data)
        .where(TaskFileChunk.task_id == preview.id)))
    record(session, caller, "task.create", "task", task.id, customer.id, None,
           {"type": task.type, "mode": task.mode, "file": task.file_name, "previewOf": preview.id})
    return task


def start_revert(session: Session, caller: Caller, task_id: str, *, dry_run: bool = False,
                 force: bool = False) -> Task:
    """Queue the revert of an applied import (or of a revert): a new task that puts every user the task added,
    modified or deleted back as it was before (``tasks/revert.py``). ``dry_run`` queues a preview of it, which
    changes nothing and can be applied later; ``force`` puts back users changed after the task too.
    Unknown and foreign tasks are 404; a task that changed nothing (a preview, one still queued or running,
    one that failed before changing a user) is 409 with the reason."""
    source = get_task(session, caller, task_id)
    if source.type in PREVIEW_TYPES:
        raise Conflict("This task is a preview: it changed nothing, so there is nothing to revert. Revert the "
                       "import that applied it.")
    if source.type not in REVERTIBLE:
        raise Conflict(f"A {source.type} task cannot be reverted; only an applied import (or a revert) can.")
    if source.status not in FINISHED:
        raise Conflict(f"The task is {source.status}; wait until it has ended, then revert it.")
    if not (source.added or source.modified or source.deleted):
        raise Conflict(f"The task ({source.status}) added, modified or deleted no user, so there is nothing to "
                       "revert.")
    return _queue_revert(session, caller, source.id, source.customer_id, source.file_name,
                         mode="revert-force" if force else "revert", preview=dry_run)


def is_revertible(task: Task) -> bool:
    """Whether ``task`` can be reverted (what ``start_revert`` accepts): an ended import or revert that added,
    modified or deleted a user."""
    return (task.type in REVERTIBLE and task.status in FINISHED
            and bool(task.added or task.modified or task.deleted))


def _queue_revert(session: Session, caller: Caller, source_id: str, customer_id: str, file_name: str, *,
                  mode: str, preview: bool = False, preview_of: str | None = None) -> Task:
    customer = get_customer(session, caller, customer_id, write=not preview)
    if not preview:
        require_writable(session, caller, customer.partner_id)
    task = Task(type="revert_preview" if preview else "revert", customer_id=customer.id, mode=mode,
                file_name=file_name, status="queued", created_by=caller.actor, preview_of=preview_of,
                reverts_task_id=source_id)
    session.add(task)
    session.flush()
    record(session, caller, "task.create", "task", task.id, customer.id, None,
           {"type": task.type, "mode": mode, "reverts": source_id, "previewOf": preview_of})
    return task


def reverted_by(session: Session, task_ids: list[str]) -> dict[str, list[str]]:
    """For each of ``task_ids`` (tasks the caller already reached), the reverts applied to it, newest first
    (dry runs are not listed: they changed nothing)."""
    out: dict[str, list[str]] = {}
    if task_ids:
        for source, revert in session.execute(
                select(Task.reverts_task_id, Task.id)
                .where(Task.reverts_task_id.in_(task_ids), Task.type == "revert")
                .order_by(Task.created.desc(), Task.id)):
            out.setdefault(source or "", []).append(revert)
    return out


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
    """A task's row results in file order; a preview's deletions first (what it would delete is read first)."""
    task = get_task(session, caller, task_id)
    stmt = select(TaskRow).where(TaskRow.task_id == task_id)
    if outcome == "warning":
        # messages of a row without any is stored as JSON 'null' (not SQL NULL): look for a warning in the text
        stmt = stmt.where(TaskRow.outcome != "error", cast(TaskRow.messages, String).like('%"warning"%'))
    elif outcome:
        stmt = stmt.where(TaskRow.outcome == outcome)
    order: list[Any] = [TaskRow.line]
    if task.type == "csv_preview" and outcome in (None, "", "warning"):
        order.insert(0, case((TaskRow.outcome == "delete", 0), else_=1))
    return list(session.scalars(stmt.order_by(*order).offset(offset).limit(limit)))


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
    session.execute(delete(TaskFileChunk).where(TaskFileChunk.task_id == task.id))
    session.delete(task)
    record(session, caller, "task.delete", "task", task.id, task.customer_id, None, None)


# --- stored files: chunks in, chunks out, quota and retention ---------------------------------

class QuotaExceeded(PayloadTooLarge):
    """The customer's stored task files would pass RTMHUB_TASK_FILE_QUOTA_BYTES."""


def _size(n: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} bytes"


def stored_bytes(session: Session, customer_id: str) -> int:
    """Bytes of task files the customer has stored (what the quota counts)."""
    return int(session.scalar(select(func.coalesce(func.sum(Task.file_bytes), 0))
                              .where(Task.customer_id == customer_id)) or 0)


def _check_quota(session: Session, customer_id: str, quota_bytes: int | None, *, adding: int,
                 used: int | None = None) -> int:
    used = stored_bytes(session, customer_id) if used is None else used
    if quota_bytes and used + adding > quota_bytes:
        raise QuotaExceeded(
            f"The customer's stored task files would exceed their quota of {_size(quota_bytes)}: "
            f"{_size(used)} are used by earlier tasks and {_size(max(quota_bytes - used, 0))} are free. Delete "
            "tasks that are no longer needed (DELETE /v1/tasks/{taskId}, or Delete on the task's page) to free "
            "space; uploaded files are also deleted automatically after the retention period. The operator sets "
            "the quota with RTMHUB_TASK_FILE_QUOTA_BYTES.")
    return used


def store_file(session: Session, task: Task, stream: BinaryIO, *, quota_bytes: int | None = None) -> int:
    """Write ``stream`` as the task's file, one chunk at a time, counting against the customer's quota while
    it streams (an over-quota upload stops at the chunk that passes it; the caller's rollback drops the
    chunks written). Returns the file's size."""
    used = _check_quota(session, task.customer_id, quota_bytes, adding=0)
    size = seq = 0
    while data := _read_chunk(stream):
        size += len(data)
        _check_quota(session, task.customer_id, quota_bytes, adding=size, used=used)
        # Core INSERT: an ORM object per chunk would stay in the session (and in memory) until it ends.
        session.execute(insert(TaskFileChunk).values(task_id=task.id, seq=seq, data=data))
        seq += 1
    task.file_bytes = size
    return size


def _read_chunk(stream: BinaryIO) -> bytes:
    """Up to CHUNK_BYTES from ``stream`` (a raw stream may answer a read with fewer bytes than asked)."""
    parts: list[bytes] = []
    left = CHUNK_BYTES
    while left:
        data = stream.read(left)
        if not data:
            break
        parts.append(bytes(data))
        left -= len(data)
    return b"".join(parts)


def file_chunk(session: Session, task_id: str, seq: int) -> bytes | None:
    """Chunk ``seq`` of a task's file; None after the last."""
    data = session.scalar(select(TaskFileChunk.data).where(TaskFileChunk.task_id == task_id,
                                                           TaskFileChunk.seq == seq))
    return None if data is None else bytes(data)


def _has_file(session: Session, task_id: str) -> bool:
    return session.scalar(select(TaskFileChunk.seq).where(TaskFileChunk.task_id == task_id).limit(1)) is not None


class FileStream(io.RawIOBase):
    """A stored file read back as a binary stream, one chunk in memory at a time. ``fetch(seq)`` gives chunk
    ``seq`` or None after the last; it may open its own short transaction per chunk, so a reader that spans
    many transactions (a task's batches) holds none open between chunks."""

    def __init__(self, fetch: Callable[[int], bytes | None]):
        self._fetch = fetch
        self._seq = 0
        self._chunk = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._chunk and not self._done:
            data = self._fetch(self._seq)
            if data is None:
                self._done = True
            else:
                self._seq += 1
                self._chunk = memoryview(data)
        n = min(len(buffer), len(self._chunk))
        buffer[:n] = self._chunk[:n]
        self._chunk = self._chunk[n:]
        return n


def _stream(session: Session, task_id: str) -> BinaryIO:
    return typed(BinaryIO, io.BufferedReader(FileStream(lambda seq: file_chunk(session, task_id, seq)), CHUNK_BYTES))


def open_file(session: Session, task_id: str) -> BinaryIO:
    """The task's file as a binary stream read through ``session``."""
    if not _has_file(session, task_id):
        raise Conflict("The task's file was deleted; upload the file again.")
    return _stream(session, task_id)


def has_file(session: Session, task_id: str) -> bool:
    return _has_file(session, task_id)


def purge_files(session: Session, older_than: datetime, limit: int = 100) -> int:
    """Delete the files of up to ``limit`` ended tasks created before ``older_than``; the tasks, their row
    results and error reports stay. A queued or running task's file is never touched: only ended statuses
    are selected, and a task does not leave an ended status."""
    ids = list(session.scalars(select(Task.id).where(Task.status.in_(FINISHED), Task.created < older_than,
                                                     Task.file_deleted.is_(None))
                               .order_by(Task.created).limit(limit)))
    if ids:
        session.execute(delete(TaskFileChunk).where(TaskFileChunk.task_id.in_(ids)))
        session.execute(update(Task).where(Task.id.in_(ids)).values(file_bytes=0, file_deleted=utcnow()))
    return len(ids)


def failed_rows(session: Session, caller: Caller, task_id: str) -> list[tuple[dict[str, str] | None,
                                                                              list[dict[str, str]] | None]]:
    """The cells and messages of a task's failed rows, in file order (for the error report)."""
    get_task(session, caller, task_id)
    return [(cells, messages) for cells, messages in session.execute(
        select(TaskRow.cells, TaskRow.messages).where(TaskRow.task_id == task_id, TaskRow.outcome == "error")
        .order_by(TaskRow.line))]


# --- a runner's bookkeeping, in the runner's transactions ------------------------------------

_OUTCOME_COUNTERS = {"add": "added", "modify": "modified", "delete": "deleted", "unchanged": "unchanged",
                     "error": "failed"}


def count_outcomes(task: Task, rows: Iterable[tuple[str, list[dict[str, str]] | None]]) -> None:
    """Count rows' outcomes (add, modify, delete, unchanged, error), each given with its messages, into the
    task's totals: a batch's rows at once, each total set once."""
    counts: Counter[str] = Counter()
    warnings = 0
    for outcome, messages in rows:
        counts[_OUTCOME_COUNTERS[outcome]] += 1
        # As /rows?outcome=warning counts: a row that applied with a warning.
        if messages and outcome != "error" and any(m["level"] == "warning" for m in messages):
            warnings += 1
    for field, count in counts.items():
        setattr(task, field, getattr(task, field) + count)
    if warnings:
        task.warnings += warnings


def allocation_snapshot(session: Session, customer_id: str) -> dict[str, Any]:
    """Units used and allocated per wholesale package, as the task leaves them."""
    rows = session.execute(select(CustomerPackage.package, CustomerPackage.used, CustomerPackage.allocation)
                           .where(CustomerPackage.customer_id == customer_id,
                                  CustomerPackage.package.not_in(BASE_LICENCES))).all()
    return {p: {"used": u, "allocation": a} for p, u, a in rows}


def finish(session: Session, task: Task, allocations: dict[str, Any] | None = None) -> None:
    """End a task that ran through its file; ``allocations`` when the caller took the snapshot itself
    (a preview takes it inside its rolled-back transaction, where the simulated units are)."""
    task.allocations = allocation_snapshot(session, task.customer_id) if allocations is None else allocations
    task.status = "completed_with_errors" if task.failed else "completed"
    task.finished = utcnow()
    task.heartbeat = utcnow()


def end_cancelled(task: Task) -> None:
    """A running task that was asked to stop: it stops between batches."""
    task.status, task.finished, task.message = "cancelled", utcnow(), "Cancelled on request."


def fail(task: Task, message: str) -> None:
    task.status, task.finished, task.message = "failed", utcnow(), message[:1000]


def task_progress(task: Task) -> dict[str, Any]:
    total = task.total_rows
    return {"rowsDone": task.rows_done, "totalRows": total,
            "percent": round(100 * task.rows_done / total, 1) if total else (100.0 if task.status in FINISHED else 0.0)}


def applied_import_of(session: Session, caller: Caller, task_id: str) -> str | None:
    """The id of the import task that applied the preview ``task_id`` (None while it is not applied)."""
    preview = get_task(session, caller, task_id)
    return session.scalar(select(Task.id).where(Task.preview_of == preview.id).limit(1))


__all__ = [
    "PREVIEW_TYPES", "REVERTIBLE", "TASK_TYPES", "allocation_snapshot", "applied_import_of", "apply_preview",
    "authorise_import", "cancel", "count_outcomes", "create_import", "delete_task", "end_cancelled", "fail",
    "failed_rows", "finish", "FileStream", "is_revertible", "QuotaExceeded", "file_chunk", "get_task", "has_file",
    "list_tasks",
    "open_file", "purge_files", "reverted_by", "start_revert", "store_file", "stored_bytes", "task_progress",
    "task_rows"
]
