"""The audit log pages over HTTP, on SQLite and PostgreSQL: the customer's (Control Hub) and the partner's
(Partner Hub) log, filters, paging, CSV download, Finnish, and tenancy (foreign customers are 404)."""
from __future__ import annotations

import csv
import html
import io
import re

from tests.web.test_pages import sign_in

from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.customers import service as customers

OPERATOR = Caller.operator("web-tests")


def _rename(client, world, person: str, name: str, who: str = "a_full") -> None:
    resp = client.put(f"/v1/people/{person}", json={"displayName": name}, headers=world.auth(who))
    assert resp.status_code == 200, resp.text


def _text(resp) -> str:
    """The page's events table (and error messages) as text; the filter form's action list is left out."""
    found = re.search(r'<div class="alert" role="alert" id="audit-problems">.*?</div>|<table class="list" '
                      r'id="audit-events">.*?</table>|<p class="muted">[^<]*</p>', resp.text, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(0) if found else ""))


def test_customer_page_shows_who_when_what_and_the_difference(client, world):
    _rename(client, world, world.ids["um"], "Maija A")
    sign_in(client, "full@a.example")
    ca = world.raw["ca"]
    detail = client.get(f"/customers/{ca}")  # the Partner Hub customer page's recent events lead here
    assert f'<a href="/customers/{ca}/hub/audit">Open the audit log</a>' in detail.text
    page = client.get(f"/customers/{ca}/hub/audit")
    assert page.status_code == 200
    text = _text(page)
    assert "User changed" in text and "full@a.example" in text
    assert "Display name: Maija Meikäläinen → Maija A" in text
    assert "User added" in text and "E-mail: matti.meikalainen@asiakas.example" in text
    assert "Customer onboarded" in text
    hub = client.get(f"/customers/{ca}/hub/users", params={"lang": "fi"})
    assert f'<a href="/customers/{ca}/hub/audit">Tapahtumaloki</a>' in hub.text  # in the Control Hub navigation
    fi = _text(client.get(f"/customers/{ca}/hub/audit"))
    assert "Käyttäjää muutettiin" in fi
    assert "Näyttönimi: Maija Meikäläinen → Maija A" in fi and "Käyttäjä lisättiin" in fi
    assert "Paketin Webex Suite määrä: rajoittamaton" in fi and "unlimited" not in fi


def test_filters_narrow_and_bad_input_says_what_to_fix(client, world):
    _rename(client, world, world.ids["um"], "Maija A")
    sign_in(client, "full@a.example")
    url = f"/customers/{world.raw['ca']}/hub/audit"
    only = _text(client.get(url, params={"action": "user.update"}))
    assert "User changed" in only and "User added" not in only and "Customer onboarded" not in only
    by_user = _text(client.get(url, params={"email": "matti."}))
    assert "matti.meikalainen@asiakas.example" in by_user and "maija.meikalainen" not in by_user
    assert "No events match." in _text(client.get(url, params={"to": "2020-01-01"}))
    assert "User changed" in _text(client.get(url, params={"actor": "full@a.example", "from": "2020-01-01"}))
    bad = client.get(url, params={"from": "2026-02-30"})
    assert bad.status_code == 400 and "'2026-02-30' is not a date; write it as YYYY-MM-DD" in _text(bad)
    bad_fi = client.get(url, params={"from": "2026-02-30", "lang": "fi"})
    assert bad_fi.status_code == 400 and "Alkaen: '2026-02-30' ei ole päivämäärä" in _text(bad_fi)
    assert client.get(url + ".csv", params={"to": "nope"}).status_code == 400


def test_csv_download_follows_the_filters(client, world):
    _rename(client, world, world.ids["um"], "=Maija")
    sign_in(client, "full@a.example")
    url = f"/customers/{world.raw['ca']}/hub/audit"
    page = client.get(url, params={"action": "user.update"})
    link = html.unescape(re.search(r'id="audit-csv" href="([^"]+)"', page.text).group(1))
    assert link == url + ".csv?action=user.update"
    resp = client.get(link)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert row["Changes"] == "Display name: Maija Meikäläinen → =Maija" and row["Actor"] == "full@a.example"


def test_partner_page_shows_its_tree_and_nothing_of_other_partners(client, world):
    _rename(client, world, world.ids["ua1"], "Aino A", who="a1_full")
    _rename(client, world, world.ids["ub"], "Sven S", who="b_full")
    sign_in(client, "full@a.example")
    home = client.get("/")
    assert 'href="/audit"' in home.text  # in the Partner Hub navigation
    text = _text(client.get("/audit"))
    assert "Display name: Aino Aaltonen → Aino A" in text and "Alihankkija Oy" in text  # the sub-partner's customer
    assert "Partner created" in text and "Partner A1" in text
    assert "Sven" not in text and "Kund AB" not in text and "Partner B" not in text and "B default" not in text
    csv_text = client.get("/audit.csv").content.decode("utf-8-sig")
    assert "Aino A" in csv_text and "Sven" not in csv_text and "Kund AB" not in csv_text


def test_foreign_customers_are_404_and_customer_admins_have_no_partner_page(client, world):
    sign_in(client, "full@a.example")
    for cid in (world.raw["cb"], "no-such-customer"):
        assert client.get(f"/customers/{cid}/hub/audit").status_code == 404
        assert client.get(f"/customers/{cid}/hub/audit.csv").status_code == 404
    client.cookies.clear()
    sign_in(client, "admin@asiakas.example")
    assert client.get(f"/customers/{world.raw['ca']}/hub/audit").status_code == 200
    assert client.get(f"/customers/{world.raw['cb']}/hub/audit").status_code == 404
    assert client.get(f"/customers/{world.raw['ca1']}/hub/audit").status_code == 404
    assert client.get("/audit").status_code == 403
    assert client.get("/audit.csv").status_code == 403


def test_pages_of_fifty(client, world, db):
    with db.unit_of_work() as s:
        for n in range(30):
            customers.set_allocation(s, OPERATOR, world.raw["ca"], "webex_meetings", 60 + n)
            customers.set_allocation(s, OPERATOR, world.raw["ca"], "webex_calling", 30 + n)
    sign_in(client, "full@a.example")
    url = f"/customers/{world.raw['ca']}/hub/audit"
    first = client.get(url, params={"action": "customer"})
    assert _text(first).count("Allocation changed") == 50
    assert 'href="' + url + '?page=2&amp;action=customer"' in first.text
    second = client.get(url, params={"action": "customer", "page": 2})
    assert _text(second).count("Allocation changed") == 10 and "Customer onboarded" in _text(second)
    assert "page=3" not in second.text
