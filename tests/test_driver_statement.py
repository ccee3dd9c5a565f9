"""``db.DriverStatement`` (decision 57): a prebuilt one-row statement run on the session's DBAPI connection stores
exactly what SQLAlchemy's own execution of the statement stores, in the session's transaction and SAVEPOINTs, and
answers as SQLAlchemy would: its refusals as SQLAlchemy's errors, its statements seen by the statement listeners.
On SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import pytest
from sqlalchemy import Table, bindparam, event, insert, select, update
from sqlalchemy.exc import IntegrityError

from rtmhub.db import DriverStatement
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.usage.models import PackageInterval

EVENTS = cast(Table, AuditEvent.__table__)
INTERVALS = cast(Table, PackageInterval.__table__)


def _event(event_id: str, **values) -> dict:
    return {"id": event_id, "at": datetime(2026, 11, 27, 12, 30, 15, 123456, tzinfo=UTC), "actor": "a@b.example",
            "action": "user.create", "entity_type": "user", "entity_id": "u-1", "customer_id": None,
            "partner_id": "p-1", "subject": "Ääkkönen", "before": None,
            "after": {"email": "x@y.example", "n": 1, "flags": [True, None]}, "request_id": "r-1", **values}


def test_a_row_is_stored_as_sqlalchemys_own_execution_stores_it(db):
    """Datetimes, JSON (a dict, and None as JSON null), NULL and text read back the same from both ways, and the
    columns' SQL NULL and JSON null are the same ones."""
    driven = DriverStatement(insert(EVENTS))
    with db.unit_of_work() as s:
        driven.execute(s, _event("ev-driver"))
        s.connection().execute(insert(EVENTS), _event("ev-sqlalchemy"))
    with db.unit_of_work(write=False) as s:
        rows = {r["id"]: {k: v for k, v in r.items() if k != "id"}
                for r in s.connection().execute(select(EVENTS)).mappings()}
        nulls = dict(s.connection().execute(select(EVENTS.c.id, EVENTS.c.before.is_(None))).all())
    assert rows["ev-driver"] == rows["ev-sqlalchemy"]
    assert rows["ev-driver"]["at"] == datetime(2026, 11, 27, 12, 30, 15, 123456, tzinfo=UTC)
    assert rows["ev-driver"]["after"] == {"email": "x@y.example", "n": 1, "flags": [True, None]}
    assert nulls == {"ev-driver": False, "ev-sqlalchemy": False}  # None given: JSON null, as SQLAlchemy's


def test_an_insert_leaves_a_generated_key_to_the_database_and_returns_its_row_count(db):
    """A column left out (the ledger's identity) is the database's to fill; nothing is read back."""
    driven = DriverStatement(insert(INTERVALS))
    row = {"partner_id": "p", "customer_id": "c", "user_id": "u", "email": "e@x.example", "package": "webex_meetings",
           "started": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "ended": None}
    with db.unit_of_work() as s:
        assert driven.execute(s, row) == 1
        assert driven.execute(s, {**row, "user_id": "u2"}) == 1
    with db.unit_of_work(write=False) as s:
        stored = s.connection().execute(select(INTERVALS).order_by(INTERVALS.c.id)).mappings().all()
    assert [r["user_id"] for r in stored] == ["u", "u2"] and stored[0]["id"] < stored[1]["id"]
    assert stored[0]["started"] == row["started"] and stored[0]["ended"] is None


def test_updates_and_queries_by_bind_parameter(db):
    driven = DriverStatement(insert(EVENTS))
    rename = DriverStatement(update(EVENTS).where(EVENTS.c.actor == bindparam("who")).values(subject=bindparam("to")))
    subjects = DriverStatement(select(EVENTS.c.id, EVENTS.c.subject).where(EVENTS.c.actor == bindparam("who"))
                               .order_by(EVENTS.c.id))
    with db.unit_of_work() as s:
        for n in range(3):
            driven.execute(s, _event(f"ev-{n}", actor="x@y.example" if n < 2 else "other@y.example"))
        assert rename.execute(s, {"who": "x@y.example", "to": "Renamed"}) == 2
        assert subjects.rows(s, {"who": "x@y.example"}) == [("ev-0", "Renamed"), ("ev-1", "Renamed")]
        assert subjects.rows(s, {"who": "nobody"}) == []


def test_in_the_sessions_transaction_and_savepoints(db):
    driven = DriverStatement(insert(EVENTS))
    with db.unit_of_work() as s:
        driven.execute(s, _event("kept"))
        savepoint = s.begin_nested()
        driven.execute(s, _event("rolled-back"))
        savepoint.rollback()
    with pytest.raises(RuntimeError), db.unit_of_work() as s:
        driven.execute(s, _event("never"))
        raise RuntimeError("the request failed")
    with db.unit_of_work(write=False) as s:
        assert list(s.scalars(select(EVENTS.c.id))) == ["kept"]


def test_a_refusal_is_sqlalchemys_error_and_the_listeners_see_the_statement(db):
    driven = DriverStatement(insert(EVENTS))
    seen: list[tuple[str, object]] = []

    def listener(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((" ".join(statement.split()[:3]), parameters))

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        with pytest.raises(IntegrityError), db.unit_of_work() as s:
            driven.execute(s, _event("twice"))
            driven.execute(s, _event("twice"))
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    statements = [st for st, _ in seen if st.startswith("INSERT")]
    assert statements == ["INSERT INTO audit_events", "INSERT INTO audit_events"]
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(EVENTS.c.id)) is None  # the whole transaction rolled back


def test_a_statement_needing_a_value_it_is_not_given_is_refused(db):
    with db.unit_of_work() as s, pytest.raises(ValueError, match="every value"):
        DriverStatement(insert(EVENTS)).execute(s, {"actor": "a", "action": "b", "entity_type": "c",
                                                    "entity_id": "d"})  # id and at would be SQLAlchemy's defaults


def test_with_the_sql_echo_on_it_goes_through_sqlalchemy_and_is_logged(db, caplog):
    from rtmhub.db import Database

    echoing = Database(db.url, echo=True)
    driven = DriverStatement(insert(EVENTS))
    found = DriverStatement(select(EVENTS.c.id).where(EVENTS.c.id == bindparam("id")))
    try:
        with caplog.at_level("INFO", logger="sqlalchemy.engine"), echoing.unit_of_work() as s:
            assert driven.execute(s, _event("echoed")) == 1
            assert found.rows(s, {"id": "echoed"}) == [("echoed",)]
    finally:
        echoing.dispose()
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("sqlalchemy.engine")]
    assert any(m.startswith("INSERT INTO audit_events") for m in logged), logged


def test_pending_changes_are_written_first_only_when_asked(db):
    """``flush=True`` answers as the session's own query would (what the transaction added counts); without it,
    the driver sees only what was flushed."""
    found = DriverStatement(select(EVENTS.c.id).where(EVENTS.c.id == bindparam("id")))
    with db.unit_of_work() as s:
        s.add(AuditEvent(**_event("ev-pending")))
        assert found.rows(s, {"id": "ev-pending"}) == []
        assert found.rows(s, {"id": "ev-pending"}, flush=True) == [("ev-pending",)]
        s.add(AuditEvent(**_event("ev-pending-2")))
        renamed = DriverStatement(update(EVENTS).where(EVENTS.c.id == bindparam("b_id"))
                                  .values(actor=bindparam("b_actor")))
        assert renamed.execute(s, {"b_id": "ev-pending-2", "b_actor": "x"}, flush=True) == 1
