"""The bulk writes' plain executemany (users/bulk.py ``execute_many``) stores exactly what SQLAlchemy's own
executemany of the same statement and rows stores: every column as the database holds it, defaults of the
columns a row leaves out, JSON (None included), times and flags, for INSERT and for UPDATE by id."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, insert, select, update

from rtmhub import bulk_sql
from rtmhub.bulk_sql import execute_many
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.users.models import User

USERS = cast(Table, User.__table__)


@pytest.fixture(autouse=True)
def plain_path_for_few_rows(monkeypatch):
    """These tests write a row or two: the plain path (COPY on PostgreSQL) must take them too."""
    monkeypatch.setattr(bulk_sql, "PLAIN_FROM_ROWS", 1)
AUDITS = cast(Table, AuditEvent.__table__)
WHEN = datetime(2026, 11, 26, 12, 30, 15, 123456, tzinfo=UTC)


def user_rows(world, prefix: str) -> list[dict[str, Any]]:
    rows = []
    digit = "1" if prefix.startswith("core") else "2"
    for i, (package, ext, number, assigned) in enumerate([("webex_calling", "5001", "+358501000001", WHEN),
                                                          ("webex_meetings", None, None, None)]):
        email = f"{prefix}{i}@Asiakas.example"
        rows.append({"id": f"{prefix}-{i}", "customer_id": world.raw["ca"], "home_org_id": "org", "email": email,
                     "email_key": email.lower(), "first_name": "Säde", "last_name": None, "display_name": "Säde",
                     "package": package, "basic_messaging": True, "basic_space_meetings": False,
                     "call_on_webex": True, "extension": ext and ext + digit,
                     "phone_number": number and number[:-1] + digit, "location_id": None,
                     "jabber_calling": False, "jabber_with_teams": True, "package_assigned": assigned,
                     "last_modified": WHEN, "created": WHEN, "status": "provisioned"})
    return rows


def stored(db, table: str, ids: list[str]) -> list[tuple]:
    """The rows as the database holds them, without the columns that differ by construction."""
    with db.unit_of_work(write=False) as s:
        result = s.connection().exec_driver_sql(f"SELECT * FROM {table} WHERE id IN "
                                                f"({', '.join(repr(i) for i in ids)}) ORDER BY id")
        keys = list(result.keys())
        skip = {"id", "email", "email_key", "extension", "phone_number", "entity_id", "subject"}
        return [tuple((k, str(v)) for k, v in zip(keys, row, strict=True) if k not in skip) for row in result]


def test_inserts_and_updates_store_what_sqlalchemy_stores(world, db):
    audits = {}
    for prefix in ("core-a", "plain-a"):
        audits[prefix] = [
            {"id": f"{prefix}-ev{i}", "at": WHEN, "actor": "admin@a.example", "action": "user.update",
             "entity_type": "user", "entity_id": f"{prefix}-{i}", "customer_id": world.raw["ca"],
             "partner_id": None, "subject": prefix, "before": before, "after": {"email": "x", "n": [1, True, None]},
             "request_id": None}
            for i, before in enumerate([None, {"package": "webex_meetings", "ä": "ö"}])]
    with db.unit_of_work() as s:
        s.execute(insert(USERS), user_rows(world, "core-a"))
        s.execute(insert(AUDITS), audits["core-a"])
        execute_many(s, insert(USERS), user_rows(world, "plain-a"))
        execute_many(s, insert(AUDITS), audits["plain-a"])
    changes = [{"_id": "{}-0", "display_name": "Uusi", "package_assigned": None, "jabber_calling": True,
                "last_modified": WHEN}, {"_id": "{}-1", "display_name": None, "package_assigned": WHEN,
                                         "jabber_calling": False, "last_modified": WHEN}]
    by_id = update(USERS).where(USERS.c.id == bindparam("_id"))
    with db.unit_of_work() as s:
        s.execute(by_id, [{**c, "_id": c["_id"].format("core-a")} for c in changes])
        execute_many(s, by_id, [{**c, "_id": c["_id"].format("plain-a")} for c in changes])
    core = stored(db, "users", ["core-a-0", "core-a-1"])
    plain = stored(db, "users", ["plain-a-0", "plain-a-1"])
    assert plain == core
    assert dict(core[0])["display_name"] == "Uusi" and dict(core[1])["active"] in ("1", "True")  # the default
    assert stored(db, "audit_events", ["plain-a-ev0", "plain-a-ev1"]) == stored(
        db, "audit_events", ["core-a-ev0", "core-a-ev1"])


def test_a_refused_insert_is_sqlalchemys_integrity_error_and_leaves_the_transaction_usable(world, db):
    """A batch that meets a unique index (another writer got in first) must raise SQLAlchemy's IntegrityError,
    as executemany does, so that the import replays the batch row by row; PostgreSQL's COPY path included."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import IntegrityError

    first, second = user_rows(world, "dup-a")
    clash = {**second, "id": "dup-b-1", "email_key": first["email_key"]}
    with db.unit_of_work() as s:
        execute_many(s, insert(USERS), [first])
        savepoint = s.begin_nested()
        try:
            execute_many(s, insert(USERS), [second, clash])
        except IntegrityError:
            savepoint.rollback()
        else:
            raise AssertionError("the duplicate e-mail was stored")
        # Nothing of the refused batch is left, and the transaction goes on.
        assert s.scalar(select(func.count()).select_from(USERS).where(USERS.c.id.like("dup-%"))) == 1
    assert [dict(r)["first_name"] for r in stored(db, "users", ["dup-a-0"])] == ["Säde"]


def test_json_lists_are_stored_each_as_its_own_value(world, db):
    """Equal lists of strings share one encoding within a call; every other list (1 and True are equal in
    Python, not in JSON) and every list after them is still its own row's value."""
    values = [["Nimi", "Sähköposti"], ["Nimi", "Sähköposti"], ["Nimi"], [1, True], [True, 1], ["Nimi"], [True],
              [1], [], ["Nimi", "Sähköposti"]]
    rows = {prefix: [{"id": f"{prefix}-j{i}", "at": WHEN, "actor": "admin@a.example", "action": "user.update",
                      "entity_type": "user", "entity_id": f"{prefix}-j{i}", "customer_id": world.raw["ca"],
                      "partner_id": None, "subject": prefix, "before": before, "after": [before, i],
                      "request_id": None} for i, before in enumerate(values)]
            for prefix in ("core-j", "plain-j")}
    with db.unit_of_work() as s:
        s.execute(insert(AUDITS), rows["core-j"])
        execute_many(s, insert(AUDITS), rows["plain-j"])
    plain = stored(db, "audit_events", [f"plain-j-j{i}" for i in range(len(values))])
    assert plain == stored(db, "audit_events", [f"core-j-j{i}" for i in range(len(values))])
    assert [dict(row)["before"].replace(" ", "").lower() for row in plain[3:5]] == ["[1,true]", "[true,1]"]


def test_times_are_stored_each_as_its_own_value(world, db):
    """One time object in several columns and rows is converted once; an equal instant in another time zone,
    and the time a column's default makes for each row, are still each their own value."""
    helsinki = timezone(timedelta(hours=2))
    same = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    times = [same, same, same.astimezone(helsinki), datetime(2026, 11, 27, 10, 0, tzinfo=helsinki), same,
             datetime(2026, 1, 2, 3, 4, 5, 6), same, same]
    defaulted = 2  # the last rows leave `created` to its default
    for prefix in ("core-t", "plain-t"):
        rows = []
        for i, when in enumerate(times):
            row = user_rows(world, f"{prefix}{i}-")[1]  # no number or extension: the rows may share none
            row.update(created=when, last_modified=when, package_assigned=same if i % 2 else when)
            if i >= len(times) - defaulted:
                del row["created"]
            rows.append(row)
        with db.unit_of_work() as s:
            for part in (rows[:-defaulted], rows[-defaulted:]):
                if prefix == "core-t":
                    s.execute(insert(USERS), part)
                else:
                    execute_many(s, insert(USERS), part)
    columns = ("created", "last_modified", "package_assigned")
    with db.unit_of_work(write=False) as s:
        stored_times = {prefix: [tuple(getattr(u, c) for c in columns) for u in s.scalars(
            select(User).where(User.id.in_([f"{prefix}{i}--1" for i in range(len(times))])).order_by(User.id))]
            for prefix in ("core-t", "plain-t")}
    core, plain = stored_times["core-t"], stored_times["plain-t"]
    assert plain[:-defaulted] == core[:-defaulted]
    assert [t[1:] for t in plain[-defaulted:]] == [t[1:] for t in core[-defaulted:]]
    made = [t[0] for t in plain[-defaulted:]]
    assert all(t > same for t in made) and made[0] <= made[1]


@pytest.mark.parametrize("cache_key", [True, False], ids=["by-cache-key", "by-sql"])
def test_statements_differing_only_in_a_bind_name_are_each_their_own(world, db, cache_key):
    """A statement's plain form is cached by its structure, which names its binds (or, for a statement SQLAlchemy
    gives no cache key, by its SQL and binds): an UPDATE by ``_id`` and one by ``_other``, given the same rows
    (both keys in each), must each update the user its own bind names."""
    prefix = f"bind{int(cache_key)}"
    with db.unit_of_work() as s:
        execute_many(s, insert(USERS), user_rows(world, prefix))
    by_id, by_other = (update(USERS).where(USERS.c.id == bindparam(name)) for name in ("_id", "_other"))
    if not cache_key:
        for stmt in (by_id, by_other):
            stmt._generate_cache_key = lambda: None  # as SQLAlchemy answers for a statement it cannot cache
    change = {"_id": f"{prefix}-0", "_other": f"{prefix}-1"}
    with db.unit_of_work() as s:
        execute_many(s, by_id, [{**change, "first_name": "Aino"}])
        execute_many(s, by_other, [{**change, "first_name": "Eero"}])
    with db.unit_of_work(write=False) as s:
        names = dict(s.execute(select(USERS.c.id, USERS.c.first_name).where(USERS.c.id.like(f"{prefix}-%"))).all())
    assert names == {f"{prefix}-0": "Aino", f"{prefix}-1": "Eero"}
