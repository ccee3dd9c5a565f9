"""The readable audit log (issue 9 item 5) on SQLite and PostgreSQL: the domain's query and difference in
words, GET /v1/auditEvents (+ CSV export) and `rtmhub audit list`.

A customer admin sees only its customer's events, a partner only its tree's (its customers' and its own
partner-level events); each filter narrows the result; bad filter input is a 400 that says what to fix;
an update reads "Display name: A → B", "Package: Webex Calling → Webex Meetings".
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from api_checks import assert_error_shape
from conftest import OPERATOR
from rtmhub import ids
from rtmhub.cli.main import app as cli_app
from rtmhub.domain.audit import service as audit
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.audit.schemas import AuditFilter
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.users import service as users
from rtmhub.domain.users.schemas import UserFields
from rtmhub.errors import NotFound, ValidationFailed
from rtmhub.settings import get_settings

URL = "/v1/auditEvents"


def _items(client, who_headers, **params) -> list[dict]:
    resp = client.get(URL, params={"max": 1000, **params}, headers=who_headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


def _rename(client, world, person: str, name: str, who: str = "a_full") -> None:
    resp = client.put(f"/v1/people/{person}", json={"displayName": name}, headers=world.auth(who))
    assert resp.status_code == 200, resp.text


# --- the difference in words -----------------------------------------------------------------

def test_update_reads_as_field_differences(db, world):
    with db.unit_of_work() as s:
        ca = s.get(Customer, world.raw["ca"])
        user = users.get_user(s, ca, world.raw["ua"])
        users.update_user(s, OPERATOR, ca, user, UserFields(display_name="Matti M", package="webex_meetings"))
    with db.unit_of_work(write=False) as s:
        [event] = audit.list_events(s, OPERATOR, AuditFilter(action="user.update"), customer_id=world.raw["ca"])
        found = audit.changes(event, audit.location_names(s, [event]))
        text = audit.change_text(event, found)
        described = str(audit.describe(event))
    assert "Display name: Matti Meikäläinen → Matti M" in text, text
    assert "Package: Webex Calling → Webex Meetings" in text, text
    # leaving calling clears the calling data: said with the location's name, not its id
    assert "Extension: 1001 → —" in text and "Location: Helsinki HQ → —" in text, text
    assert "First name" not in text  # unchanged fields are not listed
    assert described == "User changed"


def test_an_event_is_written_when_recorded_and_leaves_pending_changes_to_the_callers_flush(db, world):
    """record() INSERTs its event at once, as Core (no ORM object to flush at commit): the row holds what
    ``event`` builds, the caller's pending changes stay pending (an error of theirs still comes from the
    caller's own flush), and an event recorded in a SAVEPOINT that is rolled back goes with it."""
    caller = dataclasses.replace(OPERATOR, request_id="req-1")
    with db.unit_of_work() as s:
        ca = s.get(Customer, world.raw["ca"])
        ca.name = "Renamed Oy"
        audit.record(s, caller, "customer.update", "customer", ca.id, ca.id, {"name": "Asiakas Oy"},
                     {"name": "Renamed Oy"})
        assert ca in s.dirty  # not flushed by the record
        recorded = select(AuditEvent.__table__).where(AuditEvent.request_id == "req-1")
        [row] = s.connection().execute(recorded).mappings().all()  # a Core read: no autoflush either
        assert ca in s.dirty
        savepoint = s.begin_nested()
        audit.record(s, caller, "customer.settings", "customer", ca.id, ca.id, None, {"name": "gone"})
        savepoint.rollback()
        assert [r["action"] for r in s.connection().execute(recorded).mappings()] == ["customer.update"]
        assert (row["actor"], row["entity_type"], row["entity_id"], row["customer_id"], row["partner_id"],
                row["subject"], row["before"], row["after"]) == (
            OPERATOR.actor, "customer", ca.id, ca.id, ca.partner_id, "Renamed Oy", {"name": "Asiakas Oy"},
            {"name": "Renamed Oy"})
        assert row["at"] is not None and uuid.UUID(row["id"]).version == 7


def test_create_and_delete_list_the_key_fields(db, world):
    with db.unit_of_work() as s:
        ca = s.get(Customer, world.raw["ca"])
        users.delete_user(s, OPERATOR, ca, users.get_user(s, ca, world.raw["um"]))
    with db.unit_of_work(write=False) as s:
        created = audit.list_events(s, OPERATOR, AuditFilter(action="user.create", email="maija"),
                                    customer_id=world.raw["ca"])
        deleted = audit.list_events(s, OPERATOR, AuditFilter(action="user.delete"), customer_id=world.raw["ca"])
        texts = [audit.change_text(e, audit.changes(e)) for e in (*created, *deleted)]
    assert len(created) == 1 and len(deleted) == 1
    for text in texts:
        assert text.startswith("E-mail: maija.meikalainen@asiakas.example; Display name: Maija Meikäläinen"), text
        assert "Package: Webex Meetings" in text and "→" not in text and "Basic Messaging" not in text


def test_allocation_change_names_the_package(client, world, db):
    from rtmhub.domain.customers import service as customers

    with db.unit_of_work() as s:
        customers.set_allocation(s, OPERATOR, world.raw["ca"], "webex_calling", 30)
    with db.unit_of_work(write=False) as s:
        [event] = audit.list_events(s, OPERATOR, AuditFilter(action="customer.allocation"))
        assert audit.change_text(event, audit.changes(event)) == "Webex Calling allocation: 20 → 30"


# --- scope --------------------------------------------------------------------------------------

def test_customer_admin_sees_only_its_own_customers_events(client, world):
    _rename(client, world, world.ids["ub"], "Sven S", who="b_full")
    mine = _items(client, world.auth("ca_admin"))
    assert mine and {e["orgId"] for e in mine} == {world.ids["ca_org"]}
    assert not [e for e in mine if e["entityType"] in ("partner", "template")]
    assert world.ids["ub"] not in json.dumps(mine)
    # naming another customer is the same 404 as an unknown one
    for org in (world.ids["cb_org"], world.ids["ca1_org"], ids.encode("ORGANIZATION", str(uuid.uuid4()))):
        for url in (URL, URL + "/export"):
            body = assert_error_shape(client.get(url, params={"orgId": org}, headers=world.auth("ca_admin")), 404)
            assert body["message"] == "Organization not found; check the orgId."


def test_partner_never_sees_another_partners_events(client, world):
    _rename(client, world, world.ids["ub"], "Sven S", who="b_full")
    _rename(client, world, world.ids["ua1"], "Aino A", who="a1_full")
    b_events = _items(client, world.auth("b_full"))
    text = json.dumps(b_events)
    assert b_events and world.ids["cb_org"] in text
    for secret in (world.ids["ca_org"], world.ids["ca1_org"], "Partner A", "A default", "full@a.example",
                   "Aino A", "aino@alihankkija.example"):
        assert secret not in text, secret
    a_events = _items(client, world.auth("a_full"))
    a_text = json.dumps(a_events, ensure_ascii=False)
    # partner A sees its sub-partner's customers and partner-level events, but nothing of B
    assert "Aino A" in a_text and "Partner A1" in a_text and "A default" in a_text
    assert "Sven S" not in a_text and world.ids["cb_org"] not in a_text and "B default" not in a_text
    # the sub-partner does not see its parent's customers or templates
    a1_text = json.dumps(_items(client, world.auth("a1_full")), ensure_ascii=False)
    assert "Aino A" in a1_text and world.ids["ca_org"] not in a1_text and "A default" not in a1_text
    assert_error_shape(client.get(URL, params={"orgId": world.ids["ca_org"]}, headers=world.auth("b_full")), 404)


def test_domain_scope_refuses_a_foreign_customer(db, world):
    from rtmhub.domain.access import service as access
    from rtmhub.domain.access.models import AdminAccount

    with db.unit_of_work(write=False) as s:
        account = s.scalar(select(AdminAccount).where(AdminAccount.email == "full@b.example"))
        b = access.caller_for_account(s, account, frozenset())
        with pytest.raises(NotFound):
            audit.list_events(s, b, AuditFilter(), customer_id=world.raw["ca"])
        assert {e.partner_id for e in audit.list_events(s, b, AuditFilter(), limit=1000)} == {world.raw["pb"]}


def test_a_csv_imports_rows_are_in_the_partners_log_with_the_task_as_tracking_id(client, world):
    from bulk_support import csv_bytes, person, run

    task, _rows = run(client, world, csv_bytes([person("tuotu.kayttaja@asiakas.example", "Webex Meetings")]),
                      preview=False, mode="add")
    assert task["counts"]["added"] == 1, task
    partner_wide = _items(client, world.auth("a_full"), email="tuotu.kayttaja@")  # through partner_id
    assert [(e["action"], e["orgId"]) for e in partner_wide] == [("user.create", world.ids["ca_org"])]
    assert ids.decode("TASK", task["id"]) == partner_wide[0]["trackingId"]
    assert _items(client, world.auth("b_full"), email="tuotu.kayttaja@") == []


# --- filters ------------------------------------------------------------------------------------

def test_each_filter_narrows_the_result(client, world, db):
    _rename(client, world, world.ids["um"], "Maija A")
    _rename(client, world, world.ids["ua"], "Matti B", who="ca_admin")
    everything = _items(client, world.auth("a_full"), orgId=world.ids["ca_org"])
    assert len(everything) > 4

    by_actor = _items(client, world.auth("a_full"), orgId=world.ids["ca_org"], actor="ADMIN@asiakas")
    assert [e["actor"] for e in by_actor] == ["admin@asiakas.example"]
    by_action = _items(client, world.auth("a_full"), orgId=world.ids["ca_org"], action="user.update")
    assert len(by_action) == 2 and {e["action"] for e in by_action} == {"user.update"}
    by_kind = _items(client, world.auth("a_full"), orgId=world.ids["ca_org"], action="user")
    assert {e["action"] for e in by_kind} == {"user.create", "user.update"} and len(by_kind) == 4
    by_user = _items(client, world.auth("a_full"), orgId=world.ids["ca_org"], email="maija.meikalainen@")
    assert {e["action"] for e in by_user} == {"user.create", "user.update"}
    assert {e["entityId"] for e in by_user} == {world.ids["um"]}
    update_item = next(e for e in by_user if e["action"] == "user.update")
    assert update_item["changes"] == [{"field": "display_name", "label": "Display name",
                                       "before": "Maija Meikäläinen", "after": "Maija A"}]
    assert update_item["before"]["display_name"] == "Maija Meikäläinen" and update_item["trackingId"]

    # time: move the first rename to last year, then from/to find it alone
    moved = ids.decode("AUDIT_EVENT", update_item["id"])
    with db.unit_of_work() as s:
        s.execute(update(AuditEvent).where(AuditEvent.id == moved).values(at=datetime(2025, 3, 15, 12, tzinfo=UTC)))
    old = _items(client, world.auth("a_full"), orgId=world.ids["ca_org"], to="2025-03-15")
    assert [e["id"] for e in old] == [update_item["id"]]
    same_day = {"from": "2025-03-15", "to": "2025-03-15"}
    assert _items(client, world.auth("a_full"), orgId=world.ids["ca_org"], **same_day) == old
    assert _items(client, world.auth("a_full"), orgId=world.ids["ca_org"], to="2025-03-14") == []
    recent = _items(client, world.auth("a_full"), orgId=world.ids["ca_org"], **{"from": "2025-03-16"})
    assert len(recent) == len(everything) - 1 and update_item["id"] not in json.dumps(recent)


def test_paging_follows_the_link_header(client, world):
    everything = _items(client, world.auth("a_full"), orgId=world.ids["ca_org"])
    seen: list[str] = []
    resp = client.get(URL, params={"orgId": world.ids["ca_org"], "max": 3}, headers=world.auth("a_full"))
    while True:
        assert resp.status_code == 200
        seen += [e["id"] for e in resp.json()["items"]]
        link = resp.headers.get("link")
        if not link:
            break
        resp = client.get(link[1:link.index(">")], headers=world.auth("a_full"))
    assert seen == [e["id"] for e in everything]


@pytest.mark.parametrize("params, phrase", [
    ({"from": "2026-13-01"}, "'from': '2026-13-01' is not a date"),
    ({"to": "yesterday"}, "'to': 'yesterday' is not a date"),
    ({"from": "2026-05-02", "to": "2026-05-01"}, "'to' must be later than 'from'"),
    ({"action": "user;drop"}, "is not an action"),
    ({"actor": "x" * 162}, "'actor' is at most 161"),
    ({"max": "0"}, "max"),
    ({"max": "1001"}, "max"),
    ({"offset": "-1"}, "offset"),
])
def test_bad_filter_input_is_a_400_that_says_what_to_fix(client, world, params, phrase):
    for url in (URL, URL + "/export") if "max" not in params and "offset" not in params else (URL,):
        body = assert_error_shape(client.get(url, params=params, headers=world.auth("a_full")), 400)
        assert phrase in body["message"], body


def test_parse_filter_reports_every_problem_at_once():
    with pytest.raises(ValidationFailed) as caught:
        audit.parse_filter(since="x", until="y", action="!")
    assert len(caught.value.errors) == 3


# --- CSV export ---------------------------------------------------------------------------------

def test_csv_export_is_the_filtered_log_with_formulas_neutralised(client, world):
    resp = client.post("/v1/locations", params={"orgId": world.ids["ca_org"]}, headers=world.auth("a_full"), json={
        "name": "=HYPERLINK(\"x\")", "timeZone": "Europe/Helsinki", "preferredLanguage": "fi_fi",
        "announcementLanguage": "fi_fi", "address": {"address1": "Katu 1", "city": "Espoo", "country": "FI"}})
    assert resp.status_code == 201, resp.text
    _rename(client, world, world.ids["um"], "Maija A")
    resp = client.get(URL + "/export", params={"orgId": world.ids["ca_org"]}, headers=world.auth("a_full"))
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert len(rows) == len(_items(client, world.auth("a_full"), orgId=world.ids["ca_org"]))
    location = next(r for r in rows if r["Action"] == "location.create")
    assert location["Subject"] == "'=HYPERLINK(\"x\")" and location["Customer"] == "Asiakas Oy"
    assert not any(v.startswith("=") for r in rows for v in r.values())
    renamed = next(r for r in rows if r["Action"] == "user.update")
    assert renamed["Changes"] == "Display name: Maija Meikäläinen → Maija A" and renamed["Actor"] == "full@a.example"
    only = client.get(URL + "/export", params={"orgId": world.ids["ca_org"], "action": "user.update"},
                      headers=world.auth("a_full"))
    assert len(list(csv.DictReader(io.StringIO(only.content.decode("utf-8-sig"))))) == 1


# --- CLI ------------------------------------------------------------------------------------------

@pytest.fixture
def cli(db, monkeypatch):
    monkeypatch.setenv("RTMHUB_DATABASE_URL", db.url)
    get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(cli_app, ["audit", *args])
    get_settings.cache_clear()


def test_cli_lists_a_customers_events(cli, client, world):
    _rename(client, world, world.ids["um"], "Maija A")
    result = cli("list", "--customer", world.ids["ca"], "--action", "user.update", "--json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert row["actor"] == "full@a.example" and row["customerId"] == world.raw["ca"]
    assert row["changes"][0]["before"] == "Maija Meikäläinen" and row["changes"][0]["after"] == "Maija A"
    everything = json.loads(cli("list", "--customer", world.ids["ca_org"], "--json").stdout)
    assert len(everything) > 1 and {r["customerId"] for r in everything} == {world.raw["ca"]}
    assert json.loads(cli("list", "--customer", world.ids["ca"], "--until", "2020-01-01", "--json").stdout) == []
    table = cli("list", "--customer", world.ids["ca"], "--actor", "full@a")
    assert table.exit_code == 0 and "Display name: Maija Meikäläinen → Maija A" in table.stdout
    partner = json.loads(cli("list", "--partner", "Partner B", "--json").stdout)
    assert partner and "Maija" not in json.dumps(partner, ensure_ascii=False)
    csv_out = cli("export", "--customer", world.ids["ca"], "--action", "user.update")
    assert csv_out.exit_code == 0 and "Maija A" in csv_out.stdout


def test_cli_bad_input_says_what_to_fix(cli, world):
    for args, phrase in ((("--since", "2026-02-30"), "'--since': '2026-02-30' is not a date"),
                         (("--customer", "no-such"), "Customer 'no-such' not found"),
                         (("--action", "a b"), "is not an action")):
        result = cli("list", *args)
        assert result.exit_code == 1 and phrase in result.stderr, result.output
        assert "Traceback" not in result.output


# --- migration 0007 ---------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path):
    """An empty database of its own (the shared one must stay at head)."""
    from sqlalchemy import create_engine, text

    from conftest import _postgres_base_url, skip_or_fail

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    base, reason = _postgres_base_url()
    if base is None:
        skip_or_fail(reason)
    name = f"rtmhub_audit_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_migration_fills_partner_and_subject_of_existing_events_as_recording_does(fresh_url):
    from alembic import command

    from conftest import build_world
    from rtmhub.db import Database
    from rtmhub.migrate import alembic_config, upgrade

    upgrade(fresh_url)
    db = Database(fresh_url)
    try:
        build_world(db)

        def columns() -> dict[str, tuple]:
            with db.unit_of_work(write=False) as s:
                return {i: (p, subject) for i, p, subject in s.execute(
                    select(AuditEvent.id, AuditEvent.partner_id, AuditEvent.subject))}

        recorded = columns()
        assert len(recorded) > 20 and all(p for p, _ in recorded.values())
        command.downgrade(alembic_config(fresh_url), "0006")  # to just before revision 0007
        db.dispose()
        upgrade(fresh_url)
        assert columns() == recorded
    finally:
        db.dispose()
