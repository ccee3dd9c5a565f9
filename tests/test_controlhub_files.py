"""Issue 9 items 1-2: files as Control Hub exports them import (read-only values, the older service and hybrid
columns, `[subscription id]` suffixes, a site licence column), a wrong subscription or another organisation's
site refuses the whole file, a misspelt header gets a suggestion, our export round-trips, and an all-FALSE row
deletes a user only when the file has a column for every package the organisation holds; a preview lists
its deletions first. Through the API, the pages and the database, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import re

from sqlalchemy import select
from tests.bulk_support import (
    BASE_HEADERS,
    EMAIL,
    PACKAGE_HEADERS,
    csv_bytes,
    error_text,
    run,
    site_url,
    upload,
    warnings_of,
)
from tests.conftest import OPERATOR
from typer.testing import CliRunner

from rtmhub import ids
from rtmhub.cli.main import app as cli_app
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.locations.models import Location
from rtmhub.domain.partners.models import Partner
from rtmhub.domain.tasks.models import Task
from rtmhub.domain.users import service as users_service
from rtmhub.domain.users.models import User
from rtmhub.domain.users.schemas import UserFields
from rtmhub.settings import get_settings

MATTI = "matti.meikalainen@asiakas.example"
MAIJA = "maija.meikalainen@asiakas.example"
PASSWORD = "correct horse battery"

# Facts sheet 4a, in its order (read-only: User Status, Last Service Accessed Time, Days since ...).
HEADERS_4A = ["First Name", "Last Name", "Display Name", EMAIL, "User Status", "Last Service Accessed Time",
              "Days since Last Service Accessed", "Extension", "Title", "Department", "Manager", "Phone Number",
              "Caller ID Number", "Caller ID First Name", "Caller ID Last Name", "Location", "Preferred Language",
              "Time zone", "Address type", "Address country"]
# Facts sheet 4b, in export order, before the licence columns.
HEADERS_4B = ["Hybrid Calendar Service Resource Group", "Hybrid Call Service Resource Group", "Jabber with Webex Teams",
              "Jabber Calling", "UC Manager Profile", "Contact Migration Required", "Upgrade Profile",
              "Calling Behavior", "Calling Behavior UC Manager Profile", "Call Service Aware", "Call Service Connect",
              "Enterprise Content Management", "Hybrid Calendar Service (Exchange)", "Hybrid Calendar Service (Google)",
              "Hybrid Message Service", "Webex Meeting Assistant"]
LEGACY = [h for h in HEADERS_4B if not h.startswith("Jabber")]
PACKAGE_OF = {"webex_calling": "Webex Calling", "webex_calling_standard": "Webex Calling Standard",
              "webex_suite": "Webex Suite", "webex_voice": "Webex Voice", "webex_meetings": "Webex Meetings",
              "cx_essentials": "Customer Assist"}
BASE_OF = {"basic_messaging": "Basic Messaging", "basic_space_meetings": "Basic Space Meetings",
           "call_on_webex": "Call on Webex (1:1 call, non-PSTN)"}
EDITED = {MATTI: "Matti M. (Myynti)", "suite.user@asiakas.example": "Sanna Sviitti",
          "meet.user@asiakas.example": "Mikko Kokous"}


def subscription_of(db, world) -> str:
    with db.unit_of_work(write=False) as s:
        return s.get(Partner, world.raw["pa"]).subscription_id


def add_users(db, world) -> None:
    """Beside the world's Matti (Webex Calling) and Maija (Webex Meetings): a suite, a voice and a meetings
    user with titles, sites and base licences, so every kind of column carries a value."""
    site = site_url(db, world.raw["ca"])
    with db.unit_of_work() as s:
        customer = s.get(Customer, world.raw["ca"])
        for fields in (
            UserFields(email="suite.user@asiakas.example", first_name="Sanna", last_name="Sviitti",
                       display_name="Sanna S", package="webex_suite", extension="3001", phone_number="+358912345699",
                       location_id=world.raw["loc_ca"], preferred_site_url=site, title="Johtaja",
                       department="Hallinto", jabber_calling=True, basic_messaging=True),
            UserFields(email="voice.user@asiakas.example", first_name="Veikko", last_name="Ääni",
                       package="webex_voice", extension="3002", location_id=world.raw["loc_ca"], language="fi_FI"),
            UserFields(email="meet.user@asiakas.example", first_name="Mikko", last_name="Kokous",
                       display_name="Mikko K", package="webex_meetings", preferred_site_url=site,
                       manager=MATTI, timezone="Europe/Helsinki", jabber_with_teams=True),
        ):
            users_service.create_user(s, OPERATOR, customer, fields)
        # Matti and Maija get their site too, so the only row warning left is the one a test provokes (R23
        # warns otherwise).
        for raw in (world.raw["ua"], world.raw["um"]):
            users_service.update_user(s, OPERATOR, customer, s.get(User, raw), UserFields(preferred_site_url=site))


def everything(db, customer_raw: str) -> dict[str, dict]:
    """Every stored attribute of every user of the customer (the modification time aside)."""
    with db.unit_of_work(write=False) as s:
        return {u.email: {c.key: getattr(u, c.key) for c in User.__table__.columns if c.key != "last_modified"}
                for u in s.scalars(select(User).where(User.customer_id == customer_raw))}


def control_hub_file(db, world, *, subscription: str, edited: dict[str, str] | None = None,
                     status_of: dict[str, str] | None = None) -> bytes:
    """The customer's users written the way Control Hub exports them: 4a, 4b, 'Preferred Webex Site', the
    package and licence columns with '[subscription id]', and the customer's site licence column."""
    site = site_url(db, world.raw["ca"])
    licence_headers = [f"{h} [{subscription}]" for h in (*PACKAGE_HEADERS, *BASE_HEADERS)]
    site_header = f"{site} - WebEx Enterprise Edition [{subscription}]"
    other_licence = f"Webex Calling SP Enterprise [{subscription}]"  # 4b's example of a licence column
    headers = HEADERS_4A + HEADERS_4B + ["Preferred Webex Site"] + licence_headers + [other_licence, site_header]
    out = []
    with db.unit_of_work(write=False) as s:
        names = dict(s.execute(select(Location.id, Location.name)).all())
        for u in s.scalars(select(User).where(User.customer_id == world.raw["ca"]).order_by(User.email)):
            row = {
                "First Name": u.first_name or "", "Last Name": u.last_name or "",
                "Display Name": (edited or {}).get(u.email, u.display_name or ""), EMAIL: u.email,
                "User Status": (status_of or {}).get(u.email, u.status),
                "Last Service Accessed Time": "2026-11-20T08:15:09.064Z", "Days since Last Service Accessed": "6",
                "Extension": u.extension or "", "Title": u.title or "", "Department": u.department or "",
                "Manager": u.manager or "", "Phone Number": u.phone_number or "",
                "Caller ID Number": u.caller_id_number or "", "Caller ID First Name": u.caller_id_first_name or "",
                "Caller ID Last Name": u.caller_id_last_name or "", "Location": names.get(u.location_id or "", ""),
                "Preferred Language": u.language or "", "Time zone": u.timezone or "", "Address type": "Office",
                "Address country": "FI", "Jabber with Webex Teams": str(u.jabber_with_teams).upper(),
                "Jabber Calling": str(u.jabber_calling).upper(), "Preferred Webex Site": u.preferred_site_url or "",
                site_header: "TRUE" if u.preferred_site_url else "FALSE",
                other_licence: "TRUE" if u.package in ("webex_calling", "webex_suite") else "FALSE",
            }
            row.update({h: v for h, v in zip(LEGACY, ["RG-1", "RG-2", "UCM-Standard", "FALSE", "Default", "Webex",
                                                     "", "TRUE", "FALSE", "FALSE", "TRUE", "FALSE", "TRUE", "FALSE"],
                                              strict=True)})
            for package, header in PACKAGE_OF.items():
                row[f"{header} [{subscription}]"] = "TRUE" if u.package == package else "FALSE"
            for name, header in BASE_OF.items():
                row[f"{header} [{subscription}]"] = "TRUE" if getattr(u, name) else "FALSE"
            out.append(row)
    return csv_bytes(out, headers)


def test_control_hub_export_imports_as_exactly_three_modifications(client, world, db):
    add_users(db, world)
    subscription = subscription_of(db, world)
    before = everything(db, world.raw["ca"])
    assert len(before) == 5
    content = control_hub_file(db, world, subscription=subscription, edited=EDITED,
                               status_of={MAIJA: "Active"})  # a status Control Hub would show: a warning only

    preview, prs = run(client, world, content, mode="add-remove", preview=True)
    assert everything(db, world.raw["ca"]) == before  # a preview changes nothing
    applied, ars = run(client, world, content, mode="add-remove", preview=False)
    for task, results in ((preview, prs), (applied, ars)):
        assert task["status"] == "completed", results
        assert task["counts"] == {"added": 0, "modified": 3, "deleted": 0, "unchanged": 2, "failed": 0,
                                  "warnings": 1}, results
        assert task["deletions"] == 0
        by_email = {r["email"]: r for r in results.values()}
        assert {e for e, r in by_email.items() if r["outcome"] == "modify"} == set(EDITED)
        assert all(r["changes"] == ["Display Name"] for e, r in by_email.items() if e in EDITED), results
        assert [(w["column"], "read-only" in w["message"]) for w in warnings_of(by_email[MAIJA])] == [
            ("User Status", True)]
        # ONE file-level notice naming every ignored column (4b's older ones, 4a's address ones, the site's)
        assert len(task["notices"]) == 1, task["notices"]
        notice = task["notices"][0]["message"]
        for header in [*LEGACY, "Address type", "Address country", "WebEx Enterprise Edition",
                       "Webex Calling SP Enterprise"]:
            assert header in notice, (header, notice)
        assert "Jabber" not in notice and "Last Service" not in notice

    after = everything(db, world.raw["ca"])
    assert set(after) == set(before)
    for email, attributes in before.items():
        expected = dict(attributes, display_name=EDITED[email]) if email in EDITED else attributes
        assert after[email] == expected, email

    # the same file again: nothing left to change
    again, rs = run(client, world, control_hub_file(db, world, subscription=subscription), mode="add-remove",
                    preview=False)
    assert again["counts"]["unchanged"] == 5 and again["counts"]["modified"] == 0, rs


def test_wrong_subscription_id_refuses_the_whole_file(client, world, db):
    add_users(db, world)
    subscription = subscription_of(db, world)
    before = everything(db, world.raw["ca"])
    good = control_hub_file(db, world, subscription=subscription, edited=EDITED)
    bad = good.replace(f"Webex Meetings [{subscription}]".encode(), b"Webex Meetings [NOSUCHSUB-999]", 1)
    assert bad != good
    for preview in (True, False):
        r = upload(client, world, bad, mode="add-remove", preview=preview)
        assert r.status_code == 400, r.text
        message = r.json()["message"]
        assert "Webex Meetings [NOSUCHSUB-999]" in message and f"'{subscription}'" in message, message
        assert any("NOSUCHSUB-999" in e["description"] for e in r.json()["errors"])
    assert client.get("/v1/tasks", headers=world.auth("a_full")).json()["items"] == []  # nothing stored
    with db.unit_of_work(write=False) as s:
        assert s.scalars(select(Task)).all() == []
    assert everything(db, world.raw["ca"]) == before
    # A site licence column of another organisation's site: refused the same way, naming the site.
    other = site_url(db, world.raw["cb"])
    foreign = good.replace(site_url(db, world.raw["ca"]).encode() + b" - WebEx", other.encode() + b" - WebEx", 1)
    r = upload(client, world, foreign, mode="add-remove", preview=False)
    assert r.status_code == 400 and other in r.json()["message"] and "not a site" in r.json()["message"], r.text
    assert everything(db, world.raw["ca"]) == before


def test_misspelt_header_is_refused_with_a_suggestion(client, world, db):
    subscription = subscription_of(db, world)
    content = csv_bytes([{EMAIL: MAIJA, "Frist Name": "Maija", f"Webex Meetngs [{subscription}]": "TRUE"}],
                        [EMAIL, "Frist Name", f"Webex Meetngs [{subscription}]", "Favourite Colour"])
    r = upload(client, world, content, mode="add-remove", preview=True)
    assert r.status_code == 400, r.text
    message = r.json()["message"]
    assert "'Frist Name' (did you mean 'First Name'?)" in message, message
    assert f"(did you mean 'Webex Meetings [{subscription}]'?)" in message, message
    assert "'Favourite Colour'" in message and "'Favourite Colour' (did you mean" not in message
    assert client.get("/v1/tasks", headers=world.auth("a_full")).json()["items"] == []


def test_our_export_round_trips(client, world, db):
    add_users(db, world)
    with db.unit_of_work() as s:  # a user holding no package: exported with empty package cells, not all FALSE
        users_service.create_user(s, OPERATOR, s.get(Customer, world.raw["ca"]), UserFields(
            email="ei.pakettia@asiakas.example", first_name="Eino", last_name="Paketiton"))
    subscription = subscription_of(db, world)
    exported = client.get("/v1/userExport", params={"orgId": world.ids["ca_org"]}, headers=world.auth("a_full"))
    assert exported.status_code == 200, exported.text
    head = exported.content.decode("utf-8-sig").splitlines()[0].split(",")
    assert f"Webex Calling [{subscription}]" in head and f"Basic Messaging [{subscription}]" in head
    assert "User Status" in head and "Last Service Accessed Time" in head
    before = everything(db, world.raw["ca"])
    for preview in (True, False):
        task, rs = run(client, world, exported.content, mode="add-remove", preview=preview)
        assert task["status"] == "completed" and task["counts"]["unchanged"] == 6, rs
        assert {r["outcome"] for r in rs.values()} == {"unchanged"}, rs
        assert not [r["messages"] for r in rs.values() if r["messages"]], rs
        assert task["notices"] == []
    assert everything(db, world.raw["ca"]) == before


def _sign_in(client, email: str) -> None:
    page = client.get("/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/signin", data={"csrf_token": token, "email": email, "password": PASSWORD, "next": "/"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text


def test_only_some_package_columns_never_delete(client, world, db):
    """Only 'Webex Meetings' = FALSE: the Webex Calling user (and the Meetings user too) is a row error naming
    the missing columns, in preview and import alike; with a column for every package the organisation holds
    (not Customer Assist, which it does not), all FALSE deletes, and the preview lists the deletions first."""
    before = everything(db, world.raw["ca"])
    partial = csv_bytes([{EMAIL: MATTI, "Webex Meetings": "FALSE"}, {EMAIL: MAIJA, "Webex Meetings": "FALSE"},
                         {EMAIL: "ei.ketaan@asiakas.example", "Webex Meetings": "TRUE", "Jabber Calling": "FALSE",
                          "Jabber with Webex Teams": "FALSE"}])
    for preview in (True, False):
        task, rs = run(client, world, partial, mode="add-remove", preview=preview)
        assert (task["counts"]["deleted"], task["counts"]["failed"], task["deletions"]) == (0, 2, 0), rs
        for line in (2, 3):
            assert rs[line]["outcome"] == "error", rs[line]
            text = error_text(rs[line])
            for missing in ("'Webex Calling'", "'Webex Suite'", "'Webex Voice'"):
                assert missing in text, text
            assert "'Webex Meetings'" not in text and "Customer Assist" not in text, text
        assert rs[4]["outcome"] == "add"
    after = everything(db, world.raw["ca"])
    assert after[MATTI] == before[MATTI] and after[MAIJA] == before[MAIJA]

    held = ["Webex Calling", "Webex Suite", "Webex Voice", "Webex Meetings"]
    complete = csv_bytes([{EMAIL: "ei.ketaan@asiakas.example", "Webex Meetings": "TRUE"},
                          {EMAIL: MATTI, **{h: "FALSE" for h in held}},
                          {EMAIL: MAIJA, **{h: "FALSE" for h in held}}], [EMAIL, *held])
    preview, prs = run(client, world, complete, mode="add-remove", preview=True)
    assert preview["deletions"] == 2 and preview["counts"]["deleted"] == 2, prs
    listed = client.get(f"/v1/tasks/{preview['id']}/rows", headers=world.auth("a_full")).json()["items"]
    assert [(r["line"], r["outcome"]) for r in listed] == [(3, "delete"), (4, "delete"), (2, "unchanged")]
    # The task page: the deletions and their count before anything else (the progress card follows).
    _sign_in(client, "full@a.example")
    page = client.get(f"/tasks/{ids.raw('TASK', preview['id'])}", params={"lang": "en"})
    assert page.status_code == 200, page.text
    html = page.text
    assert 'id="deletions"' in html and "Deletions: 2" in html
    assert html.index('id="deletions"') < html.index('id="task"') < html.index('id="rows"')
    assert html.index(MATTI, html.index('id="deletions"')) < html.index('id="task"')
    assert user_exists(db, MATTI) and user_exists(db, MAIJA)  # a preview deletes nothing

    applied, ars = run(client, world, complete, mode="add-remove", preview=False)
    assert applied["counts"]["deleted"] == 2 and [r["outcome"] for r in ars.values()] == [
        "unchanged", "delete", "delete"], ars
    assert not user_exists(db, MATTI) and not user_exists(db, MAIJA)


def test_ignored_columns_notice_on_the_task_page(client, world, db):
    subscription = subscription_of(db, world)
    content = control_hub_file(db, world, subscription=subscription)
    task, _ = run(client, world, content, mode="add-remove", preview=True)
    _sign_in(client, "full@a.example")
    html = client.get(f"/tasks/{ids.raw('TASK', task['id'])}", params={"lang": "en"}).text
    assert "were ignored" in html and "Call Service Aware" in html
    assert 'id="deletions"' not in html  # nothing is deleted: no deletions card
    fi = client.get(f"/tasks/{ids.raw('TASK', task['id'])}", params={"lang": "fi"}).text
    assert "ohitettiin" in fi, "the notice is translated"


def user_exists(db, email: str) -> bool:
    with db.unit_of_work(write=False) as s:
        return s.scalar(select(User.id).where(User.email_key == email.lower())) is not None


def test_cli_shows_subscription_notice_and_deletions(db, world, monkeypatch, tmp_path):
    """`rtmhub partners list --json` has the subscription the headers must carry; `users import --dry-run`
    prints the ignored-columns notice and, first, what the file would delete."""
    monkeypatch.setenv("RTMHUB_DATABASE_URL", db.url)
    get_settings.cache_clear()
    cli = CliRunner()
    try:
        result = cli.invoke(cli_app, ["partners", "list", "--json"])
        assert result.exit_code == 0, result.output
        listed = {p["name"]: p for p in json.loads(result.output)}
        subscription = subscription_of(db, world)
        assert listed["Partner A"]["subscriptionId"] == subscription
        hub = tmp_path / "hub.csv"
        hub.write_bytes(control_hub_file(db, world, subscription=subscription))
        result = cli.invoke(cli_app, ["users", "import", str(hub), "--customer", world.ids["ca_org"], "--mode",
                                      "add-remove", "--dry-run"])
        assert "were ignored" in result.output and "Call Service Aware" in result.output, result.output
        assert "Deletions" not in result.output
        held = ["Webex Calling", "Webex Suite", "Webex Voice", "Webex Meetings"]
        deleting = tmp_path / "delete.csv"
        deleting.write_bytes(csv_bytes([{EMAIL: MAIJA, **{h: "FALSE" for h in held}}], [EMAIL, *held]))
        result = cli.invoke(cli_app, ["users", "import", str(deleting), "--customer", world.ids["ca_org"], "--mode",
                                      "add-remove", "--dry-run"])
        assert result.exit_code == 0, result.output
        assert result.output.index("Deletions: 1") < result.output.index("Result"), result.output
        assert user_exists(db, MAIJA)
    finally:
        get_settings.cache_clear()
