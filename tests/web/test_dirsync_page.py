"""The directory synchronisation page over HTTP, on SQLite and PostgreSQL (issue 10 items 3-5): a customer
full admin enables sync, creates a token (shown once), maps a group to a package and sees members waiting and
the sync events; read-only admins see the page without buttons and get 403 on every POST; POSTs need CSRF;
the manual add page refuses new users while sync is on (R12)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from rtmhub.domain.access import service as access
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.directory import groups
from rtmhub.domain.directory import service as directory
from rtmhub.domain.directory.sync_models import DirectorySync
from rtmhub.domain.users import service as users
from rtmhub.domain.users.schemas import UserFields
from rtmhub.errors import Unauthorized
from rules_support import OPERATOR

PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, email: str):
    page = client.get("/signin")
    response = client.post("/signin", data={"csrf_token": csrf_of(page.text), "email": email, "password": PASSWORD,
                                            "next": "/"}, follow_redirects=False)
    assert response.status_code == 303, response.text


def enabled(world) -> bool:
    with world.db.unit_of_work(write=False) as s:
        return bool(s.scalar(select(DirectorySync.enabled).where(DirectorySync.customer_id == world.raw["ca"])))


def directory_group_with_members(world, name: str, count: int) -> None:
    """What the directory would push over SCIM: users, then a group with them as members."""
    with world.db.unit_of_work() as s:
        customer = s.get(Customer, world.raw["ca"])
        caller = directory.directory_caller(s, customer)
        made = [users.create_user(s, caller, customer, UserFields(
            email=f"member{i}@asiakas.example", first_name=f"Member{i}", last_name="Directory")).id
            for i in range(count)]
        groups.create_group(s, caller, customer, name)
        group = groups.find_group_by_name(s, customer, name)
        for user_id in made:
            groups.update_group(s, caller, customer, group, add=[user_id])
            directory.reconcile(s, caller, customer, [user_id])


def test_customer_admin_enables_creates_token_maps_and_sees_waiting(client, world):
    ca = world.raw["ca"]
    url = f"/customers/{ca}/hub/users/directory-sync"
    sign_in(client, "admin@asiakas.example")
    page = client.get(url)
    assert page.status_code == 200, page.text
    assert 'id="enable"' in page.text and "/identity/scim/" in page.text and 'id="dirsync-state">Off' in page.text
    # CSRF is required.
    assert client.post(url + "/enable", data={}, follow_redirects=False).status_code == 403
    assert not enabled(world)
    response = client.post(url + "/enable", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert response.status_code == 303 and enabled(world)
    page = client.get(url + "?done=enabled")
    assert 'id="dirsync-state">On' in page.text and 'id="create-token"' in page.text
    response = client.post(url + "/token", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 200
    token = re.search(r'id="token-value">([^<]+)<', response.text).group(1)
    with world.db.unit_of_work(write=False) as s:
        caller = access.authenticate_token(s, token)
    assert caller.scopes == {"identity:people_rw"} and caller.customer_id == ca
    assert token not in client.get(url).text  # shown once
    # Manual add says users come from the directory and refuses the POST (R12).
    add = client.get(f"/customers/{ca}/hub/users/add")
    assert add.status_code == 200 and 'id="directory-owned"' in add.text
    refused = client.post(f"/customers/{ca}/hub/users/add", data={
        "csrf_token": csrf_of(add.text), "rows": "1", "r0.email": "new@asiakas.example", "r0.firstName": "New",
        "r0.lastName": "User", "r0.package": "webex_meetings"})
    assert refused.status_code == 403 and "users come from the directory" in refused.text
    # A group mapped to Webex Meetings with one unit left: 1 gets it, 2 wait.
    with world.db.unit_of_work() as s:
        customers.set_allocation(s, OPERATOR, ca, "webex_meetings", 2)  # Maija holds one
    directory_group_with_members(world, "Sales", 0)
    page = client.get(url)
    response = client.post(url + "/map", data={"csrf_token": csrf_of(page.text), "group": "Sales",
                                                "package": "webex_meetings", "location": "", "priority": "1"},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    with world.db.unit_of_work() as s:
        customer = s.get(Customer, ca)
        caller = directory.directory_caller(s, customer)
        group = groups.find_group_by_name(s, customer, "Sales")
        for i in range(3):
            user = users.create_user(s, caller, customer, UserFields(email=f"s{i}@asiakas.example", first_name="S",
                                                                     last_name=f"Member{i}"))
            groups.update_group(s, caller, customer, group, add=[user.id])
            directory.reconcile(s, caller, customer, [user.id])
    page = client.get(url)
    assert "Webex Meetings full: 2 users waiting" in page.text, page.text
    assert "Waiting for the package" in page.text and "s2@asiakas.example" in page.text
    fi = client.get(url + "?lang=fi")
    assert "Webex Meetings täynnä: 2 käyttäjää odottaa" in fi.text
    assert "Hakemistosynkronointi" in fi.text
    page = client.get(url + "?lang=en")
    # Bad priority is a form error, not a 500.
    bad = client.post(url + "/map", data={"csrf_token": csrf_of(page.text), "group": "Sales",
                                          "package": "webex_meetings", "priority": "lots"})
    assert bad.status_code == 400 and "whole number" in bad.text
    response = client.post(url + "/unmap", data={"csrf_token": csrf_of(page.text), "group": "Sales"},
                           follow_redirects=False)
    assert response.status_code == 303
    response = client.post(url + "/disable", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert response.status_code == 303 and not enabled(world)
    with world.db.unit_of_work(write=False) as s, pytest.raises(Unauthorized, match="revoked"):
        access.authenticate_token(s, token)


def test_read_only_admin_sees_page_without_buttons_and_gets_403(client, world):
    ca = world.raw["ca"]
    url = f"/customers/{ca}/hub/users/directory-sync"
    sign_in(client, "ro@a.example")
    page = client.get(url)
    assert page.status_code == 200
    assert 'id="enable"' not in page.text and 'id="map-form"' not in page.text
    token = csrf_of(page.text)
    for action in ("enable", "disable", "token", "map", "unmap"):
        assert client.post(f"{url}/{action}", data={"csrf_token": token, "group": "x"}).status_code == 403
    assert not enabled(world)


def test_foreign_customer_is_404(client, world):
    sign_in(client, "admin@kund.example")
    url = f"/customers/{world.raw['ca']}/hub/users/directory-sync"
    assert client.get(url).status_code == 404
    page = client.get(f"/customers/{world.raw['cb']}/hub/users/directory-sync")
    assert client.post(url + "/enable", data={"csrf_token": csrf_of(page.text)}).status_code == 404
