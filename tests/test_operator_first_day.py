"""The README's "Setting up for real": an empty database to a provisioned customer with the CLI and the API
only, on SQLite and PostgreSQL; and every misuse of the set-up commands answered with a clear message.

The CLI runs through typer's CliRunner against the test database (``RTMHUB_DATABASE_URL``), the API through
a TestClient on the same database, as an operator would use them one after the other."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from rtmhub.app import create_app
from rtmhub.cli.main import app as cli
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.partners.models import Partner
from rtmhub.settings import Settings, get_settings

runner = CliRunner()
PASSWORD = "lantern harbour quietly"


@pytest.fixture
def operator(db, monkeypatch):
    """An empty database (schema only) that the CLI reaches through RTMHUB_DATABASE_URL."""
    monkeypatch.setenv("RTMHUB_DATABASE_URL", db.url)
    get_settings.cache_clear()
    yield db
    get_settings.cache_clear()


def run(*args: str, input: str | None = None, ok: bool = True):
    result = runner.invoke(cli, list(args), input=input)
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("Error: ") and "Traceback" not in result.output
    return result


def test_setting_up_for_real_reaches_a_provisioned_customer(operator):
    run("init")
    run("partners", "create", "Nordic Telecom Oy", "--billing-start-date", "2026-01-01")
    provisioning_id = run("templates", "create", "--partner", "Nordic Telecom Oy", "--name", "Finland default",
                          "--country", "FI", "--language", "fi").stdout.strip().splitlines()[-1]
    run("admin", "create", "--email", "ops@nordic-telecom.example", "--role", "partner_full_admin",
        "--partner", "Nordic Telecom Oy", "--password-stdin", input=PASSWORD + "\n")
    token = run("token", "create", "--email", "ops@nordic-telecom.example", "--scope", "all",
                "--expires-in", "90").stdout.strip().splitlines()[-1]
    assert token.startswith("rtm_")

    app = create_app(Settings(database_url=operator.url), database=operator)
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {token}"}
        created = client.post("/v1/wholesale/customers", headers=headers, json={
            "provisioningId": provisioning_id, "packages": ["webex_calling", "webex_meetings"],
            "externalId": "CRM-1001",
            "address": {"addressLine1": "Aleksanterinkatu 5", "city": "Helsinki", "country": "FI"},
            "customerInfo": {"name": "Esimerkki Oy", "primaryEmail": "it@esimerkki.example", "language": "fi"},
            "provisioningParameters": {
                "calling": {"location": {"name": "Helsinki", "timezone": "Europe/Helsinki", "language": "fi_fi",
                                         "address": {"addressLine1": "Aleksanterinkatu 5", "city": "Helsinki",
                                                     "country": "FI"}}},
                "packages": {"limits": {"webex_calling": 25, "webex_meetings": 100}}}})
        assert created.status_code == 202, created.text
        customer = client.get(created.headers["location"], headers=headers)
        assert customer.status_code == 200 and customer.json()["status"] == "provisioned"
    listed = json.loads(run("customers", "list", "--json").stdout)
    assert [c["name"] for c in listed] == ["Esimerkki Oy"] and listed[0]["partner"] == "Nordic Telecom Oy"
    # the token's use was recorded; the list shows dates and ids, never the token or its digest
    tokens = run("token", "list", "--email", "ops@nordic-telecom.example", "--json").stdout
    assert token not in tokens and token[4:] not in tokens
    [row] = json.loads(tokens)
    assert row["lastUsed"] and row["expires"] and row["revoked"] is None and row["state"] == "active"
    assert set(row) == {"id", "scopes", "created", "expires", "lastUsed", "revoked", "state"}
    # every step was audited
    with operator.unit_of_work(write=False) as s:
        actions = set(s.scalars(select(AuditEvent.action)))
    assert {"partner.create", "template.create", "admin.create", "token.create"} <= actions


def test_partners_and_sub_partners(operator):
    run("init")
    run("partners", "create", "Nordic Telecom Oy", "--subscription-id", "SUB-NT-1")
    made = run("partners", "create", "Nordic Reseller Oy", "--parent", "Nordic Telecom Oy",
               "--billing-start-date", "2026-02-01").stdout
    assert "sub-partner of 'Nordic Telecom Oy'" in made
    rows = {r["name"]: r for r in json.loads(run("partners", "list", "--json").stdout)}
    top, sub = rows["Nordic Telecom Oy"], rows["Nordic Reseller Oy"]
    assert set(top) >= {"name", "orgId", "parent", "provisioningState", "subscriptionId", "billingStartDate"}
    assert top["parent"] is None and sub["parent"] == "Nordic Telecom Oy"
    assert sub["subscriptionId"] == "SUB-NT-1"  # a sub-partner consumes its parent's subscription (W6)
    assert sub["billingStartDate"] == "2026-02-01" and sub["provisioningState"] == "active"
    # suspend and activate by orgId as well as by name (R53)
    assert "now suspended" in run("partners", "suspend", sub["orgId"]).stdout
    assert "already suspended" in run("partners", "suspend", "Nordic Reseller Oy").stdout
    with operator.unit_of_work(write=False) as s:
        assert s.scalar(select(Partner.provisioning_state).where(Partner.name == "Nordic Reseller Oy")) == "suspended"
    # R53: the suspended sub-partner may only delete: a template of its own is refused
    refused = run("templates", "create", "--partner", "Nordic Reseller Oy", "--name", "X", "--country", "FI",
                  "--language", "fi", ok=False)
    assert "suspended" in refused.stderr and "only delete" in refused.stderr
    assert "now active" in run("partners", "activate", "Nordic Reseller Oy").stdout
    run("templates", "create", "--partner", "Nordic Reseller Oy", "--name", "X", "--country", "FI", "--language", "fi")
    human = run("partners", "list").stdout
    assert "Nordic Reseller Oy" in human and top["orgId"] in human


@pytest.mark.parametrize("args, phrases", [
    (("partners", "suspend", "Nordic Telecom Oy"), ("top-level partner", "only sub-partners")),
    (("partners", "activate", "Nordic Telecom Oy"), ("top-level partner",)),
    (("partners", "suspend", "Nobody Oy"), ("No partner named or with id 'Nobody Oy'",)),
    (("partners", "create", "Nordic Telecom Oy"), ("already exists",)),
    (("partners", "create", "Deep Oy", "--parent", "Nordic Reseller Oy"), ("one level deep",)),
    (("partners", "create", "Late Oy", "--parent", "Nobody Oy"), ("No partner named",)),
    (("partners", "create", "Dated Oy", "--billing-start-date", "31.1.2026"), ("YYYY-MM-DD",)),
    (("partners", "create", "   "), ("needs a name",)),
    (("templates", "create", "--partner", "Nordic Telecom Oy", "--name", "Finland default", "--country", "FI",
      "--language", "fi"), ("already has a template named 'Finland default'",)),
    (("templates", "create", "--partner", "Nobody Oy", "--name", "N", "--country", "FI", "--language", "fi"),
     ("No partner named",)),
    (("templates", "create", "--partner", "Nordic Telecom Oy", "--name", "N", "--country", "Finland",
      "--language", "fi"), ("country",)),
    (("token", "create", "--email", "ops@nordic-telecom.example", "--scope", "all", "--expires-in", "0"),
     ("--expires-in", "1 to 3650")),
    (("token", "list", "--email", "nobody@nordic-telecom.example"), ("No administrator",)),
    (("token", "revoke", "00000000-0000-4000-8000-000000000000"), ("No token with id", "token list")),
    (("admin", "delete", "--email", "nobody@nordic-telecom.example"), ("No administrator",)),
    (("admin", "delete", "--email", "ops@nordic-telecom.example"), ("last partner_full_admin", "first")),
    (("admin", "create", "--email", "x@nordic-telecom.example", "--role", "partner_full_admin", "--password", PASSWORD,
      "--password-stdin"), ("either",)),
])
def test_every_misuse_gets_a_clear_message(operator, args, phrases):
    run("init")
    run("partners", "create", "Nordic Telecom Oy")
    run("partners", "create", "Nordic Reseller Oy", "--parent", "Nordic Telecom Oy")
    run("templates", "create", "--partner", "Nordic Telecom Oy", "--name", "Finland default", "--country", "FI",
        "--language", "fi")
    run("admin", "create", "--email", "ops@nordic-telecom.example", "--role", "partner_full_admin",
        "--partner", "Nordic Telecom Oy", "--password-stdin", input=PASSWORD + "\n")
    result = run(*args, ok=False)
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


def test_admin_list_delete_and_the_last_full_admin(operator):
    run("init")
    run("partners", "create", "Nordic Telecom Oy")
    for email, role in (("ops@nordic-telecom.example", "partner_full_admin"),
                        ("deputy@nordic-telecom.example", "partner_full_admin"),
                        ("viewer@nordic-telecom.example", "partner_readonly_admin")):
        run("admin", "create", "--email", email, "--role", role, "--partner", "Nordic Telecom Oy",
            "--password-stdin", input=PASSWORD + "\n")
    token = run("token", "create", "--email", "deputy@nordic-telecom.example", "--scope", "all").stdout.split()[-1]
    rows = json.loads(run("admin", "list", "--json").stdout)
    assert [r["email"] for r in rows] == ["deputy@nordic-telecom.example", "ops@nordic-telecom.example",
                                          "viewer@nordic-telecom.example"]
    assert all(r["partner"] == "Nordic Telecom Oy" and r["canSignIn"] for r in rows)
    assert "password" not in json.dumps(rows).lower().replace("canSignIn", "")
    assert "viewer@nordic-telecom.example" in run("admin", "list").stdout
    # a read-only admin is never the last full admin
    run("admin", "delete", "--email", "viewer@nordic-telecom.example")
    run("admin", "delete", "--email", "deputy@nordic-telecom.example")
    refused = run("admin", "delete", "--email", "ops@nordic-telecom.example", ok=False)
    assert "last partner_full_admin" in refused.stderr
    assert [r["email"] for r in json.loads(run("admin", "list", "--json").stdout)] == ["ops@nordic-telecom.example"]
    # the deleted admin's token went with it
    app = create_app(Settings(database_url=operator.url), database=operator)
    with TestClient(app) as client:
        assert client.get("/v1/wholesale/customers", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_weak_passwords_are_refused_with_the_reason(operator):
    run("init")
    run("partners", "create", "Nordic Telecom Oy")
    base = ("admin", "create", "--email", "ops@nordic-telecom.example", "--role", "partner_full_admin",
            "--partner", "Nordic Telecom Oy")
    for password, phrase in (("a", "too short"), ("", "too short"), ("password1234", "too easy to guess"),
                             ("ops-lantern-harbour", "'ops' from the e-mail address"),
                             ("qwertyuiopasdf", "too easy to guess")):
        result = run(*base, "--password-stdin", input=password + "\n", ok=False)
        assert phrase in result.stderr and "12 characters" in result.stderr, result.stderr
    assert json.loads(run("admin", "list", "--json").stdout) == []
    # the prompt (no option) asks twice and applies the same policy
    assert "too short" in run(*base, input="short\nshort\n", ok=False).stderr
    run(*base, input=f"{PASSWORD}\n{PASSWORD}\n")
