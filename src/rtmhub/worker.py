"""Task workers: an in-process thread by default, or any number of `rtmhub worker` processes."""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

from rtmhub.db import Database
from rtmhub.domain.tasks import service as tasks
from rtmhub.settings import get_settings

log = logging.getLogger("rtmhub.worker")


class Worker:
    def __init__(self, db: Database, name: str | None = None, poll_seconds: float = 0.5,
                 lease: timedelta | None = None, batch_rows: int | None = None, max_rows: int | None = None):
        settings = get_settings()
        self.db = db
        self.name = name or tasks.worker_name()
        self.poll_seconds = poll_seconds
        self.lease = lease or timedelta(seconds=settings.task_lease_seconds)
        self.batch_rows = batch_rows or settings.task_batch_rows
        self.max_rows = max_rows if max_rows is not None else (settings.csv_max_rows or None)
        self.stop = threading.Event()

    def run_once(self) -> bool:
        try:
            return tasks.run_pending(self.db, self.name, self.lease, self.batch_rows, self.max_rows)
        except Exception:  # noqa: BLE001 - logged; the task is already marked failed
            log.exception("task failed in worker %s", self.name)
            return True

    def run_forever(self) -> None:
        while not self.stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # noqa: BLE001 - e.g. the database restarting: wait and retry
                log.exception("worker %s could not claim a task", self.name)
                worked = False
            if not worked:
                self.stop.wait(self.poll_seconds)

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name=f"rtmhub-worker-{self.name}", daemon=True)
        thread.start()
        return thread
