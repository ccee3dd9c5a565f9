"""Issue 3 points 5-7 through the API: preview (dry run, nothing written) -> apply gives the same
outcomes; error report -> fix -> re-upload; export -> re-import = zero changes; template; one running
import per customer (R14); results kept until deleted; cancel. Runs on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rtmhub.app import create_app
from rtmhub.csvfile.columns import template_headers
from rtmhub.csvfile.export import export_headers
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.partners.models import Partner
from rtmhub.domain.users import service as users_service
from rtmhub.domain.users.schemas import UserFields
from rtmhub.jobs.worker import Worker
from rtmhub.settings import Settings
from tests.bulk_support import (
    EMAIL, HEADERS, PACKAGE_HEADERS, csv_bytes, errors_of, person, rows, run, set_allocation, site_url,
    state, upload, used, user, wait, warnings_of,
)
from tests.conftest import OPERATOR

HQ = "Helsinki HQ"
MATTI = "matti.meikalainen@asiakas.example"
MAIJA = "maija.meikalainen@asiakas.example"


def parse(content: bytes) -> tuple[list[str], list[list[str]]]:
    assert content.startswith(b"\xef\xbb\xbf"), content[:10]
    table = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    return table[0], table[1:]


def audit_count(db) -> int:
    with db.unit_of_work(write=False) as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(~AuditEvent.action.like("task.%")))


def add_user(db, customer_raw: str, **fields) -> None:
    with db.unit_of_work() as s:
        users_service.create_user(s, OPERATOR, s.get(Customer, customer_raw), UserFields(**fields))


@pytest.fixture
def idle_client(db):
    """The API without the in-process worker: tasks stay queued until a test runs a worker."""
    app = create_app(Settings(database_url=db.url, inprocess_worker=False), database=db)
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def test_preview_classifies_every_row_writes_nothing_and_apply_matches(client, world, db):
    site = site_url(db, world.raw["ca"])
    add_user(db, world.raw["ca"], email="pekka.pouta@asiakas.example", first_name="Pekka", last_name="Pouta",
             package="webex_meetings", preferred_site_url=site)
    unchanged = person("pekka.pouta@asiakas.example", "Webex Meetings", jabber=False,
                       **{"Preferred Webex Site": site})
    modify = person(MATTI, "Webex Calling", jabber=False, Extension="1001", Location=HQ, Title="Päällikkö",
                    **{"Last Name": "Meikäläinen", "Preferred Webex Site": site, "Phone Number": "+358912345601"})
    content = csv_bytes([
        person("uusi.kayttaja@asiakas.example", "Webex Meetings", **{"Preferred Webex Site": site}),   # 2 add
        modify,                                                                                        # 3 modify
        person(MAIJA, None, jabber=False, **{h: "FALSE" for h in PACKAGE_HEADERS}),                    # 4 delete
        unchanged,                                                                                     # 5 unchanged
        person("ei.sijaintia@asiakas.example", "Webex Calling", Extension="2500"),                   # 6 error
        person("varoitus@asiakas.example", "Webex Meetings"),                                          # 7 warning
        person("soittaja@asiakas.example", "Webex Calling", Extension="2501", Location=HQ,
               **{"Preferred Webex Site": site}),                                                      # 8 add
    ])
    before, audit_before = state(db, world.raw["ca"]), audit_count(db)
    preview, rs = run(client, world, content, mode="add-remove", preview=True)
    # NOTHING consumed or written by the preview: users, package use, audit trail of user changes
    assert state(db, world.raw["ca"]) == before
    assert audit_count(db) == audit_before
    assert preview["type"] == "csv_preview" and preview["status"] == "completed_with_errors"

    assert {line: r["outcome"] for line, r in rs.items()} == {
        2: "add", 3: "modify", 4: "delete", 5: "unchanged", 6: "error", 7: "add", 8: "add"}, rs
    assert rs[3]["changes"] == ["Title", "Preferred Webex Site"], rs[3]
    assert {"User ID/Email (Required)", "Webex Meetings", "Preferred Webex Site"} <= set(rs[2]["changes"])
    assert rs[5]["messages"] == [] and rs[5]["changes"] == []
    assert warnings_of(rs[6]), rs[6]  # an error row keeps its warnings, but counts as an error only
    error = errors_of(rs[6])
    assert rs[6]["line"] == 6 and error[0]["column"] == "Location" and error[0]["message"], rs[6]
    assert [w["column"] for w in warnings_of(rs[7])] == ["Preferred Webex Site"] and not errors_of(rs[7])
    assert preview["counts"] == {"added": 3, "modified": 1, "deleted": 1, "unchanged": 1, "failed": 1,
                                 "warnings": 1}, preview["counts"]
    assert preview["progress"] == {"rowsDone": 7, "totalRows": 7, "percent": 100.0}
    # the filters of /rows agree with the totals
    for outcome, count in (("add", 3), ("modify", 1), ("delete", 1), ("unchanged", 1), ("error", 1), ("warning", 1)):
        assert len(rows(client, world, preview["id"], outcome=outcome)) == count, outcome
    # the allocation each package would end at
    would = preview["allocations"]
    assert would["webex_calling"] == {"used": before["used"]["webex_calling"] + 1, "allocation": 20}
    assert would["webex_meetings"] == {"used": before["used"]["webex_meetings"] + 2 - 1, "allocation": 50}

    # apply the previewed file: same outcomes, now written
    r = client.post(f"/v1/tasks/{preview['id']}/apply", headers=world.auth("a_full"))
    assert r.status_code == 202, r.text
    assert r.json()["previewOf"] == preview["id"] and r.json()["type"] == "csv_import"
    applied = wait(client, world, r.json()["id"])
    applied_rows = rows(client, world, applied["id"])
    assert applied_rows == rs
    assert applied["counts"] == preview["counts"]
    assert applied["allocations"] == would
    assert used(db, world.raw["ca"], "webex_calling") == would["webex_calling"]["used"]
    assert used(db, world.raw["ca"], "webex_meetings") == would["webex_meetings"]["used"]
    assert user(db, MAIJA) is None and user(db, MATTI).title == "Päällikkö"
    assert user(db, "ei.sijaintia@asiakas.example") is None
    assert audit_count(db) > audit_before
    # a preview can only be applied once it has completed, and an import is not a preview
    r = client.post(f"/v1/tasks/{applied['id']}/apply", headers=world.auth("a_full"))
    assert r.status_code == 400, r.text


def test_error_report_lists_failed_rows_and_fixed_file_applies(client, world, db):
    headers = ["Etunimi", "Sukunimi", EMAIL, "Jatkonumero", "Phone Number", "Location", "Jabber Calling",
               "Jabber with Webex Teams", "Webex Calling", "Webex Meetings"]
    base = {"Etunimi": "Äijä", "Sukunimi": "Öhman", "Jabber Calling": "FALSE", "Jabber with Webex Teams": "FALSE"}
    good1 = {**base, EMAIL: "ok1@asiakas.example", "Webex Calling": "FALSE", "Webex Meetings": "TRUE"}
    bad1 = {**base, EMAIL: "bad1@asiakas.example", "Phone Number": "358401234601", "Location": HQ,
            "Webex Calling": "TRUE", "Webex Meetings": "FALSE"}
    good2 = {**base, EMAIL: "ok2@asiakas.example", "Jatkonumero": "2601", "Location": HQ,
             "Webex Calling": "TRUE", "Webex Meetings": "FALSE"}
    bad2 = {**base, EMAIL: "bad2@asiakas.example", "Jatkonumero": "2602", "Webex Calling": "TRUE",
            "Webex Meetings": "FALSE"}
    task, rs = run(client, world, csv_bytes([good1, bad1, good2, bad2], headers), mode="add-remove", preview=False)
    assert [r["outcome"] for r in rs.values()] == ["add", "error", "add", "error"], rs

    r = client.get(f"/v1/tasks/{task['id']}/errors.csv", headers=world.auth("a_full"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    head, body = parse(r.content)
    # all original columns (by their canonical names) + Error; only the failed rows, cells as uploaded
    assert head == ["First Name", "Last Name", EMAIL, "Extension", "Phone Number", "Location", "Jabber Calling",
                    "Jabber with Webex Teams", "Webex Calling", "Webex Meetings", "Error"], head
    assert [row[2] for row in body] == ["bad1@asiakas.example", "bad2@asiakas.example"]
    assert body[0][:10] == ["Äijä", "Öhman", "bad1@asiakas.example", "", "358401234601", HQ, "FALSE", "FALSE",
                            "TRUE", "FALSE"]
    assert "+358401234601" in body[0][10] and "Location" in body[1][10], body

    # fix the rows in that very file (Error column left in place) and upload it again
    body[0][4] = "+358401234601"
    body[1][5] = HQ
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([head, *body])
    fixed = b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")
    task2, rs2 = run(client, world, fixed, mode="add-remove", preview=False)
    assert [r["outcome"] for r in rs2.values()] == ["add", "add"], rs2
    assert task2["status"] == "completed"
    assert user(db, "bad1@asiakas.example").phone_number == "+358401234601"
    assert user(db, "bad2@asiakas.example").extension == "2602"
    r = client.get(f"/v1/tasks/{task2['id']}/errors.csv", headers=world.auth("a_full"))
    assert parse(r.content)[1] == []


def test_export_reimports_with_zero_changes_and_template(client, world, db):
    site = site_url(db, world.raw["ca"])
    content = csv_bytes([
        person("åsa.öberg@asiakas.example", "Webex Calling", Extension="3001", Location=HQ, Title="=SUM(A1)",
               Department="Myynti, Pohjoinen", **{"First Name": "Åsa", "Last Name": "Öberg-Ärlig",
                                                   "Phone Number": "+358401234567", "Caller ID Number": "+358401234567",
                                                   "Preferred Webex Site": site, "Jabber Calling": "TRUE"}),
        person("jörö@asiakas.example", "Webex Suite", Extension="3002", Location=HQ,
               **{"First Name": "Jörö", "Last Name": "Äänekoski", "Phone Number": "+358 40 123 4568",
                  "Basic Messaging": "TRUE", "Manager": "-5"}),
        person("voice@asiakas.example", "Webex Voice", Extension="3003", Location=HQ),
        person("meet@asiakas.example", "Webex Meetings", **{"Preferred Language": "fi_FI", "Time zone": "Europe/Helsinki"}),
    ])
    task, rs = run(client, world, content, mode="add", preview=False)
    assert task["status"] == "completed", rs
    exported = client.get("/v1/userExport", params={"orgId": world.ids["ca_org"]}, headers=world.auth("a_full"))
    assert exported.status_code == 200, exported.text
    head, body = parse(exported.content)
    with db.unit_of_work(write=False) as s:
        subscription = s.get(Partner, world.raw["pa"]).subscription_id
    assert head == export_headers(subscription)  # licence columns carry the partner's subscription (issue 9)
    assert [h.split(" [")[0] for h in head] == HEADERS
    assert len(body) == 6  # the two world users + four
    assert "'+358401234567" in exported.content.decode("utf-8-sig")  # spreadsheet-safe, yet round-trips
    by_email = {row[3]: row for row in body}
    assert by_email["åsa.öberg@asiakas.example"][:2] == ["Åsa", "Öberg-Ärlig"]

    before = state(db, world.raw["ca"])
    preview, prs = run(client, world, exported.content, mode="add-remove", preview=True)
    assert {r["outcome"] for r in prs.values()} == {"unchanged"}, prs
    assert preview["counts"]["unchanged"] == 6 and preview["counts"]["failed"] == 0
    applied, ars = run(client, world, exported.content, mode="add-remove", preview=False)
    assert {r["outcome"] for r in ars.values()} == {"unchanged"}, ars
    assert applied["status"] == "completed"
    assert state(db, world.raw["ca"]) == before
    assert user(db, "åsa.öberg@asiakas.example").phone_number == "+358401234567"
    assert user(db, "åsa.öberg@asiakas.example").title == "=SUM(A1)"
    again = client.get("/v1/userExport", params={"orgId": world.ids["ca_org"]}, headers=world.auth("a_full"))
    assert again.content == exported.content

    t = client.get("/v1/userImports/template", headers=world.auth("a_full"))
    assert t.status_code == 200
    head, body = parse(t.content)
    assert head == template_headers() and body == []
    assert "User ID/Email (Required)" in head and "User Status" not in head
    assert upload(client, world, t.content).status_code == 202  # the template itself is a valid (empty) file


def _started_finished(task: dict) -> tuple[datetime, datetime]:
    return (datetime.fromisoformat(task["started"].replace("Z", "+00:00")),
            datetime.fromisoformat(task["finished"].replace("Z", "+00:00")))


def test_one_running_import_per_customer(idle_client, world, db):
    """R14: two imports of one customer queued, three workers: they never overlap; another
    customer's import is not held up by them."""
    client = idle_client
    set_allocation(db, world.raw["ca"], "webex_meetings", None)
    files = [csv_bytes([person(f"r14.{k}.{i}@asiakas.example", "Webex Meetings") for i in range(60)])
             for k in range(2)]
    first = upload(client, world, files[0], preview=False).json()
    second = upload(client, world, files[1], preview=False).json()
    other = upload(client, world, csv_bytes([person("muu@kund.example", "Webex Meetings")]), preview=False,
                   org=world.ids["cb_org"], who="b_full").json()
    workers = [Worker(db, poll_seconds=0.02, batch_rows=10) for _ in range(3)]
    threads = [w.start_thread() for w in workers]
    try:
        done = [wait(client, world, t["id"], who=who, timeout=60)
                for t, who in ((first, "a_full"), (second, "a_full"), (other, "b_full"))]
    finally:
        for w in workers:
            w.stop.set()
        for th in threads:
            th.join(timeout=10)
    assert [t["status"] for t in done] == ["completed"] * 3, done
    (s1, f1), (s2, f2) = _started_finished(done[0]), _started_finished(done[1])
    assert s2 >= f1 or s1 >= f2, done  # never both running at once
    assert done[0]["counts"]["added"] == done[1]["counts"]["added"] == 60
    # Not held up: the other customer's import started while ca's first one was still running (a worker was
    # free, and R14 holds back only the customer's own second import).
    s3, _ = _started_finished(done[2])
    assert s3 < min(f1, f2), f"the other customer's import waited for ca's imports: {done}"
    assert done[2]["counts"]["added"] == 1


def test_results_kept_until_deleted_and_cancel_queued(idle_client, world, db):
    client = idle_client
    content = csv_bytes([person("kept@asiakas.example", "Webex Meetings")])
    queued = upload(client, world, content, preview=False).json()
    assert queued["status"] == "queued"
    r = client.post(f"/v1/tasks/{queued['id']}/cancel", headers=world.auth("a_full"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    assert client.post(f"/v1/tasks/{queued['id']}/cancel", headers=world.auth("a_full")).status_code == 409
    assert Worker(db).run_once() is False  # nothing left to run: the cancelled task never starts
    assert user(db, "kept@asiakas.example") is None
    assert client.get(f"/v1/tasks/{queued['id']}", headers=world.auth("a_full")).json()["status"] == "cancelled"

    done = upload(client, world, content, preview=False).json()
    assert Worker(db).run_once() is True
    task = wait(client, world, done["id"])
    assert task["status"] == "completed" and user(db, "kept@asiakas.example") is not None
    listed = {t["id"]: t["status"] for t in client.get("/v1/tasks", headers=world.auth("a_full"),
                                                        params={"orgId": world.ids["ca_org"]}).json()["items"]}
    assert listed == {queued["id"]: "cancelled", done["id"]: "completed"}
    # results stay (no expiry) until deleted; a running task cannot be deleted, a finished one can
    assert len(rows(client, world, done["id"])) == 1
    assert client.delete(f"/v1/tasks/{done['id']}", headers=world.auth("a_readonly")).status_code == 403
    r = client.delete(f"/v1/tasks/{done['id']}", headers=world.auth("a_full"))
    assert r.status_code == 204 and r.content == b""
    for path in ("", "/rows", "/errors.csv"):
        assert client.get(f"/v1/tasks/{done['id']}{path}", headers=world.auth("a_full")).status_code == 404, path
    assert client.delete(f"/v1/tasks/{done['id']}", headers=world.auth("a_full")).status_code == 404
    # another partner cannot see the task at all
    assert client.get(f"/v1/tasks/{queued['id']}", headers=world.auth("b_full")).status_code == 404


def _licence(client, world, name: str) -> str:
    r = client.get("/v1/licenses", params={"orgId": world.ids["ca_org"]}, headers=world.auth("a_full"))
    assert r.status_code == 200, r.text
    return next(i["id"] for i in r.json()["items"] if i["name"] == name)


def test_manual_add_up_to_25_with_per_user_results(client, world, db):
    meetings = _licence(client, world, "Webex Meetings")
    calling = _licence(client, world, "Webex Calling")

    def people(n, prefix):
        return [{"emails": [f"{prefix}{i}@asiakas.example"], "firstName": "Testi", "lastName": f"Käyttäjä{i}",
                 "licenses": [meetings]} for i in range(n)]

    body = {"orgId": world.ids["ca_org"]}
    r = client.post("/v1/people/bulk", headers=world.auth("a_full"), json={**body, "people": people(26, "liikaa")})
    assert r.status_code == 400 and "25" in r.json()["message"], r.text
    assert user(db, "liikaa0@asiakas.example") is None
    r = client.post("/v1/people/bulk", headers=world.auth("a_full"), json={**body, "people": people(25, "joukko")})
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 25 and r.json()["failed"] == 0
    assert all(i["status"] == "created" and i["person"]["emails"] == [i["email"]] for i in r.json()["items"])
    assert used(db, world.raw["ca"], "webex_meetings") == 26

    # Webex Calling used up (1 of 1): refused with the allocation, the valid users of the request are created
    set_allocation(db, world.raw["ca"], "webex_calling", 1)
    loc = world.ids["loc_ca"]
    people3 = [
        {"emails": ["eka@asiakas.example"], "firstName": "Eka", "lastName": "Ensimmäinen", "licenses": [meetings]},
        {"emails": ["toka@asiakas.example"], "firstName": "Toka", "lastName": "Toinen", "licenses": [calling],
         "extension": "2700", "locationId": loc},
        {"emails": ["ei-sahkopostia"], "firstName": "Väärä", "lastName": "Osoite", "licenses": [meetings]},
        {"emails": ["kolmas@asiakas.example"], "firstName": "Kolmas", "lastName": "Kolmonen", "licenses": [meetings]},
    ]
    r = client.post("/v1/people/bulk", headers=world.auth("a_full"), json={**body, "people": people3})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["status"] for i in items] == ["created", "error", "error", "created"], items
    assert "1 of 1" in items[1]["message"] and "Webex Calling" in items[1]["message"], items[1]
    assert items[2]["email"] == "ei-sahkopostia" and items[2]["message"]
    assert r.json()["created"] == 2 and r.json()["failed"] == 2
    assert user(db, "eka@asiakas.example") and user(db, "kolmas@asiakas.example")
    assert user(db, "toka@asiakas.example") is None
    assert used(db, world.raw["ca"], "webex_calling") == 1
