"""The operator CLI against a temporary SQLite file (the demo copied per test: tests/cli_support.py)."""
from __future__ import annotations

import json

import pytest
from tests.cli_support import db_url, demo_db_url, demo_template, run  # noqa: F401,F811 - fixtures

from rtmhub import ids


@pytest.fixture
def demo_db(demo_db_url):
    return demo_db_url


def customers(*extra: str) -> list[dict]:
    result = run("customers", "list", "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_init_creates_database(db_url, tmp_path):
    result = run("init")
    assert result.exit_code == 0, result.output
    assert "Database ready" in result.stdout
    assert (tmp_path / "cli.db").exists()
    assert customers() == []


def test_list_without_init_tells_to_run_init(db_url):
    result = run("customers", "list")
    assert result.exit_code == 1
    assert "rtmhub init" in result.stderr
    assert "Traceback" not in result.output


def test_demo_loads_realistic_data(demo_db):
    rows = customers()
    assert len(rows) == 3
    total = 0
    for row in rows:
        assert ids.decode("CUSTOMER", row["id"])
        assert ids.decode("ORGANIZATION", row["orgId"])
        users = run("users", "list", "--customer", row["id"], "--json")
        assert users.exit_code == 0, users.output
        people = json.loads(users.stdout)
        total += len(people)
        assert len({p["email"] for p in people}) == len(people)
        for p in people:
            if p["package"] == "webex_meetings":
                assert p["extension"] is None and p["phoneNumber"] is None and p["location"] is None
            else:
                assert p["extension"] and p["location"]
                assert p["phoneNumber"] is None or p["phoneNumber"].startswith("+358")
    assert 190 <= total <= 210
    nearly_full = [r for r in rows if (p := r["packages"].get("webex_calling"))
                   and p["allocation"] is not None and 0 < p["allocation"] - p["used"] <= 3]
    assert len(nearly_full) == 1
    assert {r["partner"] for r in rows} == {"Demo Partner", "Demo Sub-Partner"}
    # Finnish letters survive the whole way.
    names = " ".join(json.dumps(r, ensure_ascii=False) for r in rows)
    assert "ä" in names


def test_demo_prints_sign_in(db_url):
    result = run("demo")
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8000" in result.stdout
    assert "admin@demo-partner.example" in result.stdout
    assert "demo-partner-2026" in result.stdout
    assert "rtmhub token create" in result.stdout


def test_demo_prints_the_address_it_is_given(demo_db):
    """`make run PORT=…` serves elsewhere than 8000: the sign-in names that address, also when the demo is there."""
    result = run("demo", "--url", "http://127.0.0.1:8765")
    assert result.exit_code == 0, result.output
    assert "URL:      http://127.0.0.1:8765" in result.stdout and ":8000" not in result.stdout
    wrong = run("demo", "--url", "127.0.0.1:8765")
    assert wrong.exit_code == 2 and "http://host:port" in wrong.output


def test_demo_twice_is_idempotent(demo_db):
    before = customers()
    result = run("demo")
    assert result.exit_code == 0, result.output
    assert "already" in result.stdout
    assert "admin@demo-partner.example" in result.stdout
    assert customers() == before


def test_templates_list(demo_db):
    result = run("templates", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 2
    assert all(r["provisioningId"] and r["country"] == "FI" for r in rows)
    human = run("templates", "list")
    assert human.exit_code == 0 and rows[0]["provisioningId"] in human.stdout


def test_admin_and_token_create(demo_db):
    result = run("admin", "create", "--email", "ops@demo-partner.example", "--role", "partner_full_admin",
                 "--partner", "Demo Partner", "--password", "lantern harbour quietly")
    assert result.exit_code == 0, result.output
    token = run("token", "create", "--email", "ops@demo-partner.example", "--scope", "spark-admin:people_read",
                "--scope", "spark-admin:wholesale_customers_read")
    assert token.exit_code == 0, token.output
    last = token.stdout.strip().splitlines()[-1]
    assert last.startswith("rtm_") and " " not in last
    everything = run("token", "create", "--email", "admin@demo-partner.example", "--scope", "all")
    assert everything.exit_code == 0, everything.output
    assert everything.stdout.strip().splitlines()[-1].startswith("rtm_")


def test_admin_create_prompts_for_password(demo_db):
    result = run("admin", "create", "--email", "ops2@demo-partner.example", "--role", "partner_readonly_admin",
                 input="lantern harbour quietly\nlantern harbour quietly\n")
    assert result.exit_code == 0, result.output
    assert "Created partner_readonly_admin" in result.stdout


def test_customer_admin_needs_known_customer(demo_db):
    row = customers()[0]
    ok = run("admin", "create", "--email", "boss@example.org", "--role", "customer_full_admin",
             "--customer", row["orgId"], "--password", "lantern harbour quietly")
    assert ok.exit_code == 0, ok.output
    bad = run("admin", "create", "--email", "boss2@example.org", "--role", "customer_full_admin",
              "--customer", ids.encode("CUSTOMER", "00000000-0000-4000-8000-000000000000"), "--password", "pw")
    assert bad.exit_code == 1
    assert bad.stderr.startswith("Error: ")


def test_duplicate_admin_is_an_error(demo_db):
    result = run("admin", "create", "--email", "admin@demo-partner.example", "--role", "partner_full_admin",
                 "--password", "x")
    assert result.exit_code == 1
    assert "already exists" in result.stderr
    assert "Traceback" not in result.output


def test_bad_role_is_an_error(demo_db):
    result = run("admin", "create", "--email", "x@demo-partner.example", "--role", "king", "--password", "x")
    assert result.exit_code == 1
    assert "Error:" in result.stderr and "partner_full_admin" in result.stderr


def test_token_for_unknown_admin_or_scope(demo_db):
    unknown = run("token", "create", "--email", "nobody@example.org", "--scope", "all")
    assert unknown.exit_code == 1 and "rtmhub admin create" in unknown.stderr
    bad_scope = run("token", "create", "--email", "admin@demo-partner.example", "--scope", "root")
    assert bad_scope.exit_code == 1 and "Unknown scope" in bad_scope.stderr
    assert bad_scope.stdout == ""


def test_customers_list_table(demo_db):
    result = run("customers", "list")
    assert result.exit_code == 0, result.output
    assert "48/50" in result.stdout
    assert customers()[0]["id"] in result.stdout  # ids are printed whole, never cut


@pytest.mark.parametrize("form", ["id", "orgId", "uuid"])
def test_users_list_accepts_every_customer_id_form(demo_db, form):
    row = customers()[0]
    value = {"id": row["id"], "orgId": row["orgId"], "uuid": ids.decode("CUSTOMER", row["id"])}[form]
    result = run("users", "list", "--customer", value, "--json")
    assert result.exit_code == 0, result.output
    people = json.loads(result.stdout)
    assert people and all(ids.decode("PEOPLE", p["id"]) for p in people)


def test_users_list_table(demo_db):
    row = customers()[0]
    result = run("users", "list", "--customer", row["id"])
    assert result.exit_code == 0, result.output
    assert "@" in result.stdout


@pytest.mark.parametrize("value", [
    "not-an-id",
    ids.encode("CUSTOMER", "00000000-0000-4000-8000-000000000000"),
    ids.encode("PEOPLE", "00000000-0000-4000-8000-000000000000"),
])
def test_users_list_unknown_customer(demo_db, value):
    result = run("users", "list", "--customer", value)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Customer")
    assert "not found" in result.stderr
    assert "Traceback" not in result.output
