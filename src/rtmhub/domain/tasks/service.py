"""CSV tasks in the domain: create, read, cancel and delete them, and the bookkeeping a task runner
does in its own transactions (counting a row's outcome, finishing, failing, the allocation snapshot).

Every function takes the caller's Session and never commits. The task runner of the application layer
(jobs/runner.py), which claims tasks and applies their rows batch by batch, owns the transactions;
reading the file belongs to the CSV package, so ``create_import`` receives the header its caller checked.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast, delete, select
from sqlalchemy.orm import Session

from rtmhub.db import utcnow
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.access.service import get_customer, require_writable
from rtmhub.domain.audit.service import record
from rtmhub.domain.customers.models import Customer, CustomerPackage
from rtmhub.domain.packages.models import BASE_LICENCES
from rtmhub.domain.tasks.models import FINISHED, MODES, Task, TaskFile, TaskRow
from rtmhub.errors import Conflict, NotFound, ValidationFailed

TASK_TYPES = ("csv_preview", "csv_import")


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


def create_import(session: Session, caller: Caller, customer_id: str, *, file_name: str, content: bytes,
                  columns: list[str], mode: str = "add", preview: bool = True) -> Task:
    """Queue a preview or an import of ``content``, whose header the caller has already checked (a broken
    file is refused when it is uploaded, not later by a worker); ``columns`` are the header's column
    names, kept in the task's audit event."""
    customer = authorise_import(session, caller, customer_id, mode=mode, preview=preview)
    task = Task(type="csv_preview" if preview else "csv_import", customer_id=customer.id, mode=mode,
                file_name=(file_name or "users.csv")[:255], status="queued", created_by=caller.actor)
    session.add(task)
    session.flush()
    session.add(TaskFile(task_id=task.id, content=content))
    record(session, caller, "task.create", "task", task.id, customer.id, None,
           {"type": task.type, "mode": mode, "file": task.file_name, "columns": list(columns)})
    return task


def apply_preview(session: Session, caller: Caller, task_id: str) -> Task:
    """Queue the import of a previewed file with the same behaviour."""
    preview = get_task(session, caller, task_id)
    if preview.type != "csv_preview":
        raise ValidationFailed("Only a preview task can be applied; this task is already an import.")
    if preview.status not in ("completed", "completed_with_errors"):
        raise Conflict(f"The preview is {preview.status}; wait until it has completed.")
    customer = get_customer(session, caller, preview.customer_id, write=True)
    content = task_file(session, preview.id)
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


def task_file(session: Session, task_id: str) -> bytes:
    """The uploaded file of a task (every task has one, written with it)."""
    file = session.get(TaskFile, task_id)
    if file is None:
        raise NotFound("The task's file is gone; upload the file again.")
    return file.content


def failed_rows(session: Session, caller: Caller, task_id: str) -> list[tuple[dict[str, str] | None,
                                                                              list[dict[str, str]] | None]]:
    """The cells and messages of a task's failed rows, in file order (for the error report)."""
    get_task(session, caller, task_id)
    return [(cells, messages) for cells, messages in session.execute(
        select(TaskRow.cells, TaskRow.messages).where(TaskRow.task_id == task_id, TaskRow.outcome == "error")
        .order_by(TaskRow.line))]


# --- a runner's bookkeeping, in the runner's transactions ------------------------------------

def count_outcome(task: Task, outcome: str, messages: list[dict[str, str]] | None) -> None:
    """Count one row's outcome (add, modify, delete, unchanged, error) into the task's totals."""
    field = {"add": "added", "modify": "modified", "delete": "deleted", "unchanged": "unchanged",
             "error": "failed"}[outcome]
    setattr(task, field, getattr(task, field) + 1)
    if outcome != "error" and any(m["level"] == "warning" for m in messages or []):  # as /rows?outcome=warning
        task.warnings += 1


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


__all__ = ["TASK_TYPES", "allocation_snapshot", "applied_import_of", "apply_preview", "authorise_import", "cancel",
           "count_outcome", "create_import", "delete_task", "end_cancelled", "fail", "failed_rows", "finish",
           "get_task", "list_tasks", "task_file", "task_progress", "task_rows"]
