"""SQLite: the WAL is checkpointed by a thread of the process shortly after writes, not by the commit of the
request that happens to take it past SQLite's default 1,000 pages (decision 68)."""
from __future__ import annotations

import os
import threading
import time

from sqlalchemy import text

from rtmhub.app import create_app
from rtmhub.db import Database
from rtmhub.settings import Settings

PAGE = 4096


def _database(tmp_path) -> tuple[Database, str]:
    path = str(tmp_path / "wal.db")
    db = Database(f"sqlite:///{path}", busy_timeout=5, worker_busy_timeout=5, background_checkpoints=True)
    with db.unit_of_work() as s:
        s.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL)"))
    return db, path


def _write_pages(db: Database, commits: int) -> None:
    """``commits`` commits of one new page-sized row each: at least a page each in the WAL."""
    for _ in range(commits):
        with db.unit_of_work() as s:
            s.execute(text("INSERT INTO blobs (body) VALUES (randomblob(:n))"), {"n": PAGE - 100})


def _wal_frames(path: str) -> int:
    """Frames the WAL file has room for: its size only grows, so this is the most it ever held at once."""
    return max(0, (os.path.getsize(path + "-wal") - 32) // (24 + PAGE))


def test_a_writers_commit_does_not_checkpoint_at_sqlites_default_size(tmp_path):
    db, path = _database(tmp_path)
    db._checkpointer = None  # no thread: what the writers' own connections do
    try:
        _write_pages(db, 1_300)
        # SQLite's default (1,000 pages) would have copied the WAL back and started it again from its
        # beginning, so that it never held much more than 1,000 frames.
        assert _wal_frames(path) > 1_200
    finally:
        db.dispose()


def test_the_checkpointer_copies_the_wal_into_the_database_after_writes(tmp_path):
    db, path = _database(tmp_path)
    checkpointer = db._checkpointer
    assert checkpointer is not None
    try:
        before = os.path.getsize(path)
        _write_pages(db, 300)
        deadline = time.monotonic() + 30
        # 300 rows of almost a page each are in the database file itself once checkpointed.
        while os.path.getsize(path) < before + 250 * PAGE:
            assert time.monotonic() < deadline, "the WAL was never checkpointed"
            time.sleep(0.01)
        # Once the thread is idle, its last checkpoint came after the last commit and copied every frame, so
        # the next writer starts the WAL again from its beginning: the file does not grow by another batch.
        _until_idle(checkpointer)
        first = _wal_frames(path)
        _write_pages(db, 300)
        assert _wal_frames(path) < first * 1.5
    finally:
        db.dispose()


def _until_idle(checkpointer) -> None:
    deadline = time.monotonic() + 30
    done = -1
    while checkpointer._wake.is_set() or checkpointer.checkpoints != done:
        assert time.monotonic() < deadline, "the checkpointer never went idle"
        done = checkpointer.checkpoints
        time.sleep(checkpointer.pause * 3)


def test_dispose_stops_the_checkpointer(tmp_path):
    db, _path = _database(tmp_path)
    _write_pages(db, 3)
    checkpointer = db._checkpointer
    assert checkpointer is not None
    db.dispose()
    assert checkpointer._thread is not None and not checkpointer._thread.is_alive()


def test_only_a_database_asked_for_it_has_the_thread_and_its_writers_keep_sqlites_default(tmp_path):
    """A CLI command's or a task worker's database commits in large batches and forks its planners only while it
    runs one thread (jobs/ahead.py): no thread there, and SQLite checkpoints as it always did."""
    db = Database(f"sqlite:///{tmp_path / 'plain.db'}", busy_timeout=5, worker_busy_timeout=5)
    before = _checkpoint_threads()  # other tests' servers may have theirs
    try:
        with db.unit_of_work() as s:
            assert s.connection().exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        assert db._checkpointer is None
        assert _checkpoint_threads() == before
    finally:
        db.dispose()


def _checkpoint_threads() -> int:
    return sum(thread.name == "rtmhub-wal-checkpoint" for thread in threading.enumerate())


def test_the_servers_database_has_the_thread(tmp_path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'served.db'}", inprocess_worker=False))
    try:
        assert app.state.db._checkpointer is not None
    finally:
        app.state.db.dispose()


def test_an_in_memory_database_has_no_checkpointer():
    db = Database("sqlite://", busy_timeout=5, worker_busy_timeout=5, background_checkpoints=True)
    try:
        assert db._checkpointer is None
        with db.unit_of_work() as s:
            s.execute(text("SELECT 1"))
    finally:
        db.dispose()
