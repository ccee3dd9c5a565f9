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


def _sqlite_only(db) -> None:
    if not db.is_sqlite:
        pytest.skip("SQLite's write gate")


def test_a_writer_waiting_for_the_gate_holds_no_connection(db):
    """A writing unit of work queues for the gate before it takes a connection from the pool (decision 57): the
    writers behind the one that holds the lock hold none, and the one after it begins on a connection the pool
    had back."""
    _sqlite_only(db)
    holding, go_on = threading.Event(), threading.Event()
    began: list[bool] = []

    def first() -> None:
        with db.unit_of_work() as s:
            s.execute(text("SELECT 1"))
            holding.set()
            assert go_on.wait(30)

    def second() -> None:
        with db.unit_of_work() as s:
            s.execute(text("SELECT 1"))
            began.append(True)

    pool = db.engine.pool
    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    try:
        threads[0].start()
        assert holding.wait(30)
        in_use = pool.checkedout()
        threads[1].start()
        _until(lambda: len(db._gate._waiters) == 1, "the second writer queued")  # type: ignore[union-attr]
        assert pool.checkedout() == in_use and not began  # queued without a connection
    finally:
        go_on.set()
        for thread in threads:
            if thread.is_alive():
                thread.join(30)
    assert began == [True] and pool.checkedout() == 0


def test_a_writer_gets_the_connection_the_writer_before_it_gave_back(db):
    """SQLite's pool hands out the connection returned last: consecutive writers run on one connection, whose
    page cache SQLite keeps (the last commit was its own), instead of going round every idle connection."""
    _sqlite_only(db)
    idle = [db.engine.connect() for _ in range(3)]  # the pool holds three idle connections afterwards
    for conn in idle:
        conn.close()

    def writer_connection():
        with db.unit_of_work() as s:
            return s.connection().connection.dbapi_connection

    first, second = writer_connection(), writer_connection()
    with db.unit_of_work(write=False) as s:
        s.execute(text("SELECT 1"))
    assert first is second is writer_connection()


def test_a_writing_unit_of_work_inside_another_of_its_thread_does_not_wait_for_itself(db):
    """The gate a thread's writing unit of work holds is that thread's: a writing unit of work it opens inside
    (before the outer one has written) goes through, as it did when the gate was taken at BEGIN, and the gate
    is free once the outer one ends, whether it committed or failed."""
    _sqlite_only(db)
    quick = Database(db.url, busy_timeout=0.5, worker_busy_timeout=0.5)
    try:
        for fails in (False, True):
            try:
                with quick.unit_of_work() as outer:
                    with quick.unit_of_work() as inner:
                        assert inner.execute(text("SELECT 2")).scalar() == 2
                    assert outer.execute(text("SELECT 1")).scalar() == 1
                    if fails:
                        raise RuntimeError("the change failed")
            except RuntimeError:
                assert fails
            got: list[int] = []
            other = threading.Thread(target=_write_once, args=(quick, got))
            other.start()
            other.join(30)
            assert got == [1]
    finally:
        quick.dispose()


def _write_once(db: Database, got: list[int]) -> None:
    with db.unit_of_work() as s:
        got.append(s.execute(text("SELECT 1")).scalar())


def test_a_writing_unit_of_work_that_ends_on_another_thread_lets_the_gate_go(db):
    """A unit of work begun on one thread and ended on another (a generator finished elsewhere) still gives
    the gate back: the next writer, on either thread, goes through."""
    _sqlite_only(db)
    quick = Database(db.url, busy_timeout=0.5, worker_busy_timeout=0.5)
    try:
        work = quick.unit_of_work()
        began = threading.Thread(target=lambda: work.__enter__().execute(text("SELECT 1")))
        began.start()
        began.join(30)
        work.__exit__(None, None, None)  # ended here, not on the thread that began it
        for thread_of in ("this thread", "another thread"):
            got: list[int] = []
            if thread_of == "this thread":
                _write_once(quick, got)
            else:
                other = threading.Thread(target=_write_once, args=(quick, got))
                other.start()
                other.join(30)
            assert got == [1], thread_of
    finally:
        quick.dispose()
