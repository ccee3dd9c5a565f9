"""``rtmhub reports create|list|download`` against a temporary SQLite copy of the demo (issue 11, item 6)."""
from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from tests.cli_support import db_url, demo_db_url, demo_template, run  # noqa: F401,F811 - fixtures

from rtmhub import ids
from rtmhub.db import Database, utcnow
from rtmhub.domain.access import service as access
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.billing import content
from rtmhub.domain.billing import service as billing
from rtmhub.domain.billing.models import BillingReport
from rtmhub.domain.partners.models import Partner
from rtmhub.settings import get_settings


def day(ago: int) -> str:
    return (utcnow().date() - timedelta(days=ago)).isoformat()


@pytest.fixture
def demo_db(demo_db_url):
    url = demo_db_url
    db = Database(url)
    yield db
    db.dispose()
    get_settings.cache_clear()


def reports() -> list[dict]:
    result = run("reports", "list", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_create_waits_and_prints_the_id_last_then_list_and_download(demo_db, tmp_path):
    result = run("reports", "create", "--from", day(10), "--to", day(1), "--type", "CUSTOMER")
    assert result.exit_code == 0, result.output
    report_id = result.stdout.strip().splitlines()[-1]
    assert ids.decode("BILLING_REPORT", report_id)
    listed = reports()
    assert [(r["id"], r["status"], r["type"], r["partner"]) for r in listed] == \
           [(report_id, "COMPLETED", "CUSTOMER", "Demo Partner")]
    out = tmp_path / "report.csv"
    saved = run("reports", "download", report_id, "-o", str(out))
    assert saved.exit_code == 0, saved.output
    expected = io.StringIO()
    with demo_db.unit_of_work(write=False) as s:
        partner = s.query(Partner).filter_by(name="Demo Partner").one()
        content.write_report(s, expected, "CUSTOMER", utcnow().date() - timedelta(days=10),
                             utcnow().date() - timedelta(days=1), access.partner_tree(s, partner.id))
    assert out.read_bytes() == expected.getvalue().encode()
    to_stdout = run("reports", "download", report_id, "-o", "-")
    assert to_stdout.exit_code == 0
    assert to_stdout.stdout_bytes == expected.getvalue().encode()
    table = run("reports", "list")
    assert table.exit_code == 0 and report_id in table.stdout


def test_sub_partner_report(demo_db):
    result = run("reports", "create", "--from", day(3), "--to", day(2), "--sub-partner", "Demo Sub-Partner")
    assert result.exit_code == 0, result.output
    (row,) = reports()
    assert (row["partner"], row["subPartner"], row["type"]) == ("Demo Partner", "Demo Sub-Partner", "PARTNER")


@pytest.mark.parametrize("args, says", [
    (("--from", "2026-02-30", "--to", "2026-03-01"), "--from must be a date written YYYY-MM-DD"),
    (("--from", day(1), "--to", day(0)), "--to"),
    (("--from", day(2), "--to", day(3)), "must end on or after"),
    (("--from", day(3), "--to", day(2), "--type", "MONTHLY"), "use PARTNER, CUSTOMER or USER"),
    (("--from", day(3), "--to", day(2), "--sub-partner", "Nobody Oy"), "No partner named or with id 'Nobody Oy'"),
    (("--from", day(3), "--to", day(2), "--sub-partner", "Demo Partner"), "is a partner, not a sub-partner"),
    (("--from", day(3), "--to", day(2), "--partner", "Nobody Oy"), "No partner named or with id 'Nobody Oy'"),
], ids=["bad-date", "today", "reversed", "bad-type", "unknown-sub-partner", "partner-as-sub", "unknown-partner"])
def test_create_misuse_says_what_to_fix(demo_db, args, says):
    result = run("reports", "create", *args)
    assert result.exit_code == 1, result.output
    assert says in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert reports() == []


def test_several_partners_need_partner(demo_db):
    with demo_db.unit_of_work() as s:
        s.add(Partner(name="Toinen Kumppani Oy"))
    result = run("reports", "create", "--from", day(3), "--to", day(2))
    assert result.exit_code == 1 and "Give --partner NAME" in result.stderr
    assert "Demo Partner" in result.stderr and "Toinen Kumppani Oy" in result.stderr
    ok = run("reports", "create", "--from", day(3), "--to", day(2), "--partner", "Toinen Kumppani Oy")
    assert ok.exit_code == 0, ok.output
    assert reports()[0]["partner"] == "Toinen Kumppani Oy"


def test_download_misuse(demo_db, tmp_path):
    target = str(tmp_path / "x.csv")
    for value in ("nonsense", ids.encode("BILLING_REPORT", "00000000-0000-4000-8000-000000000000")):
        result = run("reports", "download", value, "-o", target)
        assert result.exit_code == 1 and "not found" in result.stderr and "rtmhub reports list" in result.stderr
    with demo_db.unit_of_work() as s:
        partner = s.query(Partner).filter_by(name="Demo Partner").one()
        waiting = billing.create_report(s, Caller.operator(), start=utcnow().date() - timedelta(days=3),
                                        end=utcnow().date() - timedelta(days=2), partner_id=partner.id)
        failed = billing.create_report(s, Caller.operator(), start=utcnow().date() - timedelta(days=3),
                                       end=utcnow().date() - timedelta(days=2), partner_id=partner.id)
        failed.status, failed.message = "FAILED", "The report could not be made (tracking id X)."
        waiting_id, failed_id = ids.encode("BILLING_REPORT", waiting.id), ids.encode("BILLING_REPORT", failed.id)
    result = run("reports", "download", waiting_id, "-o", target)
    assert result.exit_code == 1 and "still being made" in result.stderr
    result = run("reports", "download", failed_id, "-o", target)
    assert result.exit_code == 1 and "failed" in result.stderr and "tracking id X" in result.stderr
    with demo_db.unit_of_work(write=False) as s:
        assert s.get(BillingReport, waiting.id).status == "IN_PROGRESS"
    assert not (tmp_path / "x.csv").exists()
