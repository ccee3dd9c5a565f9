"""Tasks (CSV previews and imports, reverts of imports), their uploaded files and their per-row results."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from rtmhub.db import Base, UTCDateTime, utcnow
from rtmhub.ids import new_uuid

TASK_STATUSES = ("queued", "running", "completed", "completed_with_errors", "failed", "cancelled")
FINISHED = ("completed", "completed_with_errors", "failed", "cancelled")
OUTCOMES = ("add", "modify", "delete", "unchanged", "error")
MODES = ("add", "add-remove")  # import behaviours (D4): "Add services only", "Add and remove services"
# A revert's behaviour: "revert" leaves users changed after the import alone (their rows fail); "revert-force"
# puts them back too.
REVERT_MODES = ("revert", "revert-force")


class Task(Base):
    """A background job (CSV preview or import). Progress and per-row results are written in the
    same transaction as the rows they describe, so a resumed task continues after ``rows_done``."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_status_created", "status", "created"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    type: Mapped[str] = mapped_column(String(30))  # csv_preview | csv_import | revert_preview | revert
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    mode: Mapped[str] = mapped_column(String(20), default="add")  # add | add-remove | revert | revert-force
    file_name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(30), default="queued")
    created_by: Mapped[str] = mapped_column(String(161))
    preview_of: Mapped[str | None] = mapped_column(String(36))
    # A revert (or its dry run): the task whose changes it undoes, found through the audit trail (the events
    # whose request_id is that task's id), so the revert still works after that task was deleted.
    reverts_task_id: Mapped[str | None] = mapped_column(String(36), index=True)
    total_rows: Mapped[int | None] = mapped_column(Integer)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    last_line: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)
    modified: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[int] = mapped_column(Integer, default=0)
    allocations: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(String(1000))
    # File-level notices (not errors), as row messages are stored: {"level": "notice", "message", "template",
    # "params"}; e.g. the columns of a Control Hub export that were recognised and ignored.
    notices: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker: Mapped[str | None] = mapped_column(String(100))
    heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bytes of the uploaded file still stored (TaskFileChunk rows): the customer's quota sums these, so the
    # check reads one column per task instead of measuring blobs. 0 once the file is deleted.
    file_bytes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When retention deleted the file (results and error report stay); None while it is stored.
    file_deleted: Mapped[datetime | None] = mapped_column(UTCDateTime)


CHUNK_BYTES = 1_048_576  # one stored piece of an uploaded file: memory per upload or read stays about this


class TaskFileChunk(Base):
    """One piece of a task's uploaded file, kept in the database so a worker on any machine can read it.
    An upload is written piece by piece as it streams in and read back the same way, so no process ever
    holds a whole file (decision 24)."""

    __tablename__ = "task_file_chunks"

    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class TaskRow(Base):
    __tablename__ = "task_rows"
    __table_args__ = (Index("ix_task_rows_task_line", "task_id", "line", unique=True),
                      Index("ix_task_rows_task_outcome", "task_id", "outcome"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    email: Mapped[str | None] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(20))
    changes: Mapped[list[str] | None] = mapped_column(JSON)
    messages: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)
    cells: Mapped[dict[str, str] | None] = mapped_column(JSON)
