"""SQLite's WAL checkpoints in a thread of their own (decision 68).

In WAL mode a commit appends the pages it changed to the ``-wal`` file; a checkpoint copies them back into the
database file. By default the commit that takes the WAL past 1,000 pages does that copy itself, with its fsyncs,
while it still holds the write lock: under a load of provisionings one commit in about thirty took 2 ms of CPU and
up to 7 ms of wall time instead of 0.16 ms, and every writer queued behind it waited. Here the writers' own
connections checkpoint only past a far larger WAL (a safety net), and a thread of the process copies the pages a
moment after writes, on a connection of its own: a PASSIVE checkpoint, which never waits for a reader or a
writer, and in which SQLite lets go of Python's GIL, so that it runs beside the requests instead of inside one.
"""
from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger("rtmhub.db")

# The WAL's size, in pages, past which a writer's commit checkpoints by itself: only when this thread falls
# behind (a reader holding an old snapshot keeps a checkpoint from finishing, and the WAL grows meanwhile).
WRITER_AUTOCHECKPOINT_PAGES = 10_000


class WalCheckpointer:
    """Checkpoints one SQLite database file shortly after commits. ``committed()`` is cheap and called by every
    writing unit of work; the thread starts with the first and gathers the commits of ``pause`` seconds into one
    checkpoint."""

    def __init__(self, path: str, pause: float = 0.05):
        self.path = path
        self.pause = pause
        self.checkpoints = 0  # completed: for the tests and the curious
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def committed(self) -> None:
        if self._thread is None:
            self._start()
        self._wake.set()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stop.is_set():
                thread = threading.Thread(target=self._run, name="rtmhub-wal-checkpoint", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
        try:
            while True:
                self._wake.wait()
                if self._stop.wait(self.pause):
                    break
                # Cleared before the checkpoint, so that a commit during it asks for the next one.
                self._wake.clear()
                self.checkpoint(conn)
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except sqlite3.Error as exc:
            # Another process's checkpoint, a file being replaced by a restore: the next commit tries again,
            # and the writers' own safety net still holds.
            log.debug("WAL checkpoint of %s skipped: %s", self.path, exc)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=10)
