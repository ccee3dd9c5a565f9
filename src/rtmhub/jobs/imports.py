"""Starting a CSV import: the upload is streamed into storage, then its header is checked here, where the
CSV code lives, and the domain queues the task with the columns it is given."""
from __future__ import annotations

import io
from typing import BinaryIO

from sqlalchemy.orm import Session

from rtmhub.csvfile.errors import CsvFileError
from rtmhub.csvfile.planner import FileRules, check_file
from rtmhub.csvfile.reader import open_csv
from rtmhub.csvfile.workbook import is_workbook_name, workbook_to_csv
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.tasks import service as tasks
from rtmhub.domain.tasks.models import Task
from rtmhub.errors import PayloadTooLarge


class _Capped(io.RawIOBase):
    """The caller's stream, refused (413) once more than ``limit`` bytes came through: the size is counted
    while the file streams into storage, so an over-size upload is never read whole first."""

    def __init__(self, stream: BinaryIO, limit: int):
        self._stream, self._limit, self._seen = stream, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        if not data:
            return 0
        self._seen += len(data)
        if self._seen > self._limit:
            raise PayloadTooLarge(f"The file is larger than {self._limit} bytes; split it or raise "
                                  "RTMHUB_MAX_UPLOAD_BYTES.")
        buffer[:len(data)] = data
        return len(data)


def submit_import(session: Session, caller: Caller, customer_id: str, *, file_name: str, content: bytes | BinaryIO,
                  mode: str = "add", preview: bool = True, max_rows: int | None = None,
                  max_bytes: int | None = None, quota_bytes: int | None = None, sheet: str | None = None) -> Task:
    """Queue a preview (the default) or an import of ``content`` (a readable binary stream, or bytes) for the
    customer, in the caller's transaction. A caller who may not start it is refused first; the file is then
    stored in chunks (413 past ``max_bytes`` or the customer's ``quota_bytes``), and a broken file is refused
    now (CsvFileError: also a licence column of another subscription, or another organisation's site), not
    later by a worker; ``max_rows`` caps the rows the runner will read. A file named ``.xlsx`` is an Excel
    workbook: its first sheet with user columns (or ``sheet``) is stored as the CSV the runner reads (decision
    43); ``sheet`` is refused for a CSV file."""
    customer = tasks.authorise_import(session, caller, customer_id, mode=mode, preview=preview)
    rules = FileRules.load(session, customer)
    stream: BinaryIO = io.BytesIO(content) if isinstance(content, (bytes, bytearray)) else content
    if max_bytes is not None:
        stream = _Capped(stream, max_bytes)  # type: ignore[assignment]
    if is_workbook_name(file_name):
        stream = workbook_to_csv(stream, name=file_name, sheet=sheet, max_rows=max_rows,  # type: ignore[assignment]
                                 max_bytes=quota_bytes)
    elif sheet:
        raise CsvFileError(f"A sheet ('{sheet}') can only be chosen in an Excel workbook (.xlsx); '{file_name}' is "
                           "read as a CSV file.")

    def read_header(stored: BinaryIO) -> list[str]:
        reader = open_csv(stored, max_rows=max_rows)  # the header only: rows stream in the runner
        try:
            check_file(reader.header_map, rules)  # subscription ids and sites: refused before anything applies
        except CsvFileError as exc:
            exc.line = reader.header_line
            raise
        return [entry.column.header for entry in reader.header_map.entries]

    return tasks.create_import(session, caller, customer_id, file_name=file_name, stream=stream,
                               read_header=read_header, mode=mode, preview=preview, quota_bytes=quota_bytes)


__all__ = ["submit_import"]
