"""SQLite: a process's writers queue for the write lock in arrival order (decision 38); the wait still ends in
a 503 after the request's busy timeout (decision 23), and the lock is handed on when a unit of work ends,
whether it committed or failed."""
from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from rtmhub.app import create_app
from rtmhub.db import Database, WriteGate
from rtmhub.settings import Settings


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.001)


def test_writers_get_the_gate_in_arrival_order():
    gate = WriteGate()
    assert gate.acquire(timeout=1)
    order: list[int] = []

    def writer(n: int) -> None:
        assert gate.acquire(timeout=30)
        order.append(n)
        gate.release()

    threads = []
    for n in range(4):
        thread = threading.Thread(target=writer, args=(n,))
        thread.start()
        threads.append(thread)
        _until(lambda n=n: len(gate._waiters) == n + 1, f"writer {n} queued")
    gate.release()
    for thread in threads:
        thread.join(30)
    assert order == [0, 1, 2, 3]
    assert gate.acquire(timeout=0)  # free again once the queue is empty


def test_a_waiter_that_gives_up_leaves_the_queue():
    gate = WriteGate()
    assert gate.acquire(timeout=1)
    assert not gate.acquire(timeout=0.01)
    assert not gate._waiters
    gate.release()
    assert gate.acquire(timeout=0)


def _post(client, world, email: str):
    return client.post("/v1/wholesale/subscribers", headers=world.auth("a_full"),
                       json={"customerId": world.ids["ca"], "email": email, "package": "webex_meetings"})


def test_a_write_behind_a_writer_of_its_own_process_is_a_503_and_the_lock_is_handed_on(db, world):
    if not db.is_sqlite:
        pytest.skip("SQLite's write lock")
    impatient = Database(db.url, busy_timeout=0.5, worker_busy_timeout=5)
    app = create_app(Settings(database_url=db.url, inprocess_worker=False), database=impatient)
    try:
        with TestClient(app) as client:
            assert _post(client, world, "eka@asiakas.example").status_code == 200  # the token is cached now
            with impatient.unit_of_work() as s:  # this process holds the write lock
                s.execute(text("SELECT 1"))
                refused = _post(client, world, "toka@asiakas.example")
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "2", refused.text
            # Handed on after a commit, and after a unit of work that failed:
            with pytest.raises(RuntimeError), impatient.unit_of_work() as s:
                s.execute(text("SELECT 1"))
                raise RuntimeError("the change failed")
            assert _post(client, world, "kolmas@asiakas.example").status_code == 200
            assert _post(client, world, "neljas@asiakas.example").status_code == 200
    finally:
        impatient.dispose()
