"""What a tenant reads about a task never holds SQL or parameters: over-long values are row errors with a
clear message (not task failures), and an unexpected failure says only a tracking id, the details going to
the server log. On SQLite and PostgreSQL."""
from __future__ import annotations

import logging

from fastapi.testclient import TestClient

from bulk_support import csv_bytes, errors_of, person, run
from rtmhub.app import create_app
from rtmhub.csvfile.columns import COLUMNS
from rtmhub.jobs import runner
from rtmhub.settings import Settings

LEAKS = ("INSERT", "SELECT", "UPDATE ", "psycopg", "sqlalchemy", "parameters", "[SQL", "sqlite3", "varying")


def _assert_no_leak(text: str) -> None:
    assert not [w for w in LEAKS if w in text], text


def test_over_long_values_are_row_errors(world, client):
    long_email = "a" * 300 + "@asiakas.example"
    text_columns = [c.header for c in COLUMNS if c.kind == "text" and c.field != "email"]
    rows = [person(long_email, "Webex Meetings")]
    for i, header in enumerate(text_columns):
        rows.append(person(f"pitka{i}@asiakas.example", "Webex Meetings", **{header: "x" * 5000}))
    rows.append(person("lyhyt@asiakas.example", "Webex Meetings"))
    for preview in (True, False):
        task, results = run(client, world, csv_bytes(rows), mode="add", preview=preview)
        assert task["status"] == "completed_with_errors", task
        _assert_no_leak(str(task))
        first = results[2]
        assert first["outcome"] == "error" and len(first["email"]) <= 255, first
        assert any("longer than 161" in m["message"] for m in errors_of(first)), first
        for line, header in enumerate(text_columns, start=3):
            assert results[line]["outcome"] == "error", (header, results[line])
            _assert_no_leak(str(results[line]))
        assert results[len(rows) + 1]["outcome"] == "add", results[len(rows) + 1]


def test_unexpected_failure_shows_a_tracking_id_only(world, db, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("INSERT INTO users (email) VALUES (%(email)s) [parameters: {'email': 'secret@x'}]")

    monkeypatch.setattr(runner, "apply_batch", broken)
    monkeypatch.setattr(runner, "apply_row", broken)
    # No worker thread: the task runs here, in this test's thread.
    client = TestClient(create_app(Settings(database_url=db.url, inprocess_worker=False), database=db))
    r = client.post("/v1/userImports", headers=world.auth("a_full"),
                    data={"orgId": world.ids["ca_org"], "mode": "add", "preview": "false"},
                    files={"file": ("u.csv", csv_bytes([person("uusi@asiakas.example", "Webex Meetings")]),
                                    "text/csv")})
    assert r.status_code == 202, r.text
    with caplog.at_level(logging.ERROR, logger="rtmhub"):
        while runner.run_pending(db, "test-worker"):
            pass
    task = client.get(f"/v1/tasks/{r.json()['id']}", headers=world.auth("a_full")).json()
    assert task["status"] == "failed", task
    _assert_no_leak(task["message"])
    assert "secret@x" not in task["message"]
    tracking = task["message"].split("tracking id ")[1].split(")")[0].split(" ")[0].rstrip(".;,")
    assert tracking.startswith("RTMHUB_"), task["message"]
    logged = [r for r in caplog.records if tracking in r.getMessage()]
    assert logged and logged[0].exc_info and "secret@x" in str(logged[0].exc_info[1]), caplog.text
