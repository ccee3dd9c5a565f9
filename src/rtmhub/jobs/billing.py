"""Making billing reports: a worker claims one IN_PROGRESS report at a time (a lease, renewed while it works),
writes its CSV from the ledger (``domain.billing.content``) in pieces of about a megabyte, one short
transaction each, and marks it COMPLETED, or FAILED with a message and no pieces left.

No process holds a whole report in memory, and no transaction lasts the whole report on the writing side:
on SQLite other writers wait for one piece at most. A worker that dies leaves its lease to lapse; the next
claim drops the pieces it wrote and makes the report again from the start (the content is reproducible, so
the file is the same)."""
from __future__ import annotations

import io
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TextIO, cast

from rtmhub.db import Database
from rtmhub.domain.billing import content
from rtmhub.domain.billing import service as billing
from rtmhub.domain.billing.models import CHUNK_BYTES, BillingReport
from rtmhub.ids import short

log = logging.getLogger("rtmhub.worker")


class _Lost(Exception):
    """The report is no longer this worker's: deleted (cancelled) or taken over after a lapsed lease."""


class ChunkWriter(io.TextIOBase):
    """A text stream that hands its UTF-8 bytes on in pieces of ``size`` bytes (the last one shorter)."""

    def __init__(self, store: Callable[[bytes], None], size: int = CHUNK_BYTES):
        super().__init__()
        self._store = store
        self._size = size
        self._buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buffer += text.encode("utf-8")
        while len(self._buffer) >= self._size:
            self._store(bytes(self._buffer[:self._size]))
            del self._buffer[:self._size]
        return len(text)

    def finish(self) -> None:
        if self._buffer:
            self._store(bytes(self._buffer))
            self._buffer.clear()


def run_pending(db: Database, worker: str, lease: timedelta, chunk_bytes: int = CHUNK_BYTES) -> bool:
    """Claim and make one report; False when none was waiting."""
    db = db.for_workers()
    with db.unit_of_work(write=False) as s:
        # A cheap read first: idle workers must not take the write lock every poll.
        if not billing.waiting(s, lease):
            return False
    with db.unit_of_work() as s:
        report_id = billing.claim_next(s, worker, lease)
    if report_id is None:
        return False
    try:
        make_report(db, report_id, worker, lease, chunk_bytes)
    except Exception:  # noqa: BLE001 - a report must end FAILED, never stay IN_PROGRESS forever
        # The partner reads the message: never the exception (it may quote SQL and other tenants' data).
        tracking = f"RTMHUB_{uuid.uuid4()}"
        log.exception("billing report %s failed (tracking id %s)", report_id, tracking)
        with db.unit_of_work() as s:
            billing.fail(s, report_id, worker, f"The report could not be made (tracking id {tracking}). Create "
                                               "it again, or report the tracking id to the operator.")
    return True


def make_report(db: Database, report_id: str, worker: str, lease: timedelta, chunk_bytes: int = CHUNK_BYTES) -> None:
    with db.unit_of_work(write=False) as s:
        report = s.get(BillingReport, report_id)
        if report is None:
            return
        kind, start, end = report.report_type, report.start_date, report.end_date
        partner_ids = billing.report_partner_ids(s, report_id)
    written = {"pieces": 0, "bytes": 0}

    def store(data: bytes) -> None:
        with db.unit_of_work() as s:
            if not billing.append_chunk(s, report_id, worker, written["pieces"], data):
                raise _Lost
        written["pieces"] += 1
        written["bytes"] += len(data)

    stop = threading.Event()
    beat = threading.Thread(target=_keep_lease, args=(db, report_id, worker, lease, stop), daemon=True,
                            name=f"rtmhub-report-lease-{short(report_id)}")
    beat.start()
    try:
        writer = ChunkWriter(store, chunk_bytes)
        # One read transaction for the content: every line comes from the same state of the ledger.
        with db.unit_of_work(write=False) as s:
            lines = content.write_report(s, cast(TextIO, writer), kind, start, end, partner_ids)
        writer.finish()
    except _Lost:
        log.info("billing report %s was deleted or taken over; worker %s stopped making it", report_id, worker)
        return
    finally:
        stop.set()
        beat.join()
    with db.unit_of_work() as s:
        billing.complete(s, report_id, worker, lines, written["bytes"], written["pieces"])


def _keep_lease(db: Database, report_id: str, worker: str, lease: timedelta, stop: threading.Event) -> None:
    """Renew the lease while the content is computed: a long query writes no piece for a while, and the
    report must not look abandoned meanwhile. Stops when the report is no longer this worker's."""
    every = max(lease.total_seconds() / 3, 0.05)
    while not stop.wait(every):
        try:
            with db.unit_of_work() as s:
                if not billing.renew(s, report_id, worker):
                    return
        except Exception:  # noqa: BLE001 - a missed renewal is retried; the lease allows two more
            log.warning("billing report %s: lease not renewed", report_id, exc_info=True)


__all__ = ["ChunkWriter", "make_report", "run_pending"]


def stored_pieces(db: Database, report_id: str) -> Iterator[bytes]:
    """A made report's CSV as stored, piece by piece, each read in a short read unit of its own, so a slow
    client, disk or pipe holds no transaction open (the API's signed link, the page's download, the CLI)."""
    seq = 0
    while True:
        with db.unit_of_work(write=False) as s:
            data = billing.content_chunk(s, report_id, seq)
        if data is None:
            return
        yield data
        seq += 1
