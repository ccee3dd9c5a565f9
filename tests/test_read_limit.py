"""SQLite: at most SQLITE_READERS read units of work at a time in a process (the GIL convoy of many threads
stepping SQLite rows at once); a thread already reading opens another read without waiting; a read that
cannot get a place within the busy timeout is a 503 (Unavailable), never a hang; writes are not limited."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from rtmhub.db import SQLITE_READERS, Database
from rtmhub.errors import Unavailable


@pytest.fixture
def sqlite_db(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'read-limit.db'}", busy_timeout=0.3, worker_busy_timeout=0.3)
    yield db
    db.dispose()


def test_at_most_the_limit_read_at_once_and_nested_reads_do_not_wait(sqlite_db):
    inside = 0
    most = 0
    nested_done = 0
    lock = threading.Lock()
    release = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        nonlocal inside, most, nested_done
        try:
            with sqlite_db.unit_of_work(write=False) as s:
                with lock:
                    inside += 1
                    most = max(most, inside)
                with sqlite_db.unit_of_work(write=False) as nested:  # same thread: no second place needed
                    nested.execute(text("SELECT 1"))
                with lock:
                    nested_done += 1
                s.execute(text("SELECT 1"))
                release.wait(10)
                with lock:
                    inside -= 1
        except Unavailable:
            pass  # a reader beyond the limit may give up after the busy timeout
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(SQLITE_READERS + 3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while inside < SQLITE_READERS and time.monotonic() < deadline:
        time.sleep(0.005)
    # A nested read that waited for a place would wait for ``release``: polled, since on a loaded machine the
    # readers inside may take more than a moment to get to it.
    while nested_done < SQLITE_READERS and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)  # a reader beyond the limit, were it let in, would be counted by now
    assert most == SQLITE_READERS
    assert nested_done == SQLITE_READERS  # every reader inside also read again without waiting
    release.set()
    for thread in threads:
        thread.join(10)
    assert not errors


def test_a_read_without_a_place_is_unavailable_and_writes_still_go(sqlite_db):
    holding = threading.Event()
    done = threading.Event()

    def hold() -> None:
        with sqlite_db.unit_of_work(write=False):
            holding.set()
            done.wait(10)

    holders = []
    for _ in range(SQLITE_READERS):
        holding.clear()
        thread = threading.Thread(target=hold)
        thread.start()
        assert holding.wait(5)
        holders.append(thread)
    try:
        with pytest.raises(Unavailable):
            with sqlite_db.unit_of_work(write=False) as s:
                s.execute(text("SELECT 1"))
        with sqlite_db.unit_of_work() as s:  # a write does not take a reader's place
            s.execute(text("CREATE TABLE t (x INTEGER)"))
    finally:
        done.set()
        for thread in holders:
            thread.join(10)
    with sqlite_db.unit_of_work(write=False) as s:  # the places are given back
        assert s.execute(text("SELECT count(*) FROM t")).scalar() == 0


def test_the_workers_view_waits_its_longer_time_for_a_place(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'read-wait.db'}", busy_timeout=0.1, worker_busy_timeout=10)
    done = threading.Event()
    holding = threading.Semaphore(0)

    def hold() -> None:
        with db.unit_of_work(write=False):
            holding.release()
            done.wait(10)

    holders = [threading.Thread(target=hold) for _ in range(SQLITE_READERS)]
    for thread in holders:
        thread.start()
    for _ in holders:
        assert holding.acquire(timeout=5)
    threading.Timer(0.5, done.set).start()  # the places come back after a request would have given up
    try:
        with db.for_workers().unit_of_work(write=False) as s:  # a worker still gets one
            assert s.execute(text("SELECT 1")).scalar() == 1
    finally:
        done.set()
        for thread in holders:
            thread.join(10)
        db.dispose()
