"""R3 under a forced interleaving: the last unit of a package taken by one transaction while a second one
tries to take it too, the second started before the first commits.

The 50-way race of test_rules.py cannot race on SQLite: every write transaction there begins with
BEGIN IMMEDIATE, so writers run one after another and even a take_unit that reads `used`, checks it and then
writes `used + 1` passes it; only its PostgreSQL half tests the conditional UPDATE. Here the order is forced:
transaction A takes the last unit and stays open; B starts `take_unit` in a thread; A commits a moment later.
On PostgreSQL B's UPDATE waits for A's row lock and then finds no unit left (a read-check-then-write take_unit
reads the old `used` under READ COMMITTED and over-allocates: this test fails for it). On SQLite B waits for the
write lock before it reads anything: the test holds there too, and checks that serialisation.
"""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from rtmhub.domain.customers.models import CustomerPackage
from rtmhub.domain.packages import service as packages
from rtmhub.errors import AllocationExceeded

from rules_support import set_allocation


def _used(db, customer_id: str, package: str) -> tuple[int, int | None]:
    with db.unit_of_work(write=False) as s:
        row = s.scalar(select(CustomerPackage).where(CustomerPackage.customer_id == customer_id,
                                                     CustomerPackage.package == package))
        return row.used, row.allocation


def test_r3_last_unit_taken_by_an_open_transaction_is_not_taken_twice(world, db):
    cid, package = world.raw["ca"], "webex_meetings"
    used, _ = _used(db, cid, package)
    set_allocation(db, cid, package, used + 1)  # one unit free
    workers = db.for_workers()  # B waits for SQLite's write lock as long as it takes
    outcome: list[str] = []
    started = threading.Event()

    def second() -> None:
        started.set()
        try:
            with workers.unit_of_work() as s:
                packages.take_unit(s, cid, package)
            outcome.append("taken")
        except AllocationExceeded:
            outcome.append("refused")
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome.append(f"error: {exc!r}")

    with db.unit_of_work() as s:
        packages.take_unit(s, cid, package)  # A takes the last unit...
        thread = threading.Thread(target=second)
        thread.start()
        started.wait(5)
        time.sleep(0.5)  # ...and B starts while A is still open
        assert thread.is_alive(), f"B did not wait for A: {outcome}"
    thread.join(30)
    assert not thread.is_alive(), "B never finished"
    assert outcome == ["refused"], outcome
    assert _used(db, cid, package) == (used + 1, used + 1)


@pytest.mark.parametrize("free", [0, 3])
def test_r3_take_unit_counts_exactly(world, db, free):
    cid, package = world.raw["ca"], "webex_meetings"
    used, _ = _used(db, cid, package)
    set_allocation(db, cid, package, used + free)
    for _ in range(free):
        with db.unit_of_work() as s:
            packages.take_unit(s, cid, package)
    with pytest.raises(AllocationExceeded), db.unit_of_work() as s:
        packages.take_unit(s, cid, package)
    assert _used(db, cid, package) == (used + free, used + free)
