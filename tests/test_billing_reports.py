"""Billing reports through real HTTP, on SQLite and PostgreSQL (issue 11; W7, R50–R52): refusals in the
upstream error shape, scopes, the worker making a report in pieces, the signed download link without a token,
list filters, sorting and paging, deletes (also of a report still being made), the sub-partner filter and
tenancy, failure and crash recovery."""
from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import delete, func, select, update

from api_checks import assert_error_shape
from conftest import OPERATOR
from rtmhub import ids
from rtmhub.app import create_app
from rtmhub.db import utcnow
from rtmhub.domain.access import service as access
from rtmhub.domain.billing import content
from rtmhub.domain.billing import service as billing
from rtmhub.domain.billing.models import BillingReport, BillingReportChunk
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.usage import service as usage
from rtmhub.domain.usage.models import AllocationInterval, PackageInterval
from rtmhub.domain.usage.schemas import PackageChange
from rtmhub.domain.users.models import User
from rtmhub.jobs import billing as billing_jobs
from rtmhub.settings import Settings

URL = "/v1/wholesale/billing/reports"
LEASE = timedelta(seconds=60)
READ = "spark-admin:wholesale_billing_reports_read"
WRITE = "spark-admin:wholesale_billing_reports_write"


@pytest.fixture
def app(db):
    """No in-process worker: the tests run the worker's step themselves, so each state is seen."""
    return create_app(Settings(database_url=db.url, inprocess_worker=False), database=db)


def day(ago: int) -> str:
    return (utcnow().date() - timedelta(days=ago)).isoformat()


def history(db, world) -> None:
    """Three weeks of ledger: every user of the world held its package from 20 days ago, Maija's ended 5 days
    ago; every customer's allocations from 25 days ago (written with the ledger's own recording functions)."""
    now = utcnow()
    with db.unit_of_work() as s:
        # The services wrote the world's ledger as of now; it is rewritten as if it had happened earlier.
        s.execute(delete(PackageInterval))
        s.execute(delete(AllocationInterval))
        for c in s.scalars(select(Customer)):
            usage.record_allocations(s, c, now - timedelta(days=25))
        rows = s.execute(select(User, Customer).join(Customer, Customer.id == User.customer_id)
                         .where(User.package.is_not(None))).all()
        usage.record_user_packages(s, [PackageChange(u.id, c.id, c.partner_id, u.email, None, u.package)
                                       for u, c in rows], now - timedelta(days=20))
        maija = next(u for u, _ in rows if u.email.startswith("maija"))
        ca = next(c for u, c in rows if u.id == maija.id)
        usage.record_user_packages(s, [PackageChange(maija.id, ca.id, ca.partner_id, maija.email, maija.package,
                                                     None)], now - timedelta(days=5))


def create(client, world, who: str = "a_full", **body):
    payload = {"billingStartDate": day(30), "billingEndDate": day(1), **body}
    return client.post(URL, json=payload, headers=world.auth(who))


def made(db, chunk_bytes: int = 64) -> bool:
    """One pass of the worker's report step; small pieces, so a report is stored in many of them."""
    return billing_jobs.run_pending(db, "test-worker", LEASE, chunk_bytes=chunk_bytes)


def expected_csv(db, report_type: str, start: str, end: str, partner_id: str) -> bytes:
    out = io.StringIO()
    with db.unit_of_work(write=False) as s:
        content.write_report(s, out, report_type, datetime.fromisoformat(start).date(),
                             datetime.fromisoformat(end).date(), access.partner_tree(s, partner_id))
    return out.getvalue().encode()


# --- R50: dates and type ------------------------------------------------------------------------

@pytest.mark.parametrize("body, says", [
    ({"billingEndDate": day(0)}, "not over yet"),
    ({"billingStartDate": day(0), "billingEndDate": day(0)}, "not over yet"),
    ({"billingEndDate": day(-3)}, "not over yet"),
    ({"billingStartDate": day(5 * 366 + 2)}, "more than five years ago"),
    ({"billingStartDate": day(3), "billingEndDate": day(4)}, "must end on or after"),
    ({"billingStartDate": "2026-13-01"}, "YYYY-MM-DD"),
    ({"billingEndDate": "31.01.2026"}, "YYYY-MM-DD"),
    ({"billingStartDate": "2026-1-5"}, "YYYY-MM-DD"),
    ({"type": "MONTHLY"}, "use PARTNER, CUSTOMER or USER"),
    ({"billingStartDate": None}, "billingStartDate"),
], ids=["today", "today-both", "future", "over-five-years", "start-after-end", "month-13", "dotted", "no-padding",
        "bad-type", "missing"])
def test_r50_refusals_are_400_saying_what_to_fix(client, world, db, body, says):
    payload = {"billingStartDate": day(30), "billingEndDate": day(1), **body}
    payload = {k: v for k, v in payload.items() if v is not None}
    resp = client.post(URL, json=payload, headers=world.auth("a_full"))
    error = assert_error_shape(resp, 400, str(body))
    assert says in error["message"], error
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(BillingReport)) == 0


def test_five_years_back_and_yesterday_are_accepted(client, world):
    today = utcnow().date()
    first = today.replace(year=today.year - 5) if (today.month, today.day) != (2, 29) else \
        today.replace(year=today.year - 5, day=28)
    resp = create(client, world, billingStartDate=first.isoformat(), billingEndDate=day(1), type="USER")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["billingStartDate"] == first.isoformat() and body["billingEndDate"] == day(1)
    assert body["type"] == "USER" and body["internal"] is False and ids.decode("BILLING_REPORT", body["id"])
    day_before = (first - timedelta(days=1)).isoformat()
    assert_error_shape(create(client, world, billingStartDate=day_before), 400, "a day before the five years")


# --- R52: scopes and roles ----------------------------------------------------------------------

def test_scopes_and_roles(client, world, db):
    with db.unit_of_work() as s:
        read_only_scope = access.create_token(s, OPERATOR, email="full@a.example", scopes=[READ])
        write_only_scope = access.create_token(s, OPERATOR, email="full@a.example", scopes=[WRITE])
    reader = {"Authorization": f"Bearer {read_only_scope}"}
    writer = {"Authorization": f"Bearer {write_only_scope}"}
    body = {"billingStartDate": day(10), "billingEndDate": day(1)}
    error = assert_error_shape(client.post(URL, json=body, headers=reader), 403, "create without the write scope")
    assert WRITE in error["message"]
    error = assert_error_shape(client.get(URL, headers=writer), 403, "list without the read scope")
    assert READ in error["message"]
    assert_error_shape(client.get(URL, headers=world.auth("a_noscope")), 403, "no billing scope at all")
    # A read-only administrator lists and reads, but neither creates nor deletes (R52's UI mapping).
    assert_error_shape(client.post(URL, json=body, headers=world.auth("a_readonly")), 403, "read-only creates")
    assert client.get(URL, headers=world.auth("a_readonly")).status_code == 200
    created = client.post(URL, json=body, headers=writer)
    assert created.status_code == 200, created.text
    rid = created.json()["id"]
    assert client.get(f"{URL}/{rid}", headers=reader).status_code == 200
    assert client.get(f"{URL}/{rid}", headers=world.auth("a_readonly")).status_code == 200
    assert_error_shape(client.delete(f"{URL}/{rid}", headers=world.auth("a_readonly")), 403, "read-only deletes")
    assert_error_shape(client.delete(f"{URL}/{rid}", headers=reader), 403, "delete without the write scope")
    # Customer administrators have no billing reports, even holding every scope.
    assert_error_shape(client.get(URL, headers=world.auth("ca_admin")), 403, "customer admin lists")
    assert_error_shape(client.post(URL, json=body, headers=world.auth("ca_admin")), 403, "customer admin creates")
    assert_error_shape(client.get(URL), 401, "no token")


# --- made by the worker, downloaded without a token ---------------------------------------------

def test_report_is_made_and_downloads_without_a_token(client, world, db):
    history(db, world)
    resp = create(client, world, type="USER")
    assert resp.status_code == 200, resp.text
    rid = resp.json()["id"]
    shown = client.get(f"{URL}/{rid}", headers=world.auth("a_full")).json()
    assert shown["status"] == "IN_PROGRESS" and "tempDownloadURL" not in shown
    assert shown["createdBy"] == "full@a.example" and shown["created"].endswith("Z")
    assert made(db) is True
    assert made(db) is False  # nothing else waits
    shown = client.get(f"{URL}/{rid}", headers=world.auth("a_full")).json()
    assert shown["status"] == "COMPLETED", shown
    link = shown["tempDownloadURL"]
    assert link.startswith("http://testserver/v1/wholesale/billing/reports/") and "Signature=" in link
    parts = urlsplit(link)
    got = client.get(f"{parts.path}?{parts.query}")  # no Authorization header
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/csv")
    assert got.headers["content-disposition"] == f'attachment; filename="billing-user-{day(30)}-{day(1)}.csv"'
    want = expected_csv(db, "USER", day(30), day(1), world.raw["pa"])
    assert got.content == want
    assert want.count(b"\n") >= 4  # the header and the three users of partner A's tree
    with db.unit_of_work(write=False) as s:
        row = s.get(BillingReport, ids.decode("BILLING_REPORT", rid))
        pieces = s.scalar(select(func.count()).where(BillingReportChunk.report_id == row.id))
        assert (row.bytes, row.lines) == (len(want), want.count(b"\n") - 1)
        assert pieces == -(-len(want) // 64) > 1


def test_download_link_refusals(client, world, db):
    history(db, world)
    rid = create(client, world).json()["id"]
    made(db)
    link = client.get(f"{URL}/{rid}", headers=world.auth("a_full")).json()["tempDownloadURL"]
    parts = urlsplit(link)
    path, query = parts.path, dict(p.split("=", 1) for p in parts.query.split("&"))
    assert client.get(f"{path}?{parts.query}").status_code == 200
    tampered = query["Signature"][:-2] + ("AA" if not query["Signature"].endswith("AA") else "BB")
    for label, params in [("tampered signature", {**query, "Signature": tampered}),
                          ("longer expiry", {**query, "Expires": str(int(query["Expires"]) + 3600)}),
                          ("no signature", {"Expires": query["Expires"]}), ("nothing", {}),
                          ("not a number", {**query, "Expires": "soon"})]:
        error = assert_error_shape(client.get(path, params=params), 403, label)
        assert "not valid" in error["message"], label
    with db.unit_of_work(write=False) as s:
        report = s.get(BillingReport, ids.decode("BILLING_REPORT", rid))
        old = billing.signed_download_path(report, utcnow() - timedelta(hours=1, seconds=5))
    error = assert_error_shape(client.get(old), 403, "expired")
    assert "expired" in error["message"]
    # Another report's signature does not open this one.
    other = create(client, world, type="CUSTOMER").json()["id"]
    made(db)
    other_link = urlsplit(client.get(f"{URL}/{other}", headers=world.auth("a_full")).json()["tempDownloadURL"])
    assert_error_shape(client.get(f"{path}?{other_link.query}"), 403, "another report's signature")
    # A deleted report: the link that worked a moment ago is a 404.
    assert client.delete(f"{URL}/{rid}", headers=world.auth("a_full")).status_code == 204
    assert_error_shape(client.get(f"{path}?{parts.query}"), 404, "deleted report")


# --- list: filters, sort, paging -----------------------------------------------------------------

def test_list_filters_sorting_and_paging(client, world, db):
    specs = [(9, 2, "PARTNER"), (30, 20, "CUSTOMER"), (15, 15, "USER"), (30, 1, "PARTNER"), (40, 3, "USER")]
    made_ids = []
    for start, end, kind in specs:
        resp = create(client, world, billingStartDate=day(start), billingEndDate=day(end), type=kind)
        assert resp.status_code == 200, resp.text
        made_ids.append(resp.json()["id"])
    while made(db):
        pass
    # one still IN_PROGRESS
    waiting = create(client, world, billingStartDate=day(7), billingEndDate=day(7)).json()["id"]
    auth = world.auth("a_full")

    def listed(**params) -> list[dict]:
        resp = client.get(URL, params=params, headers=auth)
        assert resp.status_code == 200, resp.text
        return resp.json()["items"]

    every = listed()
    assert len(every) == 6
    assert [r["billingStartDate"] for r in every] == sorted(r["billingStartDate"] for r in every)  # default sort
    assert set(every[0]) == {"id", "billingStartDate", "billingEndDate", "status", "type", "category"}
    assert [r["billingEndDate"] for r in listed(sortBy="billingEndDate")] == sorted(r["billingEndDate"] for r in every)
    assert [r["status"] for r in listed(sortBy="status")] == ["COMPLETED"] * 5 + ["IN_PROGRESS"]
    by_id = [ids.decode("BILLING_REPORT", r["id"]) for r in listed(sortBy="id")]
    assert by_id == sorted(by_id)
    assert {r["id"] for r in listed(type="USER")} == {made_ids[2], made_ids[4]}
    assert [r["id"] for r in listed(status="IN_PROGRESS")] == [waiting]
    assert {r["id"] for r in listed(billingStartDate=day(30))} == {made_ids[1], made_ids[3]}
    assert [r["id"] for r in listed(billingStartDate=day(30), billingEndDate=day(20))] == [made_ids[1]]
    for bad in ({"sortBy": "created"}, {"status": "DONE"}, {"type": "ALL"}, {"max": "101"}, {"max": "0"},
                {"billingStartDate": "yesterday"}):
        assert_error_shape(client.get(URL, params=bad, headers=auth), 400, str(bad))
    # Paging: max=2 gives three pages linked by absolute Link headers, together the whole list.
    seen, url, pages = [], f"http://testserver{URL}?max=2&sortBy=billingEndDate", 0
    while url:
        resp = client.get(url, headers=auth)
        assert resp.status_code == 200
        seen += [r["id"] for r in resp.json()["items"]]
        pages += 1
        link = resp.headers.get("link")
        url = link[1:link.index(">")] if link else None
        assert not url or url.startswith("http://testserver/")
    assert pages == 3 and seen == [r["id"] for r in listed(sortBy="billingEndDate")]


# --- delete ----------------------------------------------------------------------------------------

def test_delete_then_404_and_delete_of_a_report_being_made_cancels_it(client, world, db):
    auth = world.auth("a_full")
    rid = create(client, world).json()["id"]
    made(db)
    assert client.delete(f"{URL}/{rid}", headers=auth).status_code == 204
    assert_error_shape(client.get(f"{URL}/{rid}", headers=auth), 404, "deleted")
    assert_error_shape(client.delete(f"{URL}/{rid}", headers=auth), 404, "deleted twice")
    # Both are in the partner's audit log, about the report's file.
    events = client.get("/v1/auditEvents", params={"action": "report"}, headers=auth).json()["items"]
    file = f"billing-partner-{day(30)}-{day(1)}.csv"
    assert [(e["action"], e["subject"], e["actor"]) for e in events] == \
           [(a, file, "full@a.example") for a in ("report.delete", "report.create")]
    assert {e["entityId"] for e in events} == {rid}
    assert not client.get("/v1/auditEvents", params={"action": "report"}, headers=world.auth("b_full")).json()["items"]
    # IN_PROGRESS: deleting cancels; no worker makes it afterwards, and no piece is left.
    waiting = create(client, world).json()["id"]
    assert client.delete(f"{URL}/{waiting}", headers=auth).status_code == 204
    assert made(db) is False
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(BillingReport)) == 0
        assert s.scalar(select(func.count()).select_from(BillingReportChunk)) == 0


def test_deleted_while_being_made_the_worker_stops(client, world, db):
    history(db, world)
    rid = ids.decode("BILLING_REPORT", create(client, world, type="USER").json()["id"])
    with db.unit_of_work() as s:
        assert billing.claim_next(s, "slow-worker", LEASE) == rid
    with db.unit_of_work() as s:
        assert billing.append_chunk(s, rid, "slow-worker", 0, b"email,")
    with db.unit_of_work() as s:
        billing.delete_report(s, OPERATOR, rid)
    with db.unit_of_work() as s:
        assert billing.append_chunk(s, rid, "slow-worker", 1, b"userId") is False
        assert billing.complete(s, rid, "slow-worker", 0, 6, 1) is False
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(BillingReportChunk)) == 0


# --- sub-partners and tenancy --------------------------------------------------------------------

def test_sub_partner_report_and_tenancy(client, world, db):
    history(db, world)
    a, a1, b = world.auth("a_full"), world.auth("a1_full"), world.auth("b_full")
    whole = create(client, world, type="CUSTOMER").json()["id"]
    narrowed = create(client, world, type="CUSTOMER", subPartnerOrgId=world.ids["pa1_org"]).json()["id"]
    own = create(client, world, who="a1_full", type="PARTNER").json()["id"]
    theirs = create(client, world, who="b_full").json()["id"]
    while made(db):
        pass
    link = urlsplit(client.get(f"{URL}/{narrowed}", headers=a).json()["tempDownloadURL"])
    got = client.get(f"{link.path}?{link.query}").content
    assert got == expected_csv(db, "CUSTOMER", day(30), day(1), world.raw["pa1"])
    assert b"Alihankkija" in got and b"Asiakas Oy" not in got
    whole_link = urlsplit(client.get(f"{URL}/{whole}", headers=a).json()["tempDownloadURL"])
    assert b"Asiakas Oy" in client.get(f"{whole_link.path}?{whole_link.query}").content
    # The parent sees its sub-partner's reports; the filter keeps those about the sub-partner.
    assert {r["id"] for r in client.get(URL, headers=a).json()["items"]} == {whole, narrowed, own}
    by_sub = client.get(URL, params={"subPartnerOrgId": world.ids["pa1_org"]}, headers=a).json()["items"]
    assert {r["id"] for r in by_sub} == {narrowed, own}
    # A sub-partner sees only its own; another partner none of A's.
    assert [r["id"] for r in client.get(URL, headers=a1).json()["items"]] == [own]
    assert [r["id"] for r in client.get(URL, headers=b).json()["items"]] == [theirs]
    unknown = ids.encode("BILLING_REPORT", "00000000-0000-4000-8000-000000000000")
    expected = assert_error_shape(client.get(f"{URL}/{unknown}", headers=b), 404, "unknown id")
    for who, rid in [(b, whole), (b, own), (a1, whole), (a1, narrowed)]:
        for method in ("GET", "DELETE"):
            error = assert_error_shape(client.request(method, f"{URL}/{rid}", headers=who), 404, "foreign report")
            assert error["message"] == expected["message"]
    # Naming a sub-partner that is not one's own: 404 like an unknown one; never a report.
    for who, org in [(b, world.ids["pa1_org"]), (a1, world.ids["pa_org"]), (a, world.ids["pb_org"]),
                     (a, "not-an-id")]:
        assert_error_shape(client.post(URL, json={"billingStartDate": day(3), "billingEndDate": day(2),
                                                  "subPartnerOrgId": org}, headers=who), 404, f"sub {org}")
        assert_error_shape(client.get(URL, params={"subPartnerOrgId": org}, headers=who), 404, f"list sub {org}")


# --- failures and crashes -------------------------------------------------------------------------

def test_a_failing_report_is_failed_with_a_message_and_no_pieces(client, world, db, monkeypatch):
    history(db, world)
    rid = create(client, world, type="USER").json()["id"]

    def breaks_midway(session, out, *args):
        out.write("email,userId\n" * 50)  # several pieces stored before the failure
        raise RuntimeError("SELECT secret FROM other_tenant")

    monkeypatch.setattr(content, "write_report", breaks_midway)
    assert made(db) is True
    shown = client.get(f"{URL}/{rid}", headers=world.auth("a_full")).json()
    assert shown["status"] == "FAILED" and "tempDownloadURL" not in shown
    assert "tracking id" in shown["errors"][0]["description"] and "secret" not in str(shown)
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(BillingReportChunk)) == 0
        report = s.get(BillingReport, ids.decode("BILLING_REPORT", rid))
        forged = billing.signed_download_path(report, utcnow())
    error = assert_error_shape(client.get(forged), 409, "a FAILED report has no file")
    assert "failed" in error["message"]


def test_a_crashed_workers_report_is_made_again_from_the_start(client, world, db):
    history(db, world)
    rid = ids.decode("BILLING_REPORT", create(client, world, type="USER").json()["id"])
    with db.unit_of_work() as s:
        assert billing.claim_next(s, "crashed", LEASE) == rid
    with db.unit_of_work() as s:
        assert billing.append_chunk(s, rid, "crashed", 0, b"half a line from the crashed worker")
    assert made(db) is False  # its lease still runs: nobody else takes it
    with db.unit_of_work() as s:
        s.execute(update(BillingReport).values(heartbeat=utcnow() - LEASE - timedelta(seconds=1)))
    assert made(db) is True
    with db.unit_of_work(write=False) as s:
        report = s.get(BillingReport, rid)
        assert (report.status, report.worker) == ("COMPLETED", "test-worker")
        data = b"".join(billing.read_content(s, report))
    assert data == expected_csv(db, "USER", day(30), day(1), world.raw["pa"])
    with db.unit_of_work() as s:  # the crashed worker wakes up: nothing of it is stored any more
        assert billing.append_chunk(s, rid, "crashed", 1, b"more") is False


def test_the_in_process_worker_of_serve_makes_reports(db, world):
    history(db, world)
    from fastapi.testclient import TestClient

    app = create_app(Settings(database_url=db.url), database=db)
    with TestClient(app, base_url="http://testserver") as client:
        rid = create(client, world).json()["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = client.get(f"{URL}/{rid}", headers=world.auth("a_full")).json()["status"]
            if status != "IN_PROGRESS":
                break
            time.sleep(0.1)
    assert status == "COMPLETED"


def test_reports_of_a_day_are_the_same_bytes_each_time(client, world, db):
    history(db, world)
    first = create(client, world, type="CUSTOMER").json()["id"]
    second = create(client, world, type="CUSTOMER").json()["id"]
    while made(db, chunk_bytes=1000):
        pass
    files = []
    for rid in (first, second):
        link = urlsplit(client.get(f"{URL}/{rid}", headers=world.auth("a_full")).json()["tempDownloadURL"])
        files.append(client.get(f"{link.path}?{link.query}").content)
    assert files[0] == files[1] and len(files[0]) > 100


def test_signature_is_checked_before_expiry(db):
    report = BillingReport(id="0b4f4a40-6f4c-4f3f-9a53-000000000001")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    path = billing.signed_download_path(report, now, secret="s" * 40)
    query = dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&"))
    with db.unit_of_work(write=False) as s:
        with pytest.raises(Exception) as wrong_key:
            billing.verify_download(s, report.id, query["Expires"], query["Signature"], now, secret="t" * 40)
        assert "not valid" in str(wrong_key.value)
        with pytest.raises(Exception) as missing:  # right signature, no such report: 404
            billing.verify_download(s, report.id, query["Expires"], query["Signature"], now, secret="s" * 40)
        assert "not found" in str(missing.value)


def test_two_workers_at_once_make_every_report_once(client, world, db):
    """Two workers poll the queue at the same time: every report ends COMPLETED with exactly its own content
    (a report made by both would mix or duplicate pieces: the piece count and bytes are checked)."""
    import threading

    history(db, world)
    kinds = ["USER", "CUSTOMER", "PARTNER"] * 2
    made_ids = [ids.decode("BILLING_REPORT", create(client, world, type=k).json()["id"]) for k in kinds]
    claimed: dict[str, list[str]] = {}

    def work(name: str) -> None:
        while billing_jobs.run_pending(db, name, LEASE, chunk_bytes=50):
            pass

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.unit_of_work(write=False) as s:
        for rid, kind in zip(made_ids, kinds, strict=True):
            report = s.get(BillingReport, rid)
            assert report.status == "COMPLETED", (report.status, report.message)
            claimed.setdefault(report.worker, []).append(rid)
            data = b"".join(billing.read_content(s, report))
            assert data == expected_csv(db, kind, day(30), day(1), world.raw["pa"])
            assert report.bytes == len(data)
    assert sum(len(v) for v in claimed.values()) == len(made_ids)


def test_the_api_accepts_exactly_the_domains_values():
    from rtmhub.api import billing as api
    from rtmhub.domain.billing.models import REPORT_STATUSES
    from rtmhub.domain.billing.schemas import SORT_KEYS

    assert {s.value for s in api.ReportStatus} == set(REPORT_STATUSES)
    assert {s.value for s in api.ReportType} == set(content.REPORT_TYPES)
    assert {s.value for s in api.SortBy} == set(SORT_KEYS)


def test_a_killed_worker_process_leaves_its_report_to_another(client, world, db):
    """A real `rtmhub worker` process is SIGKILLed while it writes a report's pieces: the report stays
    IN_PROGRESS with the pieces it got, its lease lapses, another worker makes it again from the start, and
    the file equals the report made in one go."""
    from test_workers import LEASE_SECONDS, workers

    users = 60_000  # enough pieces that the kill lands between two of them
    now = utcnow()
    with db.unit_of_work() as s:
        s.execute(delete(PackageInterval))
        s.execute(delete(AllocationInterval))
        ca = s.get(Customer, world.raw["ca"])
        usage.record_allocations(s, ca, now - timedelta(days=40))
        for first in range(0, users, 10_000):
            s.execute(PackageInterval.__table__.insert(), [
                {"partner_id": ca.partner_id, "customer_id": ca.id, "user_id": f"00000000-0000-4000-8000-{i:012d}",
                 "email": f"kayttaja{i}@asiakas.example", "package": "webex_calling",
                 "started": now - timedelta(days=35), "ended": None} for i in range(first, first + 10_000)])
    rid = ids.decode("BILLING_REPORT", create(client, world, type="USER").json()["id"])
    with workers(db) as pool:
        doomed = pool.start("doomed")
        name = doomed.name
        deadline = time.monotonic() + 120
        while True:
            with db.unit_of_work(write=False) as s:
                if s.get(BillingReport, rid).bytes > 0:
                    break
            assert doomed.alive() and time.monotonic() < deadline, pool.logs()
            time.sleep(0.005)
        doomed.kill()
    with db.unit_of_work(write=False) as s:
        report = s.get(BillingReport, rid)
        assert (report.status, report.worker) == ("IN_PROGRESS", name)
        assert s.scalar(select(func.count()).where(BillingReportChunk.report_id == rid)) >= 1
    lease = timedelta(seconds=LEASE_SECONDS)
    deadline = time.monotonic() + 60
    while not billing_jobs.run_pending(db, "survivor", lease):  # taken only once the dead worker's lease lapsed
        assert time.monotonic() < deadline
        time.sleep(0.1)
    with db.unit_of_work(write=False) as s:
        report = s.get(BillingReport, rid)
        assert (report.status, report.worker, report.lines) == ("COMPLETED", "survivor", users)
        data = b"".join(billing.read_content(s, report))
    assert data == expected_csv(db, "USER", day(30), day(1), world.raw["pa"])
