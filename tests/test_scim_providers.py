"""Identity providers as they really are: request sequences shaped as Microsoft Entra ID and Okta document
their SCIM provisioning (create, filter, patch, soft delete, group membership add/remove, delete)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.customers.models import CustomerPackage
from rtmhub.domain.users.models import User
from scim_support import ENTERPRISE, GROUP, PATCH, SCIM_JSON, USER, make_scim_world


@pytest.fixture
def scim(world, app):
    return make_scim_world(world)


def _ok(response, status=200):
    assert response.status_code == status, response.text
    if status != 204:
        assert response.headers["content-type"].startswith(SCIM_JSON)
    return response.json() if status != 204 else None


def test_entra_id_sequence(client, scim, db):
    base, h = scim.base, scim.rw
    # Entra looks the user up by userName before creating it.
    found = _ok(client.get(f"{base}/Users", params={"filter": 'userName eq "ella.entra@asiakas.example"'}, headers=h))
    assert found["totalResults"] == 0 and found["Resources"] == []
    created = _ok(client.post(f"{base}/Users", headers={**h, "Content-Type": "application/scim+json"}, json={
        "schemas": [USER, ENTERPRISE],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7d2e4e9c8b11",
        "userName": "ella.entra@asiakas.example",
        "active": True,
        "displayName": "Ella Entra",
        "emails": [{"primary": True, "type": "work", "value": "ella.entra@asiakas.example"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Ella Entra", "familyName": "Entra", "givenName": "Ella"},
        "title": "Controller",
        "preferredLanguage": "fi-FI",
        "phoneNumbers": [{"type": "work", "value": "+358 9 1234 5677"}, {"type": "mobile", "value": "+358401234567"}],
        ENTERPRISE: {"department": "Finance"},
    }), 201)
    uid = created["id"]
    assert created["userName"] == "ella.entra@asiakas.example" and created["active"] is True
    assert created[ENTERPRISE]["department"] == "Finance"
    # Entra's filters: userName, externalId, and the work e-mail.
    for flt in ('userName eq "Ella.Entra@asiakas.example"', 'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7d2e4e9c8b11"',
                f'id eq "{uid}"', 'emails[type eq "work"].value eq "ella.entra@asiakas.example"'):
        page = _ok(client.get(f"{base}/Users", params={"filter": flt}, headers=h))
        assert [r["id"] for r in page["Resources"]] == [uid], flt
    # Entra's PATCH: capitalised ops, a value path that names a work e-mail, an enterprise path.
    patched = _ok(client.patch(f"{base}/Users/{uid}", headers=h, json={"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": "displayName", "value": "Ella E. Entra"},
        {"op": "Replace", "path": "name.familyName", "value": "Entra-Koski"},
        {"op": "Add", "path": 'phoneNumbers[type eq "work"].value', "value": "+358912345678"},
        {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Treasury"},
        {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": scim.world.raw["um"]},
        {"op": "Replace", "path": 'addresses[type eq "work"].streetAddress', "value": "Katu 1"},
    ]}))
    assert patched["displayName"] == "Ella E. Entra" and patched["name"]["familyName"] == "Entra-Koski"
    assert patched[ENTERPRISE]["department"] == "Treasury"
    assert patched[ENTERPRISE]["manager"]["value"] == scim.world.raw["um"]
    with db.unit_of_work(write=False) as s:
        user = s.get(User, uid)
        assert user.last_name == "Entra-Koski" and user.department == "Treasury"
        assert user.directory_number == "+358912345678"
        assert user.manager == "maija.meikalainen@asiakas.example"  # the manager's e-mail, as the users model keeps it
    # A group, members added and removed as Entra sends them.
    group = _ok(client.post(f"{base}/Groups", headers=h, json={
        "schemas": [GROUP], "externalId": "7f1d", "displayName": "Kirjanpito", "members": []}), 201)
    gid = group["id"]
    assert _ok(client.get(f"{base}/Groups", params={"filter": 'displayName eq "Kirjanpito"',
                                                     "excludedAttributes": "members"}, headers=h))["totalResults"] == 1
    _ok(client.patch(f"{base}/Groups/{gid}", headers=h, json={"schemas": [PATCH], "Operations": [
        {"op": "Add", "path": "members", "value": [{"value": uid}]}]}))
    got = _ok(client.get(f"{base}/Groups/{gid}", headers=h))
    assert [m["value"] for m in got["members"]] == [uid]
    assert "members" not in _ok(client.get(f"{base}/Groups/{gid}", params={"excludedAttributes": "members"},
                                            headers=h))
    _ok(client.patch(f"{base}/Groups/{gid}", headers=h, json={"schemas": [PATCH], "Operations": [
        {"op": "Remove", "path": "members", "value": [{"value": uid}]}]}))
    assert _ok(client.get(f"{base}/Groups/{gid}", headers=h)).get("members", []) == []
    # Unassigning: a soft delete with the boolean as a string, then the final DELETE 30 days later.
    soft = _ok(client.patch(f"{base}/Users/{uid}", headers=h, json={"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": "active", "value": "False"}]}))
    assert soft["active"] is False
    _ok(client.delete(f"{base}/Users/{uid}", headers=h), 204)
    assert client.get(f"{base}/Users/{uid}", headers=h).status_code == 404
    _ok(client.delete(f"{base}/Groups/{gid}", headers=h), 204)


def test_okta_sequence(client, scim, db):
    base, h = scim.base, scim.rw
    assert _ok(client.get(f"{base}/Users", params={"filter": 'userName eq "otto.okta@asiakas.example"',
                                                    "startIndex": "1", "count": "100"}, headers=h))["totalResults"] == 0
    created = _ok(client.post(f"{base}/Users", headers={**h, "Content-Type": "application/json"}, json={
        "schemas": [USER], "userName": "otto.okta@asiakas.example",
        "name": {"givenName": "Otto", "familyName": "Okta"},
        "emails": [{"primary": True, "value": "otto.okta@asiakas.example", "type": "work"}],
        "displayName": "Otto Okta", "locale": "en-US", "externalId": "00u1abcd", "groups": [], "password": "x",
        "active": True}), 201)
    uid = created["id"]
    # Okta's PATCH: no path and an object value.
    updated = _ok(client.patch(f"{base}/Users/{uid}", headers=h, json={"schemas": [PATCH], "Operations": [
        {"op": "replace", "value": {"name.givenName": "Otso", "title": "Buyer"}}]}))
    assert updated["name"]["givenName"] == "Otso" and updated["title"] == "Buyer"
    # Okta's PUT replaces the whole user.
    replaced = _ok(client.put(f"{base}/Users/{uid}", headers=h, json={
        "schemas": [USER], "id": uid, "userName": "otto.okta@asiakas.example",
        "name": {"givenName": "Otso", "familyName": "Okta"},
        "emails": [{"primary": True, "value": "otto.okta@asiakas.example", "type": "work"}],
        "displayName": "Otso Okta", "active": True}))
    assert replaced["displayName"] == "Otso Okta" and "title" not in replaced
    group = _ok(client.post(f"{base}/Groups", headers=h, json={"schemas": [GROUP], "displayName": "Myynti",
                                                                "members": []}), 201)
    gid = group["id"]
    _ok(client.patch(f"{base}/Groups/{gid}", headers=h, json={"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": uid, "display": "otto.okta@asiakas.example"}]}]}))
    members = _ok(client.get(f"{base}/Groups/{gid}/Members", headers=h))
    assert members["displayName"] == "Myynti" and [m["value"] for m in members["members"]] == [uid]
    # Okta removes a member with a filtered path, renames with a no-path replace.
    _ok(client.patch(f"{base}/Groups/{gid}", headers=h, json={"schemas": [PATCH], "Operations": [
        {"op": "remove", "path": f'members[value eq "{uid}"]'},
        {"op": "replace", "value": {"id": gid, "displayName": "Myynti ja markkinointi"}}]}))
    got = _ok(client.get(f"{base}/Groups/{gid}", headers=h))
    assert got["displayName"] == "Myynti ja markkinointi" and got.get("members", []) == []
    # Okta deactivates (no DELETE by default): active false through a no-path replace.
    _ok(client.patch(f"{base}/Users/{uid}", headers=h, json={"schemas": [PATCH], "Operations": [
        {"op": "replace", "value": {"active": False}}]}))
    assert _ok(client.get(f"{base}/Users", params={"filter": 'userName eq "otto.okta@asiakas.example"'},
                          headers=h))["Resources"][0]["active"] is False
    _ok(client.delete(f"{base}/Users/{uid}", headers=h), 204)
    with db.unit_of_work(write=False) as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.entity_id == uid)).all()
        assert {e.action for e in events} >= {"user.create", "user.update", "user.delete"}
        assert all(e.actor == "admin@asiakas.example" for e in events), [e.actor for e in events]


def test_soft_delete_keeps_the_package_and_delete_releases_it(client, scim, db):
    """active=false keeps the user's package (the unit is not lost); the final DELETE releases it."""
    base, h = scim.base, scim.rw
    uid = scim.world.raw["um"]  # a webex_meetings user of customer A

    def used() -> int:
        from rtmhub.domain.packages import service as packages
        with db.unit_of_work(write=False) as s:
            return {p.package: n for p, n in packages.customer_licences(s, scim.customer_id)}["webex_meetings"]

    before = used()
    _ok(client.patch(f"{base}/Users/{uid}", headers=h, json={"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": "active", "value": "False"}]}))
    with db.unit_of_work(write=False) as s:
        user = s.get(User, uid)
        assert user.active is False and user.package == "webex_meetings"
    assert used() == before
    _ok(client.patch(f"{base}/Users/{uid}", headers=h, json={"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": "active", "value": "True"}]}))
    assert used() == before
    _ok(client.delete(f"{base}/Users/{uid}", headers=h), 204)
    assert used() == before - 1
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(CustomerPackage.id).where(CustomerPackage.customer_id == scim.customer_id))
