"""The Sub-partners page over HTTP, on SQLite and PostgreSQL: a partner full admin lists, creates, suspends
and activates its sub-partners; read-only admins see the list without buttons; customer admins get 403;
the pages of a suspended sub-partner say that it may only delete (R53)."""
from __future__ import annotations

import re

from sqlalchemy import select

from rtmhub.domain.access import service as access
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.partners.models import Partner

PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, email: str):
    page = client.get("/signin")
    response = client.post("/signin", data={"csrf_token": csrf_of(page.text), "email": email, "password": PASSWORD,
                                            "next": "/"}, follow_redirects=False)
    assert response.status_code == 303, response.text


def state(world, partner_id: str) -> str:
    with world.db.unit_of_work(write=False) as s:
        return s.scalar(select(Partner.provisioning_state).where(Partner.id == partner_id))


def test_full_admin_suspends_and_activates_a_sub_partner(client, world):
    sign_in(client, "full@a.example")
    a1 = world.raw["pa1"]
    page = client.get("/sub-partners")
    assert page.status_code == 200 and "Partner A1" in page.text and 'href="/sub-partners"' in page.text
    assert f'id="suspend-{a1}"' in page.text and "Partner B" not in page.text
    assert 'id="suspended-notice"' not in client.get(f"/customers/{world.raw['ca1']}").text
    token = csrf_of(page.text)
    done = client.post(f"/sub-partners/{a1}/suspend", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303 and state(world, a1) == "suspended"
    listed = client.get(done.headers["location"]).text
    assert f'id="activate-{a1}"' in listed and "may now only delete" in listed
    # R53 visible on the sub-partner's customer pages, and enforced
    for path in (f"/customers/{world.raw['ca1']}", f"/customers/{world.raw['ca1']}/hub/users"):
        html = client.get(path).text
        assert 'id="suspended-notice"' in html and "Partner A1 is suspended" in html and "only delete" in html
    assert 'id="suspended-notice"' not in client.get(f"/customers/{world.raw['ca']}").text
    assert client.post(f"/customers/{world.raw['ca1']}/hub/settings",
                       data={"name": "X", "csrf_token": token}).status_code == 403
    # Finnish too
    assert "on jäädytetty" in client.get(f"/customers/{world.raw['ca1']}?lang=fi").text
    client.get("/?lang=en")
    assert client.post(f"/sub-partners/{a1}/activate", data={"csrf_token": token},
                       follow_redirects=False).status_code == 303
    assert state(world, a1) == "active"


def test_full_admin_creates_a_sub_partner_and_sees_form_errors(client, world):
    sign_in(client, "full@a.example")
    token = csrf_of(client.get("/sub-partners").text)
    made = client.post("/sub-partners", data={"csrf_token": token, "name": "Partner A2",
                                              "billingStartDate": "2026-03-01"}, follow_redirects=False)
    assert made.status_code == 303
    with world.db.unit_of_work(write=False) as s:
        row = s.scalar(select(Partner).where(Partner.name == "Partner A2"))
        assert row.parent_id == world.raw["pa"] and str(row.billing_start_date) == "2026-03-01"
    for data, phrase in (({"name": "Partner A2"}, "already exists"), ({"name": ""}, "needs a name"),
                         ({"name": "Partner A3", "billingStartDate": "1.3.2026"}, "YYYY-MM-DD")):
        again = client.post("/sub-partners", data={"csrf_token": token, **data})
        assert again.status_code == 400 and phrase in again.text, again.text
    assert client.post("/sub-partners", data={"name": "No Token"}).status_code == 403  # CSRF


def test_read_only_admin_sees_the_list_without_buttons(client, world):
    sign_in(client, "ro@a.example")
    page = client.get("/sub-partners")
    assert page.status_code == 200 and "Partner A1" in page.text
    assert "suspend-" not in page.text and 'id="create-sub-partner"' not in page.text
    token = csrf_of(page.text)
    assert client.post(f"/sub-partners/{world.raw['pa1']}/suspend", data={"csrf_token": token}).status_code == 403
    assert client.post("/sub-partners", data={"csrf_token": token, "name": "Sneaky"}).status_code == 403
    assert state(world, world.raw["pa1"]) == "active"


def test_customer_admins_and_foreign_or_own_ids_are_refused(client, world):
    sign_in(client, "admin@asiakas.example")
    assert client.get("/sub-partners").status_code == 403
    client.cookies.clear()
    with world.db.unit_of_work() as s:  # an admin of its own, apart from other tests' sign-in failures
        access.create_admin(s, Caller.operator("test"), email="second@b.example", role="partner_full_admin",
                            password=PASSWORD, partner=world.raw["pb"])
    sign_in(client, "second@b.example")  # another partner: A1 is not in its reach
    token = csrf_of(client.get("/sub-partners").text)
    assert client.post(f"/sub-partners/{world.raw['pa1']}/suspend", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/sub-partners/{world.raw['pa']}/suspend", data={"csrf_token": token}).status_code == 404
    assert client.post("/sub-partners/not-an-id/suspend", data={"csrf_token": token}).status_code == 404
    client.cookies.clear()
    sign_in(client, "full@a1.example")  # a sub-partner cannot lift (or set) its own suspension
    page = client.get("/sub-partners")
    assert 'id="create-sub-partner"' not in page.text  # sub-partners are one level deep
    assert client.post(f"/sub-partners/{world.raw['pa1']}/suspend",
                       data={"csrf_token": csrf_of(page.text)}).status_code == 403
    assert state(world, world.raw["pa1"]) == "active"


def test_a_suspended_sub_partners_own_admin_sees_the_notice(client, world):
    with world.db.unit_of_work() as s:
        s.get(Partner, world.raw["pa1"]).provisioning_state = "suspended"
    sign_in(client, "full@a1.example")
    for path in ("/", "/customers", "/sub-partners", f"/customers/{world.raw['ca1']}"):
        html = client.get(path).text
        assert 'id="suspended-notice"' in html, path
    token = csrf_of(client.get("/sub-partners").text)
    assert client.post(f"/sub-partners/{world.raw['pa1']}/activate", data={"csrf_token": token}).status_code == 403
    assert state(world, world.raw["pa1"]) == "suspended"
