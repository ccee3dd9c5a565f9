"""The usage pages over HTTP (no browser), on SQLite and PostgreSQL: the Partner Hub's Reports page and a
customer's Control Hub Licences page draw the figures of a small known ledger, in English and Finnish, and
keep to the caller's scope."""
from __future__ import annotations

import html
import re
import uuid
from datetime import datetime, time, timedelta

import pytest
from babel.dates import format_date
from sqlalchemy import delete, insert

from rtmhub.app import create_app
from rtmhub.db import UTC, utcnow
from rtmhub.domain.usage.models import AllocationInterval, PackageInterval
from rtmhub.settings import Settings
from tests.web.test_pages import sign_in

TITLE = {"en": "Units in use per package", "fi": "Käytössä olevat yksiköt paketeittain"}


def at(day, hour: int = 0) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


@pytest.fixture
def app(db):
    """No worker thread: the billing test makes its report with the worker's step itself, in its own time."""
    return create_app(Settings(database_url=db.url, inprocess_worker=False), database=db)


@pytest.fixture
def ledger(world):
    """A known ledger over the last 90 days (the page's default period), replacing whatever the world's
    creation wrote: day 0 is the period's first day, today its last (day 89)."""
    today = utcnow().date()
    first = today - timedelta(days=89)
    raw = world.raw

    def held(partner, customer, package, started, ended=None):
        return {"partner_id": partner, "customer_id": customer, "user_id": str(uuid.uuid4()),
                "email": f"{uuid.uuid4().hex[:8]}@example.com", "package": package, "started": started,
                "ended": ended}

    rows = [
        # Asiakas Oy (partner A): calling held by one user from day 10 on, by a second on days 20..29 (its
        # interval ends at midnight starting day 30, so day 30 is not counted); meetings on days 0..5.
        held(raw["pa"], raw["ca"], "webex_calling", at(first + timedelta(days=10), 8)),
        held(raw["pa"], raw["ca"], "webex_calling", at(first + timedelta(days=20), 12),
             at(first + timedelta(days=30))),
        held(raw["pa"], raw["ca"], "webex_meetings", at(first - timedelta(days=5)), at(first + timedelta(days=5), 10)),
        # Alihankkija Oy (sub-partner A1): meetings every day.
        held(raw["pa1"], raw["ca1"], "webex_meetings", at(first - timedelta(days=1))),
        # Kund AB (partner B): calling every day, never on partner A's pages.
        held(raw["pb"], raw["cb"], "webex_voice", at(first - timedelta(days=100))),
    ]
    names = {raw["ca"]: "Asiakas Oy", raw["ca1"]: "Alihankkija Oy", raw["cb"]: "Kund AB"}
    partners_of = {raw["ca"]: raw["pa"], raw["ca1"]: raw["pa1"], raw["cb"]: raw["pb"]}
    with world.db.unit_of_work() as s:
        s.execute(delete(PackageInterval))
        s.execute(delete(AllocationInterval))
        s.execute(insert(PackageInterval), rows)
        s.execute(insert(AllocationInterval), [
            {"partner_id": partners_of[cid], "customer_id": cid, "org_id": cid, "customer_name": name,
             "external_id": "X", "package": "webex_meetings", "allocation": None,
             "started": at(first - timedelta(days=200)), "ended": None} for cid, name in names.items()])
    return first


def day_row(page: str, label: str) -> list[str]:
    """The figures of one day's row in the daily table."""
    row = re.search(r'<tr><th scope="row">' + re.escape(label) + r"</th>(.*?)</tr>", page, re.S)
    assert row, f"no row for {label}"
    return re.findall(r'<td class="num"[^>]*>([^<]*)</td>', row.group(1))


def customer_rows(page: str) -> list[tuple[str, str, str, str]]:
    table = re.search(r'<table class="list compact" id="customer-usage">(.*?)</table>', page, re.S)
    if table is None:
        return []
    out = []
    for row in re.findall(r"<tr data-customer=[^>]*>(.*?)</tr>", table.group(1), re.S):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
                 for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        out.append(tuple(cells))
    return out


@pytest.mark.parametrize("lang", ["en", "fi"])
def test_reports_page_shows_the_ledger_per_package_and_customer(client, world, ledger, lang):
    first = ledger
    sign_in(client, "full@a.example")
    response = client.get(f"/reports?lang={lang}")
    assert response.status_code == 200
    page = response.text
    assert TITLE[lang] in page
    chart = re.search(r'<svg class="chart usage-chart" id="usage".*?</svg>', page, re.S).group(0)
    assert 'role="img"' in chart and 'aria-labelledby="usage-title usage-desc"' in chart
    # one line per package in partner A's tree, in catalogue order; Kund AB's Webex Voice is not there
    assert re.findall(r'data-package="([a-z_]+)"', chart) == ["webex_calling", "webex_meetings"]
    day = {n: format_date(first + timedelta(days=n), "medium", locale=lang) for n in (0, 5, 6, 10, 25, 30, 89)}
    # calling, meetings on each day: meetings counts Asiakas Oy's user on days 0..5 and Alihankkija Oy's always
    assert day_row(page, day[0]) == ["0", "2"]
    assert day_row(page, day[5]) == ["0", "2"]
    assert day_row(page, day[6]) == ["0", "1"]
    assert day_row(page, day[10]) == ["1", "1"]
    assert day_row(page, day[25]) == ["2", "1"]
    assert day_row(page, day[30]) == ["1", "1"]
    assert day_row(page, day[89]) == ["1", "1"]
    names = {"en": ("Webex Calling", "Webex Meetings"), "fi": ("Webex Calling", "Webex Meetings")}[lang]
    comma = "," if lang == "fi" else "."
    # peak; average = unit-days / 90: calling 80 + 10 = 90 -> 1, meetings 6 -> 0.07, Alihankkija 90 -> 1
    assert customer_rows(page) == [("Alihankkija Oy", names[1], "1", "1"),
                                   ("Asiakas Oy", names[0], "2", "1"),
                                   ("Asiakas Oy", names[1], "1", f"0{comma}07")]


def test_reports_page_keeps_to_the_callers_scope(client, world, ledger):
    sign_in(client, "full@a.example")
    page = client.get(f"/reports?sub={world.raw['pa1']}").text
    assert [r[0] for r in customer_rows(page)] == ["Alihankkija Oy"]
    assert client.get(f"/reports?sub={world.raw['pb']}").status_code == 404  # another partner is no sub-partner
    assert client.get("/reports?sub=not-an-id").status_code == 404
    assert client.get(f"/customers/{world.raw['cb']}/hub/licences").status_code == 404
    # the other partner sees only its own customer
    client.cookies.clear()
    sign_in(client, "full@b.example")
    page = client.get("/reports").text
    assert customer_rows(page) == [("Kund AB", "Webex Voice", "1", "1")]
    assert re.findall(r'<polyline class="series [^"]*" data-package="([a-z_]+)"', page) == ["webex_voice"]
    # the sub-partner's admin does not see its parent's customers
    client.cookies.clear()
    sign_in(client, "full@a1.example")
    assert [r[0] for r in customer_rows(client.get("/reports").text)] == ["Alihankkija Oy"]
    # a customer admin has no Reports page, and only its own customer's Licences page
    client.cookies.clear()
    sign_in(client, "admin@asiakas.example")
    assert client.get("/reports").status_code == 403
    assert client.get(f"/customers/{world.raw['ca']}/hub/licences").status_code == 200
    assert client.get(f"/customers/{world.raw['ca1']}/hub/licences").status_code == 404


def licence_rows(page: str) -> dict[str, list[str]]:
    table = re.search(r'<table class="list compact" id="licence-use">(.*?)</table>', page, re.S).group(1)
    return {package: [html.unescape(c).strip() for c in re.findall(r"<td[^>]*>([^<]*)</td>", row)]
            for package, row in re.findall(r'<tr data-package="([a-z_]+)">(.*?)</tr>', table, re.S)}


@pytest.mark.parametrize("lang", ["en", "fi"])
def test_licences_page_shows_one_customer(client, world, ledger, lang):
    first = ledger
    sign_in(client, "admin@asiakas.example")
    response = client.get(f"/customers/{world.raw['ca']}/hub/licences?lang={lang}")
    assert response.status_code == 200
    page = response.text
    assert TITLE[lang] in page
    assert re.findall(r'<polyline class="series [^"]*" data-package="([a-z_]+)"', page) == ["webex_calling",
                                                                                              "webex_meetings"]
    # only Asiakas Oy's own figures: meetings is 1 on days 0..5 (Alihankkija Oy's user is not counted)
    assert day_row(page, format_date(first, "medium", locale=lang)) == ["0", "1"]
    assert day_row(page, format_date(first + timedelta(days=25), "medium", locale=lang)) == ["2", "0"]
    rows = licence_rows(page)
    unlimited = "unlimited" if lang == "en" else "rajoittamaton"
    comma = "," if lang == "fi" else "."
    # in use now (the customer's counters: Matti holds calling, Maija meetings), allocation, peak, average
    assert rows["webex_calling"] == ["1", "20", "2", "1"]
    assert rows["webex_meetings"] == ["1", "50", "1", f"0{comma}07"]
    assert rows["webex_suite"] == ["0", unlimited, "0", "0"]
    # a shorter period: the last 30 days hold calling from one user every day
    page = client.get(f"/customers/{world.raw['ca']}/hub/licences?days=30&lang={lang}").text
    assert licence_rows(page)["webex_calling"][2:] == ["1", "1"]
    assert page.count('<tr><th scope="row">') == 30


# --- billing reports through the page --------------------------------------------------------

def report_ids(page: str) -> list[str]:
    return re.findall(r'<tr data-report="([0-9a-f-]+)">', page)


def create(client, token: str, **fields) -> object:
    return client.post("/reports", data={"csrf_token": token, **fields}, follow_redirects=False)


@pytest.mark.parametrize("lang", ["en", "fi"])
def test_billing_reports_are_created_listed_downloaded_and_deleted_on_the_page(client, world, ledger, lang):
    from rtmhub.jobs import billing as billing_jobs  # the worker's step, run here instead of a thread

    first = ledger
    yesterday = utcnow().date() - timedelta(days=1)
    sign_in(client, "full@a.example")
    page = client.get(f"/reports?lang={lang}").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert report_ids(page) == []
    # without the form's CSRF token: refused, nothing made
    assert client.post("/reports", data={"from": first.isoformat(), "to": yesterday.isoformat()}).status_code == 403
    # R50 and the page's own date check, shown by field in the page's language
    wrong = create(client, token, **{"from": yesterday.isoformat(), "to": first.isoformat(), "type": "PARTNER"})
    assert wrong.status_code == 400
    error = re.search(r'<p class="error" id="e-to">([^<]*)</p>', wrong.text).group(1)
    assert ("is before" if lang == "en" else "on ennen") in html.unescape(error)
    today = create(client, token, **{"from": first.isoformat(), "to": utcnow().date().isoformat()})
    assert today.status_code == 400 and 'id="e-to"' in today.text
    bad = create(client, token, **{"from": "31.1.2026", "to": yesterday.isoformat()})
    assert bad.status_code == 400
    assert ("YYYY-MM-DD" if lang == "en" else "VVVV-KK-PP") in re.search(r'id="e-from">([^<]*)<', bad.text).group(1)
    odd = create(client, token, **{"from": first.isoformat(), "to": yesterday.isoformat(), "type": "BOGUS"})
    assert odd.status_code == 400 and 'role="alert"' in odd.text
    for value in ("", "x" * 5000, "%", "<script>", "2026-02-30", "-1", "\U0001F600", "9999-12-31"):
        answer = create(client, token, **{"from": value, "to": value, "type": value, "subPartner": value})
        assert answer.status_code in (400, 404), (value, answer.status_code)
    for path in ("/reports?days=abc&page=-1&rpage=zz&sort=nope", "/reports?days=365&sort=status"):
        assert client.get(path).status_code == 200, path
    assert report_ids(client.get("/reports").text) == []
    # a good one: listed in progress, made by the worker, then downloadable
    made = create(client, token, **{"from": first.isoformat(), "to": yesterday.isoformat(), "type": "PARTNER"})
    assert made.status_code == 303 and made.headers["location"] == "/reports?done=created#billing"
    page = client.get("/reports").text
    (report,) = report_ids(page)
    assert ("In progress" if lang == "en" else "Kesken") in page
    assert f"/reports/{report}/download" not in page
    assert billing_jobs.run_pending(world.db, "page-tests", timedelta(minutes=5))
    page = client.get("/reports").text
    assert f'href="/reports/{report}/download"' in page and ("Completed" if lang == "en" else "Valmis") in page
    download = client.get(f"/reports/{report}/download")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    lines = download.text.splitlines()
    # the report counts as the page does: Asiakas Oy's calling peaked at 2 units, 89 unit-days over 89 days
    calling = [line for line in lines if "Asiakas Oy" in line and "webex_calling" in line]
    assert len(calling) == 1 and ",2,1.00," in calling[0], calling
    # a report for the sub-partner's customers only
    assert create(client, token, **{"from": first.isoformat(), "to": yesterday.isoformat(), "type": "USER",
                                    "subPartner": world.raw["pa1"]}).status_code == 303
    page = client.get("/reports").text
    assert len(report_ids(page)) == 2 and "Partner A1" in page
    # another partner neither downloads nor deletes it
    client.cookies.clear()
    sign_in(client, "full@b.example")
    other = client.get("/reports").text
    assert report_ids(other) == []
    assert client.get(f"/reports/{report}/download").status_code == 404
    other_token = re.search(r'name="csrf_token" value="([^"]+)"', other).group(1)
    assert client.post(f"/reports/{report}/delete", data={"csrf_token": other_token}).status_code == 404
    # the read-only administrator sees the list without delete buttons and is refused a delete
    client.cookies.clear()
    sign_in(client, "ro@a.example")
    page = client.get("/reports").text
    assert len(report_ids(page)) == 2 and 'action="/reports/' not in page and 'id="create-report"' not in page
    ro_token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post(f"/reports/{report}/delete", data={"csrf_token": ro_token}).status_code == 403
    # the full administrator deletes it (CSRF checked first)
    client.cookies.clear()
    sign_in(client, "full@a.example")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/reports").text).group(1)
    assert client.post(f"/reports/{report}/delete", data={"csrf_token": "forged"}).status_code == 403
    deleted = client.post(f"/reports/{report}/delete", data={"csrf_token": token}, follow_redirects=False)
    assert deleted.status_code == 303
    assert report not in report_ids(client.get("/reports").text)
    assert client.get(f"/reports/{report}/download").status_code == 404
    # a customer administrator has no billing reports
    client.cookies.clear()
    sign_in(client, "admin@asiakas.example")
    assert client.post("/reports", data={"csrf_token": "x"}).status_code == 403
