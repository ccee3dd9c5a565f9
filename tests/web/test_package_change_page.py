"""Issue 9 items 3 and 4 on the pages, over HTTP on SQLite and PostgreSQL: the change-package page asks for caller
ID data when entering calling (pre-filled, 30 characters), shows what a calling user keeps, ignores a calling
user's new extension or location with a notice (R46), refuses R8 changes as a form error with the upstream
code; the manual-add page gives meeting-capable users the chosen or default Webex site (R23)."""
from __future__ import annotations

import html
import re

from sqlalchemy import select
from tests.rules_support import state
from tests.web.test_pages import csrf_of, sign_in

from rtmhub.domain.customers.models import Customer, CustomerPackage, MeetingSite
from rtmhub.domain.users.models import User


def page(client, url: str) -> tuple[str, str]:
    response = client.get(url)
    assert response.status_code == 200, response.text[:300]
    return response.text, csrf_of(response.text)


def field_value(text: str, name: str) -> str | None:
    found = re.search(rf'name="{name}" type="text" value="([^"]*)"', text)
    return html.unescape(found.group(1)) if found else None


def user(db, raw_id: str) -> User:
    with db.unit_of_work(write=False) as s:
        row = s.get(User, raw_id)
        s.expunge(row)
        return row


def test_entering_calling_asks_for_caller_id_prefilled_and_stores_it(client, world):
    sign_in(client, "full@a.example")
    ca, maija = world.raw["ca"], world.raw["um"]  # Maija Meikäläinen, Webex Meetings
    url = f"/customers/{ca}/hub/users/{maija}/package"
    text, token = page(client, url)
    assert field_value(text, "callerIdFirstName") == "Maija"
    assert field_value(text, "callerIdLastName") == "Meikäläinen"
    assert 'name="callerIdNumber"' in text and 'id="kept"' not in text
    response = client.post(url, follow_redirects=False, data={
        "csrf_token": token, "package": "webex_calling", "extension": "1502", "locationId": world.raw["loc_ca"],
        "callerIdNumber": "+358912345698", "callerIdFirstName": "Maija M.", "callerIdLastName": "Asiakaspalvelu"})
    assert response.status_code == 303, response.text[:500]
    stored = user(world.db, maija)
    assert (stored.package, stored.extension, stored.caller_id_number, stored.caller_id_first_name,
            stored.caller_id_last_name) == ("webex_calling", "1502", "+358912345698", "Maija M.", "Asiakaspalvelu")
    shown = client.get(response.headers["location"]).text
    assert "Maija M. Asiakaspalvelu (+358912345698)" in shown


def test_too_long_caller_id_name_is_a_form_error(client, world):
    sign_in(client, "full@a.example")
    ca, maija = world.raw["ca"], world.raw["um"]
    url = f"/customers/{ca}/hub/users/{maija}/package"
    before = state(world.db)
    for lang, phrase in (("en", "30"), ("fi", "30")):
        text, token = page(client, f"{url}?lang={lang}")
        response = client.post(url, data={
            "csrf_token": token, "package": "webex_calling", "extension": "1503", "locationId": world.raw["loc_ca"],
            "callerIdFirstName": "M" * 31, "callerIdLastName": "Meikäläinen"})
        assert response.status_code == 400, response.text[:500]
        error = re.search(r'<p class="error" id="e-callerIdFirstName">([^<]*)</p>', response.text)
        assert error and phrase in error.group(1), response.text[-3000:]
        assert 'value="' + "M" * 31 + '"' in response.text  # the form keeps what was typed
    assert state(world.db) == before


def test_r8_refusal_is_a_form_error_with_the_code(client, world):
    with world.db.unit_of_work() as s:
        s.add(CustomerPackage(customer_id=world.raw["ca"], package="webex_calling_standard", allocation=None, used=0))
    sign_in(client, "full@a.example")
    ca, matti = world.raw["ca"], world.raw["ua"]  # Webex Calling (Professional)
    url = f"/customers/{ca}/hub/users/{matti}/package"
    before = state(world.db)
    for lang, phrase in (("en", "cannot be changed"), ("fi", "ei voi vaihtaa")):
        text, token = page(client, f"{url}?lang={lang}")
        response = client.post(url, data={"csrf_token": token, "package": "webex_calling_standard"})
        assert response.status_code == 400, response.text[:500]
        body = html.unescape(response.text)
        assert 'id="e-package"' in body and "400112" in body and phrase in body, body[-3000:]
    assert state(world.db) == before


def test_calling_user_sees_what_is_kept_and_new_data_is_ignored(client, world):
    sign_in(client, "full@a.example")
    ca, matti = world.raw["ca"], world.raw["ua"]  # Webex Calling, 1001, +358912345601, Helsinki HQ
    url = f"/customers/{ca}/hub/users/{matti}/package"
    text, token = page(client, f"{url}?lang=en")
    assert 'id="kept"' in text and "1001" in text and "+358912345601" in text and "Helsinki HQ" in text
    assert 'name="extension"' not in text  # nothing to enter: the calling data is kept
    # A stale or crafted form with a new extension: the package changes, the extension stays (R46), a notice.
    response = client.post(url, follow_redirects=False, data={"csrf_token": token, "package": "webex_suite",
                                                              "extension": "1777"})
    assert response.status_code == 303 and response.headers["location"].endswith("?changed=1&kept=1")
    notice = client.get(response.headers["location"]).text
    assert 'id="kept-notice"' in notice and "ignored" in notice
    stored = user(world.db, matti)
    assert (stored.package, stored.extension, stored.location_id) == ("webex_suite", "1001", world.raw["loc_ca"])
    # Without new data: no notice.
    response = client.post(url, follow_redirects=False, data={"csrf_token": token, "package": "webex_calling"})
    assert response.status_code == 303 and response.headers["location"].endswith("?changed=1")


def test_manual_add_gives_meeting_users_the_chosen_site(client, world):
    ca = world.raw["ca"]
    with world.db.unit_of_work() as s:
        first = s.scalar(select(MeetingSite.url).where(MeetingSite.customer_id == ca))
        s.add(MeetingSite(customer_id=ca, url="toinen-asiakas.webex.com"))
    sign_in(client, "full@a.example")
    url = f"/customers/{ca}/hub/users/add"
    text, token = page(client, f"{url}?lang=en")
    assert 'name="site"' in text and f'<option value="{first}" selected>' in text  # the customer's default
    rows = {"csrf_token": token, "rows": "2", "site": "toinen-asiakas.webex.com",
            "r0.email": "kokous.sivu@asiakas.example", "r0.firstName": "Kokous", "r0.lastName": "Sivu",
            "r0.package": "webex_meetings",
            "r1.email": "aani.sivu@asiakas.example", "r1.firstName": "Ääni", "r1.lastName": "Sivu",
            "r1.package": "webex_voice", "r1.extension": "1801", "r1.locationId": world.raw["loc_ca"]}
    response = client.post(url, data=rows)
    assert response.status_code == 200, response.text[:800]
    with world.db.unit_of_work(write=False) as s:
        wanted = ["kokous.sivu@asiakas.example", "aani.sivu@asiakas.example"]
        query = select(User.email, User.preferred_site_url).where(User.email.in_(wanted))
        sites = dict(s.execute(query).tuples().all())
    assert sites == {"kokous.sivu@asiakas.example": "toinen-asiakas.webex.com", "aani.sivu@asiakas.example": None}
    # A site not of this customer is refused; nothing is added.
    before = state(world.db)
    response = client.post(url, data={**rows, "site": "vieras.webex.com", "r0.email": "x1@asiakas.example",
                                      "r1.email": "x2@asiakas.example", "r1.extension": "1802"})
    assert response.status_code == 400 and 'id="form-error"' in response.text
    assert state(world.db) == before
    # With one site there is nothing to choose: the default is given.
    with world.db.unit_of_work() as s:
        s.delete(s.scalar(select(MeetingSite).where(MeetingSite.url == "toinen-asiakas.webex.com")))
        s.get(Customer, ca).preferred_site_url = first
    text, token = page(client, url)
    assert 'name="site"' not in text
    response = client.post(url, data={"csrf_token": token, "rows": "1", "r0.email": "yksi.sivu@asiakas.example",
                                      "r0.firstName": "Yksi", "r0.lastName": "Sivu", "r0.package": "webex_suite",
                                      "r0.extension": "1803", "r0.locationId": world.raw["loc_ca"]})
    assert response.status_code == 200, response.text[:800]
    with world.db.unit_of_work(write=False) as s:
        assert s.scalar(select(User.preferred_site_url).where(User.email == "yksi.sivu@asiakas.example")) == first
