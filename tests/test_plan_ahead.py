"""An import planned ahead in a second process (decision 64, SQLite): its rows' results and everything it writes
are exactly those of the same import checked and written batch by batch under the write lock; another writer's
commit in the middle, or a planner that stops, hands the rest back to the batch-by-batch path without losing
or repeating a row and without taking a unit that is not free."""
from __future__ import annotations

import logging
import multiprocessing
import sqlite3

import pytest
from sqlalchemy import func, select
from tests.bulk_support import EMAIL, PACKAGE_HEADERS, csv_bytes, person, set_allocation, state, used

from conftest import OPERATOR
from rtmhub.db import Database
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.customers.models import Customer, CustomerPackage
from rtmhub.domain.tasks.models import Task, TaskRow
from rtmhub.domain.usage.models import PackageInterval
from rtmhub.domain.users import service as users
from rtmhub.domain.users.schemas import UserFields
from rtmhub.jobs import ahead, runner
from rtmhub.jobs.imports import submit_import

HQ = "Helsinki HQ"
MAIJA = "maija.meikalainen@asiakas.example"  # world: Webex Meetings
MATTI = "matti.meikalainen@asiakas.example"  # world: Webex Calling, ext 1001, +358912345601


@pytest.fixture
def sqlite_only(db):
    if not db.is_sqlite:
        pytest.skip("an import is planned ahead on SQLite only; PostgreSQL's imports lock the rows they check")
    return db


def _file(more: int = 0) -> bytes:
    """Adds, a modify, a delete that frees a unit, refusals of every kind, and an allocation that runs out and is
    freed again, spread over many batches of two rows; then ``more`` rows that find the allocation used up."""
    rows = [
        person("uusi.a@asiakas.example", "Webex Meetings"),
        person("uusi.b@asiakas.example", "Webex Calling", Extension="2001", Location=HQ,
               **{"Phone Number": "+358912345699"}),
        person(MATTI, "Webex Calling", **{"First Name": "Matias"}),
        person("uusi.c@asiakas.example", "Webex Meetings"),
        person("not-an-email", "Webex Meetings"),
        person("uusi.d@asiakas.example", "Webex Meetings"),  # the allocation is used up by now
        person("uusi.e@asiakas.example", "Webex Calling", Extension="2001", Location=HQ),  # uusi.b's extension
        {EMAIL: MAIJA, **{h: "FALSE" for h in PACKAGE_HEADERS}},  # deleted: a Meetings unit is free again
        person("uusi.f@asiakas.example", "Webex Meetings"),  # takes it
        person("uusi.g@asiakas.example", "Webex Calling", Extension="2002", Location=HQ,
               **{"Phone Number": "+358912345699"}),  # uusi.b's number
        person("uusi.h@asiakas.example", "Webex Meetings"),  # used up again
        person("uusi.i@asiakas.example", "Webex Voice", Extension="2003", Location=HQ),
    ]
    rows += [person(f"lisaa.{i}@asiakas.example", "Webex Meetings") for i in range(more)]
    return csv_bytes(rows)


def _import(db, world, content: bytes, plan_ahead_rows: int) -> str:
    with db.unit_of_work() as s:
        task_id = submit_import(s, OPERATOR, world.raw["ca"], file_name="users.csv", content=content,
                                mode="add-remove", preview=False).id
    assert runner.run_pending(db, "test-worker", batch_rows=2, plan_ahead_rows=plan_ahead_rows)
    return task_id


def _outcome(db, world, task_id: str) -> dict:
    with db.unit_of_work(write=False) as s:
        task = s.get(Task, task_id)
        rows = sorted((r.line, r.email, r.outcome, r.changes, [m["message"] for m in r.messages or []])
                      for r in s.scalars(select(TaskRow).where(TaskRow.task_id == task_id)))
        audit = sorted(s.execute(select(AuditEvent.action, AuditEvent.subject).where(
            AuditEvent.request_id == task_id)).all())
        ledger = sorted(s.execute(select(PackageInterval.email, PackageInterval.package,
                                         PackageInterval.ended.is_(None))
                                  .where(PackageInterval.customer_id == world.raw["ca"])).all())
        counts = (task.status, task.added, task.modified, task.deleted, task.unchanged, task.failed, task.rows_done,
                  task.last_line)
    return {"task": counts, "rows": rows, "audit": audit, "ledger": ledger, "state": state(db, world.raw["ca"])}


def _snapshot(db: Database) -> sqlite3.Connection:
    db.engine.dispose()
    copy = sqlite3.connect(":memory:")
    with sqlite3.connect(db.url.removeprefix("sqlite:///")) as live:
        live.backup(copy)
    return copy


def _restore(db: Database, copy: sqlite3.Connection) -> None:
    db.engine.dispose()
    with sqlite3.connect(db.url.removeprefix("sqlite:///")) as live:
        copy.backup(live)


def test_planned_ahead_writes_exactly_what_the_batch_by_batch_import_writes(sqlite_only, world, caplog):
    db = sqlite_only
    set_allocation(db, world.raw["ca"], "webex_meetings", used(db, world.raw["ca"], "webex_meetings") + 2)
    before = _snapshot(db)
    in_turn = _outcome(db, world, _import(db, world, _file(), plan_ahead_rows=0))
    _restore(db, before)
    with caplog.at_level(logging.INFO, logger="rtmhub.worker"):
        planned = _outcome(db, world, _import(db, world, _file(), plan_ahead_rows=1))
    assert "planned ahead" in caplog.text and "write lock" not in caplog.text, caplog.text
    assert planned == in_turn
    refused = {line: messages for line, _, outcome, _, messages in planned["rows"] if outcome == "error"}
    assert sorted(refused) == [6, 7, 8, 11, 12], planned["rows"]  # the file's lines: the header is line 1


def _other_writer_takes(db, world, email: str) -> None:
    """A user given a Meetings unit by another connection, as a request beside the import would."""
    other = Database(db.url)
    try:
        with other.unit_of_work() as s:
            users.create_user(s, OPERATOR, s.get(Customer, world.raw["ca"]),
                              UserFields(email=email, first_name="Muu", last_name="Kirjoittaja",
                                         package="webex_meetings"))
    finally:
        other.dispose()


def test_another_writers_commit_hands_the_rest_to_the_lock_and_no_unit_is_taken_twice(sqlite_only, world, caplog,
                                                                                     monkeypatch):
    db = sqlite_only
    allocation = used(db, world.raw["ca"], "webex_meetings") + 2
    set_allocation(db, world.raw["ca"], "webex_meetings", allocation)
    calls = []
    receive = ahead._next_planned

    def meanwhile(*args):
        calls.append(1)
        if len(calls) == 2:  # after the first batch is written: the unit uusi.c would take goes to someone else
            _other_writer_takes(db, world, "muu@asiakas.example")
        return receive(*args)

    monkeypatch.setattr(ahead, "_next_planned", meanwhile)
    with caplog.at_level(logging.INFO, logger="rtmhub.worker"):
        outcome = _outcome(db, world, _import(db, world, _file(), plan_ahead_rows=1))
    assert used(db, world.raw["ca"], "webex_meetings") <= allocation
    lines = [line for line, *_ in outcome["rows"]]
    assert lines == list(range(2, 14)), outcome["rows"]  # every row once
    by_line = {line: (email, result) for line, email, result, *_ in outcome["rows"]}
    assert by_line[2][1] == "add"  # the batch written before the other writer came
    assert by_line[5][1] == "error", outcome["rows"]  # uusi.c: the unit it was planned with is gone
    assert outcome["task"][0] == "completed_with_errors"
    with db.unit_of_work(write=False) as s:
        meetings = s.scalar(select(func.count()).select_from(CustomerPackage).where(
            CustomerPackage.customer_id == world.raw["ca"], CustomerPackage.used > CustomerPackage.allocation))
    assert meetings == 0
    assert "another writer committed" in caplog.text, caplog.text


def test_a_planner_that_stops_hands_the_rest_to_the_lock(sqlite_only, world, caplog, monkeypatch):
    db = sqlite_only
    set_allocation(db, world.raw["ca"], "webex_meetings", used(db, world.raw["ca"], "webex_meetings") + 2)
    # Long enough that the planner cannot have sent every batch before it is stopped: what it sends waits in a
    # pipe of some 64 KB until the writer takes it.
    content = _file(more=400)
    before = _snapshot(db)
    in_turn = _outcome(db, world, _import(db, world, content, plan_ahead_rows=0))
    _restore(db, before)
    calls = []
    receive = ahead._next_planned

    def planner_dies(*args):
        calls.append(1)
        if len(calls) == 3:
            for child in multiprocessing.active_children():
                if child.name.startswith("rtmhub-plan-"):
                    child.kill()
                    child.join(5)
        return receive(*args)

    monkeypatch.setattr(ahead, "_next_planned", planner_dies)
    with caplog.at_level(logging.INFO, logger="rtmhub.worker"):
        planned = _outcome(db, world, _import(db, world, content, plan_ahead_rows=1))
    assert "the planner stopped" in caplog.text, caplog.text
    assert planned == in_turn
