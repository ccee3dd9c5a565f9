"""The bulk CLI: `rtmhub users import|export`, `rtmhub tasks list|show|cancel`, against the test
database of each half (SQLite and PostgreSQL). `users import` starts its own worker thread."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rtmhub import ids
from rtmhub.app import create_app
from rtmhub.cli.main import app as cli
from rtmhub.domain.customers.models import Customer
from rtmhub.jobs.imports import submit_import
from rtmhub.settings import Settings, get_settings
from tests.bulk_support import PACKAGE_HEADERS, csv_bytes, person, state, user
from tests.conftest import OPERATOR

runner = CliRunner()
HQ = "Helsinki HQ"


@pytest.fixture
def cli_db(db, monkeypatch):
    monkeypatch.setenv("RTMHUB_DATABASE_URL", db.url)
    get_settings.cache_clear()
    yield db
    get_settings.cache_clear()


def rtmhub(*args: str):
    return runner.invoke(cli, list(args))


def test_users_import_exit_status_dry_run_and_tasks_commands(cli_db, world, tmp_path):
    db, org = cli_db, world.ids["ca_org"]
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes([
        person("cli.eka@asiakas.example", "Webex Meetings"),
        person("cli.toka@asiakas.example", "Webex Calling", Extension="2801", Location=HQ,
               **{"Phone Number": "+358401234801", "First Name": "Törö"}),
        person("maija.meikalainen@asiakas.example", None, jabber=False, **{h: "FALSE" for h in PACKAGE_HEADERS}),
    ]))
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes([
        person("cli.kolmas@asiakas.example", "Webex Meetings"),
        person("cli.nelja@asiakas.example", "Webex Calling", Extension="2802", Location=HQ,
               **{"Phone Number": "358401234802"}),  # no '+': row error
    ]))

    # --dry-run: every row would apply -> 0, and nothing is written
    before = state(db, world.raw["ca"])
    r = rtmhub("users", "import", str(good), "--customer", org, "--mode", "add-remove", "--dry-run")
    assert r.exit_code == 0, r.output
    assert state(db, world.raw["ca"]) == before
    # the same file applied -> 0
    r = rtmhub("users", "import", str(good), "--customer", org, "--mode", "add-remove")
    assert r.exit_code == 0, r.output
    assert user(db, "cli.toka@asiakas.example").phone_number == "+358401234801"
    assert user(db, "maija.meikalainen@asiakas.example") is None
    # a file with a failing row -> 1 (dry run and apply), the good row still applied
    r = rtmhub("users", "import", str(bad), "--customer", org, "--mode", "add-remove", "--dry-run")
    assert r.exit_code == 1, r.output
    assert user(db, "cli.kolmas@asiakas.example") is None
    r = rtmhub("users", "import", str(bad), "--customer", org, "--mode", "add-remove")
    assert r.exit_code == 1, r.output
    assert "1 row(s) failed" in r.output
    assert user(db, "cli.kolmas@asiakas.example") is not None and user(db, "cli.nelja@asiakas.example") is None
    # a file the server refuses as a whole -> 1 with the reason
    unknown = tmp_path / "unknown.csv"
    unknown.write_bytes(csv_bytes([person("x@asiakas.example", "Webex Meetings", Lempiväri="sininen")]))
    r = rtmhub("users", "import", str(unknown), "--customer", org)
    assert r.exit_code == 1 and "Lempiväri" in r.output, r.output

    # tasks list --json: newest first, the four tasks with their counts
    r = rtmhub("tasks", "list", "--json")
    assert r.exit_code == 0, r.output
    listed = json.loads(r.stdout)
    assert [(t["type"], t["status"]) for t in listed] == [
        ("csv_import", "completed_with_errors"), ("csv_preview", "completed_with_errors"),
        ("csv_import", "completed"), ("csv_preview", "completed")]
    assert (listed[2]["added"], listed[2]["deleted"], listed[2]["failed"]) == (2, 1, 0)
    assert (listed[0]["added"], listed[0]["failed"]) == (1, 1)
    # tasks show (JSON and table)
    r = rtmhub("tasks", "show", listed[0]["id"], "--json")
    assert r.exit_code == 0, r.output
    shown = json.loads(r.stdout)[0]
    assert [(row["line"], row["outcome"]) for row in shown["rows"]] == [(2, "add"), (3, "error")]
    assert "+358401234802" in shown["rows"][1]["messages"][0]["message"] or any(
        "+358401234802" in m["message"] for m in shown["rows"][1]["messages"])
    r = rtmhub("tasks", "show", listed[0]["id"])
    assert r.exit_code == 0 and "cli.nelja@asiakas.example" in r.output, r.output
    assert rtmhub("tasks", "show", "nonexistent").exit_code == 1

    # tasks cancel: a queued task (no worker runs here) is cancelled; an ended one cannot be
    with db.unit_of_work() as s:
        queued = submit_import(s, OPERATOR, world.raw["ca"], file_name="q.csv",
                               content=good.read_bytes(), mode="add-remove", preview=False).id
    public = ids.encode("TASK", queued)
    r = rtmhub("tasks", "cancel", public)
    assert r.exit_code == 0 and "cancelled" in r.output, r.output
    r = rtmhub("tasks", "list", "--json", "--customer", org)
    assert json.loads(r.stdout)[0]["status"] == "cancelled"
    r = rtmhub("tasks", "cancel", public)
    assert r.exit_code == 1 and "already ended" in r.output, r.output


def test_users_export_writes_the_same_bytes_as_the_api(cli_db, world, tmp_path):
    db = cli_db
    content = csv_bytes([person("åke.öst@asiakas.example", "Webex Calling", Extension="2901", Location=HQ,
                                **{"First Name": "Åke", "Last Name": "Öst", "Phone Number": "+358401234901"})])
    with db.unit_of_work() as s:
        task = submit_import(s, OPERATOR, world.raw["ca"], file_name="e.csv", content=content,
                             mode="add", preview=False).id
    from rtmhub.jobs.worker import Worker

    assert Worker(db).run_once() is True
    with db.unit_of_work(write=False) as s:
        from rtmhub.domain.tasks.models import Task

        assert s.get(Task, task).status == "completed"
    out = tmp_path / "export.csv"
    r = rtmhub("users", "export", "--customer", world.ids["ca_org"], "-o", str(out))
    assert r.exit_code == 0, r.output
    api = create_app(Settings(database_url=db.url, inprocess_worker=False), database=db)
    with TestClient(api, base_url="http://testserver") as client:
        exported = client.get("/v1/userExport", params={"orgId": world.ids["ca_org"]}, headers=world.auth("a_full"))
    assert exported.status_code == 200
    assert out.read_bytes() == exported.content
    assert "Åke,Öst".encode() in out.read_bytes() and b"'+358401234901" in out.read_bytes()
    # re-importing the exported file through the CLI changes nothing (exit 0, all unchanged)
    before = state(db, world.raw["ca"])
    r = rtmhub("users", "import", str(out), "--customer", world.raw["ca"], "--mode", "add-remove")
    assert r.exit_code == 0, r.output
    assert state(db, world.raw["ca"]) == before
    r = rtmhub("tasks", "list", "--json")
    newest = json.loads(r.stdout)[0]
    assert (newest["unchanged"], newest["added"], newest["modified"], newest["deleted"]) == (3, 0, 0, 0)
    with db.unit_of_work(write=False) as s:
        assert s.get(Customer, world.raw["ca"]) is not None
