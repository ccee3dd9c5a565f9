"""Starting a CSV import: the file is opened (and its header checked) here, where the CSV code lives,
and the domain queues the task with the header it is given."""
from __future__ import annotations

import io

from sqlalchemy.orm import Session

from rtmhub.csvfile.reader import open_csv
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.tasks import service as tasks
from rtmhub.domain.tasks.models import Task


def submit_import(session: Session, caller: Caller, customer_id: str, *, file_name: str, content: bytes,
                  mode: str = "add", preview: bool = True, max_rows: int | None = None) -> Task:
    """Queue a preview (the default) or an import of ``content`` for the customer, in the caller's
    transaction. A caller who may not start it is refused first, then a broken file is refused now
    (CsvFileError), not later by a worker; ``max_rows`` caps the rows the runner will read."""
    tasks.authorise_import(session, caller, customer_id, mode=mode, preview=preview)
    reader = open_csv(io.BytesIO(content), max_rows=max_rows)  # the header only: rows stream in the runner
    columns = [entry.column.header for entry in reader.header_map.entries]
    return tasks.create_import(session, caller, customer_id, file_name=file_name, content=content, columns=columns,
                               mode=mode, preview=preview)


__all__ = ["submit_import"]
