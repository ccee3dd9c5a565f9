"""Task workers: an in-process thread by default, or any number of `rtmhub worker` processes."""
from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from rtmhub.db import Database
from rtmhub.jobs import runner
from rtmhub.settings import get_settings

log = logging.getLogger("rtmhub.worker")  # the name operators filter on; kept when the module moved
# How often a worker looks for uploaded files past their retention: one indexed query, so a few minutes is
# cheap, and a file living a few minutes past its day changes nothing.
PURGE_EVERY_SECONDS = 300.0


class Worker:
    def __init__(self, db: Database, name: str | None = None, poll_seconds: float = 0.5,
                 lease: timedelta | None = None, batch_rows: int | None = None, max_rows: int | None = None):
        settings = get_settings()
        self.db = db
        self.name = name or runner.worker_name()
        self.poll_seconds = poll_seconds
        self.lease = lease or timedelta(seconds=settings.task_lease_seconds)
        self.batch_rows = batch_rows or settings.task_batch_rows
        self.max_rows = max_rows if max_rows is not None else (settings.csv_max_rows or None)
        self.retention_days = settings.task_file_retention_days
        self._next_purge = 0.0  # the first poll purges, then every PURGE_EVERY_SECONDS
        self.stop = threading.Event()

    def purge_files(self) -> None:
        """Delete uploaded files past their retention, at most every PURGE_EVERY_SECONDS (every worker of a
        deployment may do it: the deletes are idempotent)."""
        now = time.monotonic()
        if now < self._next_purge:
            return
        self._next_purge = now + PURGE_EVERY_SECONDS
        try:
            runner.purge_task_files(self.db, self.retention_days)
        except Exception:  # noqa: BLE001 - logged; retention is retried next time, tasks must keep running
            log.exception("worker %s: deleting old task files failed", self.name)

    def run_once(self) -> bool:
        """Run one waiting task; False when there was none or the database could not be used
        (the caller then waits a poll interval instead of spinning)."""
        self.purge_files()
        try:
            return runner.run_pending(self.db, self.name, self.lease, self.batch_rows, self.max_rows)
        except Exception:  # noqa: BLE001 - logged; a claimed task is already marked failed
            log.exception("worker %s: task run failed", self.name)
            return False

    def run_forever(self) -> None:
        while not self.stop.is_set():
            if not self.run_once():
                self.stop.wait(self.poll_seconds)

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name=f"rtmhub-worker-{self.name}", daemon=True)
        thread.start()
        return thread
