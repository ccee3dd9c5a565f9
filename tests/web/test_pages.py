"""Web pages over HTTP (no browser), on SQLite and PostgreSQL: CSRF, tenancy, roles, throttling, languages."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from sqlalchemy import select

from rtmhub.domain.customers.models import Customer

WEB = Path(__file__).resolve().parents[2] / "src" / "rtmhub" / "web"
PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, email: str, password: str = PASSWORD):
    page = client.get("/signin")
    return client.post("/signin", data={"csrf_token": csrf_of(page.text), "email": email, "password": password,
                                        "next": "/"}, follow_redirects=False)


def used_msgids() -> dict[str, str]:
    """Every msgid the pages and the domain's messages use (the singular of a plural), with where."""
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"trim_blocks": "True", "lstrip_blocks": "True"}}
    used = {(m[0] if isinstance(m, tuple) else m): f"{fn}:{line}"
            for fn, line, m, _c, _x in extract_from_dir(str(WEB), method_map=method_map, options_map=options,
                                                         keywords={"_": None, "_n": (1, 2)})}
    assert len(used) > 150
    # The domain's messages (rtmhub.errors.msg, msgn) are shown on the pages too, in the page's language.
    for package in ("domain", "csvfile"):
        used.update({(m[0] if isinstance(m, tuple) else m): f"{package}/{fn}:{line}"
                     for fn, line, m, _c, _x in extract_from_dir(
                         str(WEB.parent / package), method_map=[("**.py", "python")],
                         keywords={"msg": None, "msgn": (1, 2)})})
    return used


@pytest.mark.parametrize("lang", ["fi", "sv"])
def test_every_template_string_has_a_translation(lang):
    used = used_msgids()
    with open(WEB / "locale" / lang / "LC_MESSAGES" / "messages.po", "rb") as handle:
        catalog = read_po(handle, locale=lang)
    assert catalog.plural_forms == "nplurals=2; plural=(n != 1);"

    def translated(msgid: str) -> bool:
        entry = catalog.get(msgid)
        strings = entry.string if entry is not None and isinstance(entry.string, tuple) else (
            (entry.string,) if entry is not None else ())
        return bool(strings) and all(strings)

    missing = [f"{msgid!r} ({where})" for msgid, where in sorted(used.items()) if not translated(msgid)]
    assert not missing, f"untranslated (add to locale/{lang}/LC_MESSAGES/messages.po):\n" + "\n".join(missing)
    # a msgid the Finnish catalogue has (shown somewhere) is in every other catalogue too
    with open(WEB / "locale" / "fi" / "LC_MESSAGES" / "messages.po", "rb") as handle:
        finnish = read_po(handle, locale="fi")
    absent = [m.id for m in finnish if m.id and not translated(m.id[0] if isinstance(m.id, tuple) else m.id)]
    assert not absent, f"in the Finnish catalogue but not in {lang}: {absent}"


def test_sign_in_pages_and_sign_out(client, world):
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/signin")
    response = sign_in(client, "full@a.example")
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    ca = world.raw["ca"]
    for path in ("/", "/customers", "/customers/new", f"/customers/{ca}", f"/customers/{ca}/allocations",
                 f"/customers/{ca}/hub/users", f"/customers/{ca}/hub/users/manage", f"/customers/{ca}/hub/users/add",
                 f"/customers/{ca}/hub/users/csv", f"/customers/{ca}/hub/users/directory-sync",
                 f"/customers/{ca}/hub/users/{world.raw['ua']}", f"/customers/{ca}/hub/users/{world.raw['um']}/package",
                 f"/customers/{ca}/hub/locations", f"/customers/{ca}/hub/locations/new",
                 f"/customers/{ca}/hub/locations/{world.raw['loc_ca']}", f"/customers/{ca}/hub/settings",
                 f"/customers/{ca}/hub/tasks", "/tasks", f"/customers/{ca}/hub/users/export.csv",
                 f"/customers/{ca}/hub/users/template.csv", f"/customers/{ca}/hub/users?q=matti&package=webex_calling"):
        response = client.get(path)
        assert response.status_code == 200, path
        # Each page shows what it is about, not only a 200: the customer, its user, location or file.
        expected = {f"/customers/{ca}/hub/users/{world.raw['ua']}": "matti.meikalainen@asiakas.example",
                    f"/customers/{ca}/hub/users/{world.raw['um']}/package": "Maija",
                    f"/customers/{ca}/hub/users": "matti.meikalainen@asiakas.example",
                    f"/customers/{ca}/hub/users/export.csv": "matti.meikalainen@asiakas.example",
                    f"/customers/{ca}/hub/users/template.csv": "User ID/Email (Required)",
                    f"/customers/{ca}/hub/locations": "Helsinki HQ",
                    f"/customers/{ca}/hub/locations/{world.raw['loc_ca']}": "Helsinki HQ",
                    f"/customers/{ca}/hub/users?q=matti&package=webex_calling": "matti.meikalainen@asiakas.example",
                    "/customers": "Asiakas Oy"}.get(path, "Asiakas Oy" if ca in path else None)
        assert expected is None or expected in response.text, (path, expected)
    users_page = client.get(f"/customers/{ca}/hub/users?q=matti&package=webex_calling").text
    assert "maija.meikalainen@asiakas.example" not in users_page  # the search and the filter applied
    # the sub-partner's customer is in reach too
    assert client.get(f"/customers/{world.raw['ca1']}").status_code == 200
    page = client.get("/customers")
    assert client.post("/signout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False).status_code == 303
    assert client.get("/customers", follow_redirects=False).status_code == 303


def test_post_without_or_with_wrong_csrf_is_refused(client, world):
    sign_in(client, "full@a.example")
    ca = world.raw["ca"]
    url = f"/customers/{ca}/hub/settings"
    assert client.post(url, data={"name": "Hacked Oy"}).status_code == 403
    assert client.post(url, data={"name": "Hacked Oy", "csrf_token": "forged"}).status_code == 403
    assert client.post("/signin", data={"email": "full@a.example", "password": PASSWORD}).status_code == 403
    with world.db.unit_of_work(write=False) as s:
        assert s.get(Customer, ca).name == "Asiakas Oy"
    token = csrf_of(client.get(url).text)
    assert client.post(url, data={"name": "Asiakas Oy 2", "language": "fi", "preferredSite": "",
                                  "csrf_token": token}, follow_redirects=False).status_code == 303


def test_foreign_tenant_urls_answer_404(client, world):
    sign_in(client, "full@a.example")
    cb, ub, loc_cb = world.raw["cb"], world.raw["ub"], world.raw["loc_cb"]
    for path in (f"/customers/{cb}", f"/customers/{cb}/allocations", f"/customers/{cb}/hub/users",
                 f"/customers/{cb}/hub/users/{ub}", f"/customers/{cb}/hub/locations/{loc_cb}",
                 f"/customers/{cb}/hub/settings", f"/customers/{cb}/hub/users/export.csv",
                 f"/customers/{world.raw['ca']}/hub/users/{ub}", "/customers/not-a-uuid/hub/users",
                 "/tasks/not-a-task"):
        assert client.get(path).status_code == 404, path
    token = csrf_of(client.get("/customers").text)
    assert client.post(f"/customers/{cb}/hub/settings", data={"name": "X", "csrf_token": token}).status_code == 404
    # the sub-partner admin does not reach its parent's customer
    client.cookies.clear()
    sign_in(client, "full@a1.example")
    assert client.get(f"/customers/{world.raw['ca']}/hub/users").status_code == 404


def test_customer_admin_lands_in_its_own_control_hub(client, world):
    assert sign_in(client, "admin@asiakas.example").status_code == 303
    home = client.get("/", follow_redirects=False)
    assert home.headers["location"] == f"/customers/{world.raw['ca']}/hub/users"
    assert client.get(home.headers["location"]).status_code == 200
    for path in ("/customers", "/customers/new", f"/customers/{world.raw['ca']}",
                 f"/customers/{world.raw['ca']}/allocations"):
        assert client.get(path).status_code == 403, path
    assert client.get(f"/customers/{world.raw['cb']}/hub/users").status_code == 404


def test_read_only_admin_sees_no_change_buttons_and_is_refused(client, world):
    sign_in(client, "ro@a.example")
    ca = world.raw["ca"]
    manage = client.get(f"/customers/{ca}/hub/users/manage").text
    assert 'id="manual-add"' not in manage and 'id="csv-add"' not in manage
    assert "Onboard customer" not in client.get("/customers").text
    for path in (f"/customers/{ca}/hub/users/add", f"/customers/{ca}/hub/users/csv", "/customers/new",
                 f"/customers/{ca}/hub/users/{world.raw['um']}/package", f"/customers/{ca}/hub/locations/new"):
        assert client.get(path).status_code == 403, path
    token = csrf_of(client.get(f"/customers/{ca}/hub/settings").text)
    for path, data in ((f"/customers/{ca}/hub/settings", {"name": "X"}),
                       (f"/customers/{ca}/hub/users/add", {"rows": "1", "r0.email": "x@y.example"}),
                       (f"/customers/{ca}/allocations", {"alloc.webex_calling": "1"})):
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 403, path


def test_sign_in_is_throttled(client, world):
    # The count lives in the database (sign_in_failures), emptied for every test.
    for _ in range(5):
        assert sign_in(client, "full@b.example", "wrong").status_code == 401
    assert sign_in(client, "full@b.example", PASSWORD).status_code == 429


def test_language_switch_is_remembered_and_accept_language_is_used(client, world):
    assert "Kirjaudu sisään" in client.get("/signin", headers={"Accept-Language": "fi-FI,fi;q=0.9"}).text
    assert "Sign in" in client.get("/signin", headers={"Accept-Language": "en-GB"}).text
    sign_in(client, "full@a.example")
    assert "Asiakkaat" in client.get("/customers?lang=fi").text
    assert "Käynnistä Control Hub" in client.get("/customers").text  # remembered in a cookie
    assert "Launch Control Hub" in client.get("/customers?lang=en").text


def test_forms_never_answer_with_a_server_error(client, world):
    sign_in(client, "full@a.example")
    ca = world.raw["ca"]
    token = csrf_of(client.get("/customers").text)
    odd = ["", " ", "x" * 5000, "%", "<script>", "\u00e4\u00f6\u00e5", "-1", "1e9", "NaN", "../../etc",
           "a\x00b", "bell\x07", "\U0001F600" * 40, "+358 40 123", "fi_FI"]
    posts = [(f"/customers/{ca}/hub/users/add", ["rows", "r0.email", "r0.package", "r0.extension", "r0.phoneNumber",
                                                  "r0.locationId", "r0.firstName"]),
             ("/customers/new", ["name", "primaryEmail", "country", "limit.webex_calling", "packages",
                                 "location.timezone", "provisioningId", "externalId"]),
             (f"/customers/{ca}/allocations", ["alloc.webex_calling", "alloc.webex_meetings"]),
             (f"/customers/{ca}/hub/users/{world.raw['um']}/package", ["package", "extension", "phoneNumber",
                                                                       "locationId"]),
             (f"/customers/{ca}/hub/locations/new", ["name", "address.country", "timeZone", "preferredLanguage"]),
             (f"/customers/{ca}/hub/settings", ["name", "language", "preferredSite"]),
             ("/templates", ["name", "country", "language"])]
    for path, fields in posts:
        for value in odd:
            data = {f: value for f in fields}
            data["csrf_token"] = token
            response = client.post(path, data=data, follow_redirects=False)
            assert response.status_code < 500, (path, value, response.text[:500])
    for path in ("/customers?page=-5&status=nope&q=%25", f"/customers/{ca}/hub/users?page=abc&package=zzz",
                 "/tasks?page=99999999999"):
        assert client.get(path).status_code == 200, path
    response = client.post(f"/customers/{ca}/hub/users/csv", data={"csrf_token": token, "mode": "add"},
                           files={"file": ("x.csv", b"\xff\xfe\x00garbage", "text/csv")})
    assert response.status_code < 500
    with world.db.unit_of_work(write=False) as s:
        assert s.scalar(select(Customer).where(Customer.name == "%")) is None
