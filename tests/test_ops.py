"""Operations: /healthz, /readyz, /metrics and the log format, over real HTTP; `rtmhub serve --workers 2`
with JSON logs as a real process (SQLite)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text

from bulk_support import csv_bytes, person
from conftest import serving
from rtmhub.app import create_app
from rtmhub.domain.customers.models import CustomerPackage
from rtmhub.jobs import runner
from rtmhub.migrate import upgrade
from rtmhub.ops.http import schema_heads
from rtmhub.settings import Settings

SRC = str(Path(__file__).resolve().parents[1] / "src")


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def value(body: str, name: str, **labels: str) -> float:
    return samples(body).get((name, tuple(sorted(labels.items()))), 0.0)


def test_health_needs_no_database_and_readiness_says_why(tmp_path):
    """An unreachable database: alive, not ready (503, upstream shape), metrics still answer."""
    app = create_app(Settings(database_url="postgresql://nobody@127.0.0.1:1/none", inprocess_worker=False))
    with serving(app) as served, httpx.Client(base_url=served.url, timeout=20) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        resp = http.get("/readyz")
        assert resp.status_code == 503 and resp.headers["content-type"] == "application/json", resp.text
        body = resp.json()
        assert set(body) == {"message", "errors", "trackingId"} and "cannot be reached" in body["message"]
        assert body["trackingId"] == resp.headers["trackingid"]
        assert "nobody" not in resp.text  # no connection string in an answer
        metrics = http.get("/metrics")
        assert metrics.status_code == 200 and value(metrics.text, "rtmhub_database_up") == 0
    # A database file that was never migrated: reachable but not ready, saying what to run.
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", inprocess_worker=False))
    with serving(app) as served, httpx.Client(base_url=served.url, timeout=20) as http:
        resp = http.get("/readyz")
        assert resp.status_code == 503 and "rtmhub init" in resp.json()["message"], resp.text


def test_readiness_compares_the_schema_with_the_head(db, live_server):
    with httpx.Client(base_url=live_server.url, timeout=20) as http:
        resp = http.get("/readyz")
        assert resp.status_code == 200, resp.text
        (head,) = schema_heads()
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0002'"))
        try:
            resp = http.get("/readyz")
            assert resp.status_code == 503, resp.text
            assert f"at 0002, not at {head}" in resp.json()["message"], resp.text
        finally:
            with db.engine.begin() as conn:
                conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
        assert http.get("/readyz").status_code == 200


def test_metrics_count_routes_tasks_and_units(world, db, app, live_server):
    auth = world.auth("a_full")
    with httpx.Client(base_url=live_server.url, timeout=20) as http:
        before = http.get("/metrics").text
        for _ in range(3):
            assert http.get(f"/v1/people/{world.ids['ua']}", headers=auth).status_code == 200
        assert http.get("/v1/people/not-an-id", headers=auth).status_code == 404
        http.get("/no/such/page/at/all")
        csv = csv_bytes([person("uusi@asiakas.example", "Webex Meetings"), person("huono", "Webex Meetings")])
        resp = http.post("/v1/userImports", headers=auth, files={"file": ("u.csv", csv, "text/csv")},
                         data={"orgId": world.ids["ca_org"], "mode": "add", "preview": "false"})
        assert resp.status_code == 202, resp.text
        while runner.run_pending(db, "metrics-test"):
            pass
        after = http.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain"), after.headers
    body = after.text
    route = {"method": "GET", "route": "/v1/people/{personId}"}
    assert value(body, "rtmhub_http_requests_total", **route, status="200") - \
        value(before, "rtmhub_http_requests_total", **route, status="200") == 3
    assert value(body, "rtmhub_http_request_duration_seconds_count", **route, status="404") >= 1
    assert value(body, "rtmhub_http_requests_total", method="GET", route="unmatched", status="404") >= 1
    # Bounded labels: no raw path, id or tenant anywhere in the output.
    for raw in (world.ids["ua"], "not-an-id", "/no/such/page", world.ids["ca_org"], "Asiakas", world.raw["ca"]):
        assert raw not in body, raw
    task = {"type": "csv_import", "outcome": "completed_with_errors"}
    assert value(body, "rtmhub_tasks_total", **task) - value(before, "rtmhub_tasks_total", **task) == 1
    assert value(body, "rtmhub_task_duration_seconds_count", **task) >= 1
    rows = {"type": "csv_import"}
    assert value(body, "rtmhub_task_rows_total", **rows, outcome="added") - \
        value(before, "rtmhub_task_rows_total", **rows, outcome="added") == 1
    assert value(body, "rtmhub_task_rows_total", **rows, outcome="failed") - \
        value(before, "rtmhub_task_rows_total", **rows, outcome="failed") == 1
    # Units: the database's sums per package across every customer, read at scrape time.
    with db.unit_of_work(write=False) as s:
        rows = s.execute(select(CustomerPackage.package, CustomerPackage.used, CustomerPackage.allocation)).all()
    assert sum(used for package, used, _ in rows if package == "webex_meetings") == 3  # two users + the import
    for package in {p for p, _, _ in rows}:
        mine = [(used, allocation) for p, used, allocation in rows if p == package]
        assert value(body, "rtmhub_package_units_used", package=package) == sum(u for u, _ in mine), package
        allocated = None if any(a is None for _, a in mine) else sum(a for _, a in mine)
        got = samples(body).get(("rtmhub_package_units_allocated", (("package", package),)))
        assert got == allocated, (package, got, allocated)
    assert value(body, "rtmhub_database_up") == 1


def test_metrics_token(db):
    app = create_app(Settings(database_url=db.url, inprocess_worker=False, metrics_token="s3cret-metrics"),
                     database=db)
    with serving(app) as served, httpx.Client(base_url=served.url, timeout=20) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-metrics"}):
            resp = http.get("/metrics", headers=headers)
            assert resp.status_code == 401 and set(resp.json()) == {"message", "errors", "trackingId"}, headers
        assert http.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"}).status_code == 200
        assert http.get("/healthz").status_code == 200  # probes stay open


def _free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_serve_with_workers_and_json_logs(tmp_path):
    """`rtmhub serve --workers 2` with RTMHUB_LOG_FORMAT=json: two app processes, one JSON object per log line,
    an access line per request carrying the trackingId the client got, and one /metrics for both."""
    url = f"sqlite:///{tmp_path / 'rtmhub.db'}"
    upgrade(url)
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": SRC, "RTMHUB_DATABASE_URL": url, "RTMHUB_INPROCESS_WORKER": "false",
           "RTMHUB_LOG_FORMAT": "json"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", "from rtmhub.cli.main import app; app()", "serve",
                                 "--port", str(port), "--workers", "2"], env=env, stdout=out, stderr=out,
                                cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            while True:
                try:
                    if http.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
                time.sleep(0.3)
            tracking = {http.get("/v1/people").headers["trackingid"] for _ in range(6)}
            metrics = http.get("/metrics").text
        # Both processes' requests in one count: the processes share PROMETHEUS_MULTIPROC_DIR.
        assert value(metrics, "rtmhub_http_requests_total", method="GET", route="/v1/people", status="401") == 6
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]  # every line is JSON
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    started = {line["message"] for line in lines if line["message"].startswith("Started server process")}
    assert len(started) == 2, lines
    access = [line for line in lines if line["logger"] == "rtmhub.access" and line["route"] == "/v1/people"]
    assert {line["trackingId"] for line in access} == tracking
    assert all(line["status"] == 401 and line["method"] == "GET" and line["duration_ms"] >= 0 for line in access)


@pytest.fixture
def app(db):
    return create_app(Settings(database_url=db.url, inprocess_worker=False), database=db)


def test_operations_doc_lists_every_setting():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "operations.md").read_text()
    missing = [f"RTMHUB_{name.upper()}" for name in Settings.model_fields if f"`RTMHUB_{name.upper()}`" not in doc]
    assert not missing, f"docs/operations.md's settings table lacks {missing}"
