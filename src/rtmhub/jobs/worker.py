"""Task workers: an in-process thread by default, or any number of `rtmhub worker` processes."""
from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from rtmhub.db import Database
from rtmhub.domain.directory import service as directory
from rtmhub.jobs import billing, runner
from rtmhub.settings import get_settings

log = logging.getLogger("rtmhub.worker")  # the name operators filter on; kept when the module moved
# How often a worker looks for uploaded files past their retention: one indexed query, so a few minutes is
# cheap, and a file living a few minutes past its day changes nothing.
PURGE_EVERY_SECONDS = 300.0
# How often a worker gives freed units to directory group members waiting for them (issue 10): one indexed
# query when nobody waits.
DIRECTORY_EVERY_SECONDS = 2.0


class Worker:
    def __init__(self, db: Database, name: str | None = None, poll_seconds: float = 0.5,
                 lease: timedelta | None = None, batch_rows: int | None = None, max_rows: int | None = None,
                 preview_batch_rows: int | None = None):
        settings = get_settings()
        self.db = db
        self.name = name or runner.worker_name()
        self.poll_seconds = poll_seconds
        self.lease = lease or timedelta(seconds=settings.task_lease_seconds)
        self.batch_rows = batch_rows or settings.task_batch_rows
        self.preview_batch_rows = preview_batch_rows or settings.task_preview_batch_rows
        self.plan_ahead_rows = settings.task_plan_ahead_rows
        self.max_rows = max_rows if max_rows is not None else (settings.csv_max_rows or None)
        self.retention_days = settings.task_file_retention_days
        self._next_purge = 0.0  # the first poll purges, then every PURGE_EVERY_SECONDS
        self._next_directory = 0.0
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

    def grant_waiting(self) -> int:
        """Directory group members waiting for a unit get it when units are free again (a user deleted, a
        package removed, the allocation raised), in the order they joined: one short transaction per
        organisation. Returns how many members were given their package."""
        granted = 0
        try:
            with self.db.unit_of_work(write=False) as session:
                customer_ids = directory.customers_waiting(session)
            for customer_id in customer_ids:
                with self.db.unit_of_work() as session:
                    outcomes = directory.grant_waiting(session, customer_id)
                granted += sum(1 for o in outcomes if o.result == "granted")
        except Exception:  # noqa: BLE001 - logged; retried on the next pass, tasks must keep running
            log.exception("worker %s: giving directory members their packages failed", self.name)
        return granted

    def run_once(self) -> bool:
        """Run one waiting task and make one waiting billing report; False when there was neither or the
        database could not be used (the caller then waits a poll interval instead of spinning)."""
        self.purge_files()
        now = time.monotonic()
        if now >= self._next_directory:
            self._next_directory = now + DIRECTORY_EVERY_SECONDS
            self.grant_waiting()
        try:
            ran = runner.run_pending(self.db, self.name, self.lease, self.batch_rows, self.max_rows,
                                     self.preview_batch_rows, self.plan_ahead_rows)
        except Exception:  # noqa: BLE001 - logged; a claimed task is already marked failed
            log.exception("worker %s: task run failed", self.name)
            ran = False
        return self.make_report() or ran

    def make_report(self) -> bool:
        """Make one waiting billing report (after each task, so neither queue starves the other); False when
        none waited or the database could not be used."""
        try:
            return billing.run_pending(self.db, self.name, self.lease)
        except Exception:  # noqa: BLE001 - logged; a claimed report is already marked failed
            log.exception("worker %s: billing report run failed", self.name)
            return False

    def run_forever(self) -> None:
        while not self.stop.is_set():
            if not self.run_once():
                self.stop.wait(self.poll_seconds)

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name=f"rtmhub-worker-{self.name}", daemon=True)
        thread.start()
        return thread
