"""The set-wise users writer (users/bulk.py) by what it promises (issue 15): a batch's prefetch answers the
rules' look-ups, so a batch asks the database no more for more rows; what earlier rows of the batch took or
freed counts for the later ones, also for values the rules write differently from the cell (a number typed
with its trunk '0'), which are asked of the database; a preview carries the same from batch to batch.
Runs on SQLite and PostgreSQL."""
from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import OperationalError

from rtmhub import bulk_sql
from rtmhub.csvfile.planner import ImportContext, apply_batch
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.customers.models import Customer, MeetingSite
from rtmhub.domain.tasks.revert import Touched, revert_batch
from rtmhub.domain.users import service as users
from rtmhub.domain.users import bulk
from rtmhub.domain.users.bulk import Simulation
from rtmhub.domain.users.models import User
from rtmhub.domain.users.schemas import UserFields
from rules_support import (
    EMAIL,
    OPERATOR,
    csv_rows,
    package,
    package_row,
    set_allocation,
    state,
    user_by_email,
)

MATTI = "matti.meikalainen@asiakas.example"  # world: Webex Calling, ext 1001, +358912345601, Helsinki HQ
MAIJA = "maija.meikalainen@asiakas.example"  # world: Webex Meetings


@contextmanager
def statements(db):
    """The SQL statements sent to the database while the block runs (SQLAlchemy's cursor event)."""
    seen: list[str] = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)


def site(db, world) -> str:
    with db.unit_of_work(write=False) as s:
        return s.scalar(select(MeetingSite.url).where(MeetingSite.customer_id == world.raw["ca"]))


def calling(db, world, email: str, **cells: str) -> dict[str, str]:
    """A new Webex Calling user's row at Helsinki HQ with its names, Jabber cells and the customer's site."""
    return package("Webex Calling", **{EMAIL: email, "Location": "Helsinki HQ", "First Name": "Uusi",
                                       "Last Name": "Käyttäjä", "Jabber Calling": "FALSE",
                                       "Jabber with Webex Teams": "FALSE", "Preferred Webex Site": site(db, world),
                                       **cells})


def batch(db, world, *cells: dict[str, str], simulation: Simulation | None = None,
          commit: bool = True) -> tuple[list[tuple], list[str]]:
    """One batch of rows through ``apply_batch`` (a preview with ``simulation``): each row's (outcome, error
    messages) and the statements the batch sent. ``commit=False`` rolls the batch back."""
    rows = csv_rows(*cells)
    with db.unit_of_work(write=simulation is None) as s:
        customer = s.get(Customer, world.raw["ca"])
        ctx = ImportContext.load(s, customer, "add-remove", set(), set())
        with statements(db) as seen:
            results = apply_batch(s, OPERATOR, ctx, rows, simulation)
        if not commit:
            s.rollback()
    return [(r.outcome, [m["message"] for m in r.messages if m["level"] == "error"]) for r in results], seen


def existing(db, world, count: int) -> list[str]:
    """``count`` more calling users of customer A (e-mails ``vanha{i}@…``, extensions 40{i}, numbers)."""
    emails = []
    with db.unit_of_work() as s:
        customer = s.get(Customer, world.raw["ca"])
        for i in range(count):
            email = f"vanha{i}@asiakas.example"
            users.create_user(s, OPERATOR, customer, UserFields(
                email=email, first_name="Vanha", last_name=f"Käyttäjä{i}", package="webex_calling",
                extension=f"40{i:02d}", phone_number=f"+35840200{i:04d}", location_id=world.raw["loc_ca"]))
            emails.append(email)
    return emails


# --- the prefetch answers the batch's look-ups ---------------------------------------------------

def test_a_batch_asks_the_database_no_more_for_more_rows(db, world, monkeypatch):
    """Each row of a batch creates, changes or deletes a user with an e-mail, number and extension; the
    prefetch answers every uniqueness look-up, so 3 such rows each send exactly the statements 1 does.
    (Every bulk write takes the plain path here, whatever its size: on PostgreSQL that is a COPY, which the
    statement count does not see, and a batch of one row would otherwise take SQLAlchemy's, which it does.)"""
    monkeypatch.setattr(bulk_sql, "PLAIN_FROM_ROWS", 1)
    old = existing(db, world, 6)

    def rows(n: int) -> list[dict[str, str]]:
        out = []
        for i in range(n):
            out.append(calling(db, world, f"Uusi.{n}.{i}@Asiakas.Example", **{
                "Extension": f"5{n}{i:02d}", "Phone Number": f"+358 40 300-{n}{i:03d}"}))
            out.append({EMAIL: old[2 * i].upper(), "Title": "Myyjä", "Extension": f"6{n}{i:02d}",
                        "Phone Number": f"+358-40-400 {n}{i:03d}"})
            out.append(package(None, **{EMAIL: old[2 * i + 1]}))
        return out

    counts = {}
    for n in (1, 3):
        got, seen = batch(db, world, *rows(n), commit=False)
        assert got == [("add", []), ("modify", []), ("delete", [])] * n
        counts[n] = len(seen)
    assert counts[3] == counts[1]


@pytest.mark.parametrize("binding", ["one parameter", "an IN list"])
def test_the_prefetch_finds_the_holders_however_its_lists_are_bound(db, world, monkeypatch, binding):
    """A batch's e-mails, numbers and extensions go to the database as one parameter each (an array on
    PostgreSQL, a JSON list on SQLite); an SQLite without JSON functions takes IN lists. Both find Matti's
    number and extension, and his user by e-mail."""
    if binding == "an IN list":
        monkeypatch.setattr(bulk, "_list_kind", lambda dialect: "in")
    got, seen = batch(db, world, calling(db, world, "eka@asiakas.example", **{"Phone Number": "+358912345601"}),
                      calling(db, world, "toka@asiakas.example", **{"Extension": "1001"}),
                      {EMAIL: MATTI.upper(), "Title": "Myyjä"}, commit=False)
    assert got == [("error", ["Phone number +358912345601 is already in use by another user."]),
                   ("error", ["Extension 1001 is already in use in this location."]), ("modify", [])]
    lookups = [sql for sql in seen if "FROM users" in sql and "WHERE" in sql]
    one_parameter = "ANY" if db.engine.dialect.name == "postgresql" else "json_each"
    assert lookups and all((one_parameter in sql) == (binding == "one parameter") for sql in lookups)


@pytest.mark.parametrize(("name", "version", "kind"), [
    ("postgresql", None, "array"), ("sqlite", (3, 38, 0), "json"), ("sqlite", (3, 45, 1), "json"),
    ("sqlite", (3, 37, 2), "in"), ("sqlite", None, "in"), ("mysql", (3, 45, 1), "in")])
def test_a_list_is_one_parameter_where_the_database_takes_one(name, version, kind):
    """An array on PostgreSQL; a JSON list on an SQLite from 3.38 on, whose JSON functions are always built
    in; an IN list on an older SQLite (or a driver that does not say its version) and anything else."""
    dbapi = SimpleNamespace() if version is None else SimpleNamespace(sqlite_version_info=version)
    assert bulk._list_kind(SimpleNamespace(name=name, dbapi=dbapi)) == kind


# --- what earlier rows took or freed, also in the rules' own spelling -----------------------------

WAYS = ["one batch", "one preview", "a preview batch per row"]


def run_rows(db, world, way: str, *cells: dict[str, str]) -> list[tuple]:
    """The rows as one batch, one simulated batch, or one simulated batch each (a preview's later batches)."""
    if way == "one batch":
        return batch(db, world, *cells)[0]
    before = state(db)
    simulation = Simulation()
    if way == "one preview":
        got = batch(db, world, *cells, simulation=simulation)[0]
    else:
        got = [batch(db, world, c, simulation=simulation)[0][0] for c in cells]
    assert state(db) == before
    return got


@pytest.mark.parametrize("way", WAYS)
def test_a_number_freed_or_taken_by_an_earlier_row_counts_however_it_is_typed(db, world, way):
    """'+358 09 1234 5601' is stored as +358912345601 (the trunk '0' dropped), which no cell of the batch
    names: its owner comes from the earlier rows before the database."""
    got = run_rows(db, world, way,
                   package(None, **{EMAIL: MATTI}),  # frees +358912345601 and extension 1001
                   calling(db, world, "eka@asiakas.example", **{"Phone Number": "+358 09 1234 5601"}),
                   calling(db, world, "toka@asiakas.example", **{"Phone Number": "+358-09-1234-5601"}))
    assert got == [("delete", []), ("add", []), ("error", ["Phone number +358912345601 is already in use by another "
                                                           "user."])]
    if way == "one batch":
        assert user_by_email(db, "eka@asiakas.example").phone_number == "+358912345601"
        assert user_by_email(db, "toka@asiakas.example") is None


@pytest.mark.parametrize("way", WAYS)
def test_a_number_and_an_extension_held_by_a_user_the_batch_leaves_alone_are_refused(db, world, way):
    """The prefetch's own answers: Matti holds +358912345601 and extension 1001 at Helsinki HQ."""
    got = run_rows(db, world, way, calling(db, world, "eka@asiakas.example", **{"Phone Number": "+358912345601"}),
                   calling(db, world, "toka@asiakas.example", **{"Extension": "1001"}),
                   calling(db, world, "kolmas@asiakas.example", **{"Extension": "1005"}))
    assert got == [("error", ["Phone number +358912345601 is already in use by another user."]),
                   ("error", ["Extension 1001 is already in use in this location."]), ("add", [])]


@pytest.mark.parametrize("way", WAYS)
def test_a_number_typed_with_its_trunk_zero_is_found_held_by_its_owner(db, world, way):
    """No cell names +358912345601 as the rules store it: the database says Matti holds it."""
    got = run_rows(db, world, way, calling(db, world, "eka@asiakas.example", **{"Phone Number": "+358 09 1234 5601"}))
    assert got == [("error", ["Phone number +358912345601 is already in use by another user."])]


@pytest.mark.parametrize("way", WAYS)
def test_an_email_the_rules_normalise_is_found_held_by_its_owner(db, world, way):
    """A cell with 'u' and a combining diaeresis is stored as 'ü' (NFC), which no cell of the batch names."""
    with db.unit_of_work() as s:
        users.create_user(s, OPERATOR, s.get(Customer, world.raw["ca"]), UserFields(email="eka@bücher.example"))
    got = run_rows(db, world, way, calling(db, world, "eka@bu\u0308cher.example", **{"Extension": "1005"}))
    assert got == [("error", ["The email eka@bücher.example is already associated with an existing user."])]


@pytest.mark.parametrize("way", WAYS)
def test_one_address_written_two_ways_is_taken_by_the_first_row(db, world, way):
    """Punycode and a combining diaeresis are both stored as 'eka@bücher.example', which no cell names."""
    got = run_rows(db, world, way, calling(db, world, "eka@xn--bcher-kva.example", **{"Extension": "1005"}),
                   calling(db, world, "eka@bu\u0308cher.example", **{"Extension": "1006"}))
    assert got == [("add", []), ("error", ["The email eka@bücher.example is already associated with an existing "
                                           "user."])]


@pytest.mark.parametrize("way", WAYS)
def test_an_extension_and_an_email_freed_or_taken_by_an_earlier_row_count(db, world, way):
    got = run_rows(db, world, way,
                   package(None, **{EMAIL: MATTI}),  # frees extension 1001
                   calling(db, world, "eka@asiakas.example", **{"Extension": "1001"}),
                   calling(db, world, "toka@asiakas.example", **{"Extension": "1001"}),
                   calling(db, world, "EKA@asiakas.example", **{"Extension": "1002"}))
    assert got == [("delete", []), ("add", []), ("error", ["Extension 1001 is already in use in this location."]),
                   ("error", ["The email EKA@asiakas.example is already associated with an existing user."])]


@pytest.mark.parametrize("way", WAYS)
def test_units_taken_and_freed_by_earlier_rows_and_preview_batches_count(db, world, way):
    """Webex Meetings has 2 units and Maija holds one: the first new user takes the last unit, the second is
    refused with the count as it stands then; deleting Maija frees one for the third."""
    set_allocation(db, world.raw["ca"], "webex_meetings", 2)

    def meetings(email: str) -> dict[str, str]:
        return package("Webex Meetings", **{EMAIL: email, "First Name": "Uusi", "Jabber Calling": "FALSE",
                                            "Jabber with Webex Teams": "FALSE",
                                            "Preferred Webex Site": site(db, world)})

    got = run_rows(db, world, way, meetings("eka@asiakas.example"), meetings("toka@asiakas.example"),
                   package(None, **{EMAIL: MAIJA}), meetings("kolmas@asiakas.example"))
    assert got == [("add", []), ("error", ["Webex Meetings is fully used: 2 of 2 allocated units are assigned. Free a "
                                           "unit or raise the customer's allocation first."]),
                   ("delete", []), ("add", [])]
    if way == "one batch":
        assert package_row(db, world.raw["ca"], "webex_meetings").used == 2


# --- the batch's transaction on PostgreSQL; its audit events ---------------------------------------

@pytest.mark.parametrize("preview", [False, True])
def test_a_batch_holds_its_customers_package_rows_and_probes_by_index_on_postgresql(db, world, preview):
    """A real batch locks the customer's package rows until it ends (no other writer takes units between its
    count and its UPDATE); a preview locks nothing. Both turn sequential scans off for their transaction only
    (their look-ups are unique-index probes). SQLite has neither; there the batch just answers."""
    rows = csv_rows({EMAIL: MAIJA, "Title": "Päällikkö"})
    with db.unit_of_work(write=not preview) as s:
        customer = s.get(Customer, world.raw["ca"])
        ctx = ImportContext.load(s, customer, "add-remove", set(), set())
        results = apply_batch(s, OPERATOR, ctx, rows, Simulation() if preview else None)
        assert [(r.outcome, r.changes) for r in results] == [("modify", ["Title"])]
        if db.is_sqlite:
            return
        assert s.execute(text("SHOW enable_seqscan")).scalar() == "off"
        with db.engine.connect() as other:
            probe = text("SELECT package FROM customer_packages WHERE customer_id = :c FOR UPDATE NOWAIT")
            if preview:
                assert other.execute(probe, {"c": world.raw["ca"]}).all()
            else:
                with pytest.raises(OperationalError, match="could not obtain lock"):
                    other.execute(probe, {"c": world.raw["ca"]})
    with db.engine.connect() as other:
        assert other.execute(text("SHOW enable_seqscan")).scalar() == "on"


def test_batch_audit_events_belong_to_the_customers_partner(db, world):
    got, _ = batch(db, world, calling(db, world, "eka@asiakas.example", **{"Extension": "1005"}),
                   {EMAIL: MAIJA, "Title": "Päällikkö"}, package(None, **{EMAIL: MATTI}))
    assert got == [("add", []), ("modify", []), ("delete", [])]
    with db.unit_of_work(write=False) as s:
        events = sorted((e.action, e.entity_type, e.customer_id, e.partner_id) for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action.like("user.%"), AuditEvent.actor == OPERATOR.actor)))
    assert events == [(a, "user", world.raw["ca"], world.raw["pa"]) for a in ("user.create", "user.delete",
                                                                               "user.update")]


# --- a revert batch: its prefetch is of the touched users' states ---------------------------------

@pytest.mark.parametrize("dry_run", [False, True])
def test_a_revert_batch_finds_who_holds_a_deleted_users_email_now(db, world, dry_run):
    """A task deleted Matti and Maija; since, Matti's e-mail went to a new user (in capitals), Maija's stayed
    free. Matti cannot be re-created; Maija can."""
    with db.unit_of_work() as s:
        customer = s.get(Customer, world.raw["ca"])
        matti, maija = s.get(User, world.raw["ua"]), s.get(User, world.raw["um"])
        touched = [Touched(u.id, users.snapshot(u), None) for u in (matti, maija)]
        for u in (matti, maija):
            users.delete_user(s, OPERATOR, customer, u)
        users.create_user(s, OPERATOR, customer, UserFields(email=MATTI.upper(), first_name="Toinen",
                                                            package="webex_meetings"))
    before = state(db)
    with db.unit_of_work(write=not dry_run) as s:
        customer = s.get(Customer, world.raw["ca"])
        got = revert_batch(s, OPERATOR, customer, touched, [2, 3], False, Simulation() if dry_run else None)
    assert [(r.outcome, [m["message"] for m in r.messages]) for r in got] == [
        ("error", [f"The e-mail {MATTI} is used by another user since the task; the deleted user cannot be "
                   "re-created."]),
        ("add", [])]
    if dry_run:
        assert state(db) == before
    else:
        assert user_by_email(db, MAIJA).package == "webex_meetings"
        assert user_by_email(db, MATTI).first_name == "Toinen"
