"""The SCIM 2.0 protocol: errors, lists and paging, attributes, the rules of the users service through
SCIM, Bulk with bulkId references, discovery, and the tenancy walk over every SCIM endpoint."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.directory.models import DirectoryGroup, DirectoryGroupMember
from rtmhub.domain.directory.sync_models import SyncEvent
from rtmhub.domain.users.models import User
from scim_support import BULK, GROUP, PATCH, SCIM_JSON, USER, assert_scim_error, make_scim_world, user_body


@pytest.fixture
def scim(world, app):
    return make_scim_world(world)


def test_errors_have_the_scim_shape(client, scim):
    base, h = scim.base, scim.rw
    assert_scim_error(client.get(f"{base}/Users", params={"filter": 'userName eq'}, headers=h), 400, "invalidFilter")
    assert_scim_error(client.get(f"{base}/Users", params={"filter": 'userName zz "a"'}, headers=h), 400,
                      "invalidFilter")
    assert_scim_error(client.post(f"{base}/Users", content=b"{not json", headers={**h, "Content-Type": SCIM_JSON}),
                      400, "invalidSyntax")
    assert_scim_error(client.post(f"{base}/Users", json={"schemas": [USER]}, headers=h), 400, "invalidValue")
    assert_scim_error(client.post(f"{base}/Users", json=user_body("bad@@x"), headers=h), 400, "invalidValue")
    assert_scim_error(client.get(f"{base}/Users/{uuid.uuid4()}", headers=h), 404)
    assert_scim_error(client.get(f"{base}/Users/not-an-id", headers=h), 404)
    assert_scim_error(client.get(f"{base}/Nothing", headers=h), 404)
    assert_scim_error(client.delete(f"{base}/Schemas", headers=h), 405)
    # An e-mail used anywhere in the system (here: by another customer's user) is a 409 uniqueness.
    assert_scim_error(client.post(f"{base}/Users", json=user_body("sven@kund.example"), headers=h), 409, "uniqueness")
    created = client.post(f"{base}/Users", json=user_body("uusi@asiakas.example"), headers=h).json()
    assert_scim_error(client.patch(f"{base}/Users/{created['id']}", headers=h, json={
        "schemas": [PATCH], "Operations": [{"op": "explode", "path": "title", "value": "x"}]}), 400, "invalidSyntax")
    assert_scim_error(client.patch(f"{base}/Users/{created['id']}", headers=h, json={
        "schemas": [PATCH], "Operations": [{"op": "remove"}]}), 400, "noTarget")
    assert_scim_error(client.patch(f"{base}/Users/{created['id']}", headers=h, json={
        "schemas": [PATCH], "Operations": [{"op": "replace", "path": "emails[type eq", "value": "x"}]}), 400,
        "invalidPath")
    # The rules of the users service: a phone number rtmhub cannot take as a calling number is kept as
    # directory data; an invalid time zone is refused.
    assert_scim_error(client.post(f"{base}/Users", json=user_body("tz@asiakas.example", timezone="Mars/Base"),
                                  headers=h), 400, "invalidValue")
    groups = client.post(f"{base}/Groups", json={"schemas": [GROUP], "displayName": "Tiimi"}, headers=h)
    assert groups.status_code == 201
    assert_scim_error(client.post(f"{base}/Groups", json={"schemas": [GROUP], "displayName": "tiimi"}, headers=h),
                      409, "uniqueness")
    assert_scim_error(client.post(f"{base}/Groups", json={"schemas": [GROUP], "displayName": "X", "members": [
        {"value": scim.world.raw["ub"]}]}, headers=h), 400, "invalidValue")  # another org's user


def test_list_paging_and_attributes(client, scim):
    base, h = scim.base, scim.rw
    for i in range(5):
        assert client.post(f"{base}/Users", json=user_body(f"sivu{i}@asiakas.example"), headers=h).status_code == 201
    page = client.get(f"{base}/Users", params={"startIndex": 2, "count": 3}, headers=h).json()
    assert page["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    assert page["totalResults"] == 7 and page["itemsPerPage"] == 3 and page["startIndex"] == 2  # 2 from the world
    everyone = client.get(f"{base}/Users", headers=h).json()["Resources"]
    assert [r["id"] for r in page["Resources"]] == [r["id"] for r in everyone[1:4]]
    only = client.get(f"{base}/Users", params={"attributes": "userName", "filter": 'userName sw "sivu"'},
                      headers=h).json()
    assert only["totalResults"] == 5 and set(only["Resources"][0]) == {"schemas", "id", "userName"}
    without = client.get(f"{base}/Users/{everyone[2]['id']}", params={"excludedAttributes": "emails,name"},
                         headers=h).json()
    assert "emails" not in without and "name" not in without and without["userName"]
    both = client.get(f"{base}/Users", params={"filter": '(userName eq "sivu1@asiakas.example" or userName eq '
                                                         '"sivu2@asiakas.example") and active eq true'}, headers=h)
    assert both.json()["totalResults"] == 2
    meta = everyone[0]["meta"]
    assert meta["resourceType"] == "User" and meta["version"]
    assert meta["location"].endswith(f"/Users/{everyone[0]['id']}")
    for path in ("ServiceProviderConfig", "Schemas", "ResourceTypes", "ResourceTypes/User",
                 f"Schemas/{USER}"):
        response = client.get(f"{base}/{path}", headers=scim.read)
        assert response.status_code == 200 and response.headers["content-type"].startswith(SCIM_JSON), path


def test_the_org_id_may_be_the_webex_org_id(client, scim):
    from rtmhub import ids
    webex = ids.encode("ORGANIZATION", scim.org_raw)
    assert client.get(f"/identity/scim/{webex}/v2/Users", headers=scim.rw).json()["totalResults"] == 2


def test_bulk_with_bulk_id_references(client, scim, db):
    base, h = scim.base, scim.rw
    ops = [{"method": "POST", "path": "/Users", "bulkId": f"u{i}", "data": user_body(f"bulk{i}@asiakas.example")}
           for i in range(3)]
    ops.append({"method": "POST", "path": "/Groups", "bulkId": "g", "data": {
        "schemas": [GROUP], "displayName": "Bulk-ryhmä", "members": [{"value": "bulkId:u0"}, {"value": "bulkId:u2"}]}})
    ops.append({"method": "PATCH", "path": "/Users/bulkId:u1", "data": {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "title", "value": "Myyjä"}]}})
    ops.append({"method": "POST", "path": "/Users", "bulkId": "dup", "data": user_body("bulk0@asiakas.example")})
    ops.append({"method": "POST", "path": "/Groups", "bulkId": "g2", "data": {
        "schemas": [GROUP], "displayName": "Orpo", "members": [{"value": "bulkId:dup"}]}})
    response = client.post(f"{base}/Bulk", json={"schemas": [BULK], "Operations": ops}, headers=h)
    assert response.status_code == 200, response.text
    results = response.json()["Operations"]
    assert [r["status"] for r in results] == ["201", "201", "201", "201", "200", "409", "409"]
    assert results[5]["response"]["scimType"] == "uniqueness"
    with db.unit_of_work(write=False) as s:
        group = s.scalar(select(DirectoryGroup).where(DirectoryGroup.display_name == "Bulk-ryhmä"))
        members = set(s.scalars(select(DirectoryGroupMember.user_id).where(DirectoryGroupMember.group_id == group.id)))
        ids = {r["bulkId"]: r["location"].rsplit("/", 1)[1] for r in results[:3]}
        assert members == {ids["u0"], ids["u2"]}
        assert s.get(User, ids["u1"]).title == "Myyjä"
    # failOnErrors stops after that many errors; more than 100 operations is 413 tooMany.
    stop = client.post(f"{base}/Bulk", headers=h, json={"schemas": [BULK], "failOnErrors": 1, "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": user_body("bulk1@asiakas.example")},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": user_body("never@asiakas.example")}]}).json()
    assert [r["status"] for r in stop["Operations"]] == ["409"]
    too_many = [{"method": "DELETE", "path": f"/Users/{uuid.uuid4()}"} for _ in range(101)]
    assert_scim_error(client.post(f"{base}/Bulk", json={"schemas": [BULK], "Operations": too_many}, headers=h),
                      413, "tooMany")


def test_each_bulk_operation_is_atomic_on_its_own(client, scim, db):
    """One Bulk request, one transaction, one SAVEPOINT per operation: the refused middle operation changes
    nothing (Maija keeps her e-mail and title, no audit event), the operations around it stay, and the
    refusal is in the sync log beside the two creates."""
    base, h = scim.base, scim.rw
    maija = scim.world.raw["um"]
    with db.unit_of_work(write=False) as s:
        audit_before = set(s.scalars(select(AuditEvent.id)))
        sync_before = set(s.scalars(select(SyncEvent.id)))
    taken = "eka@asiakas.example"  # created by the first operation, in the same request
    ops = [{"method": "POST", "path": "/Users", "bulkId": "eka", "data": user_body(taken)},
           {"method": "PUT", "path": f"/Users/{maija}", "data": user_body(taken, title="Johtaja")},
           {"method": "POST", "path": "/Users", "bulkId": "kolmas", "data": user_body("kolmas@asiakas.example")}]
    response = client.post(f"{base}/Bulk", json={"schemas": [BULK], "Operations": ops}, headers=h)
    assert response.status_code == 200, response.text
    results = response.json()["Operations"]
    assert [r["status"] for r in results] == ["201", "409", "201"], results
    created = {results[0]["location"].rsplit("/", 1)[1], results[2]["location"].rsplit("/", 1)[1]}
    with db.unit_of_work(write=False) as s:
        assert {u.email for u in s.scalars(select(User).where(User.id.in_(created)))} == {
            taken, "kolmas@asiakas.example"}
        unchanged = s.get(User, maija)
        assert (unchanged.email, unchanged.title) == ("maija.meikalainen@asiakas.example", None)
        events = [e for e in s.scalars(select(AuditEvent)) if e.id not in audit_before]
        assert sorted((e.action, e.entity_id) for e in events) == sorted(("user.create", u) for u in created)
        assert {e.actor for e in events} == {"admin@asiakas.example"}
        sync = [e for e in s.scalars(select(SyncEvent)) if e.id not in sync_before]
        assert sorted((e.operation, e.result) for e in sync) == [
            (f"Bulk PUT /Users/{maija}", "error"), ("user.create", "ok"), ("user.create", "ok")]


def test_a_bulk_operation_refused_after_it_wrote_leaves_nothing(client, scim, db, monkeypatch):
    """A refusal that comes after the operation's rows were flushed (here: injected in the sync step that
    follows the user's insert, audit event and sync line) rolls back to the operation's SAVEPOINT: no
    half-written user, no audit event, no "ok" in the sync log, and the operations before and after it stay."""
    from rtmhub.domain.directory import service as directory
    from rtmhub.errors import Conflict

    synced = directory.user_synced

    def refuse_one(session, caller, customer, user, operation, **kwargs):
        synced(session, caller, customer, user, operation, **kwargs)  # its sync line too is written first
        if user.email == "puoli@asiakas.example":
            raise Conflict("refused after the write")

    monkeypatch.setattr(directory, "user_synced", refuse_one)
    emails = ["ennen@asiakas.example", "puoli@asiakas.example", "jalkeen@asiakas.example"]
    ops = [{"method": "POST", "path": "/Users", "bulkId": f"b{i}", "data": user_body(e)} for i, e in enumerate(emails)]
    results = client.post(f"{scim.base}/Bulk", json={"schemas": [BULK], "Operations": ops}, headers=scim.rw).json()
    assert [r["status"] for r in results["Operations"]] == ["201", "409", "201"]
    with db.unit_of_work(write=False) as s:
        assert set(s.scalars(select(User.email).where(User.email.in_(emails)))) == {emails[0], emails[2]}
        assert s.scalar(select(AuditEvent.id).where(AuditEvent.subject == emails[1])) is None
        assert sorted((e.user_email or "", e.result) for e in s.scalars(select(SyncEvent))) == [
            ("", "error"), (emails[0], "ok"), (emails[2], "ok")]


def test_group_members_endpoint(client, scim):
    base, h = scim.base, scim.rw
    members = [{"value": scim.world.raw["ua"]}, {"value": scim.world.raw["um"]}]
    gid = client.post(f"{base}/Groups", json={"schemas": [GROUP], "displayName": "Kaikki", "members": members},
                      headers=h).json()["id"]
    page = client.get(f"{base}/Groups/{gid}/Members", params={"startIndex": 2, "count": 1}, headers=h).json()
    assert page["totalResults"] == 2 and page["itemsPerPage"] == 1 and page["members"][0]["type"] == "user"
    assert client.get(f"{base}/Groups/{gid}/Members", params={"memberType": "group"}, headers=h).json()[
        "totalResults"] == 0



def test_no_input_makes_a_server_error(client, scim, db):
    base, h = scim.base, scim.rw
    deep = "(" * 500 + 'userName eq "x"' + ")" * 500
    assert_scim_error(client.get(f"{base}/Users", params={"filter": deep}, headers=h), 400, "invalidFilter")
    assert_scim_error(client.get(f"{base}/Users", params={"count": "9" * 5000}, headers=h), 400)
    assert_scim_error(client.post(f"{base}/Users", content=b"\xff\xfe", headers=h), 400, "invalidSyntax")
    assert_scim_error(client.post(f"{base}/Users", json=[1, 2], headers=h), 400, "invalidSyntax")
    assert_scim_error(client.post(f"{base}/Bulk", json={"Operations": [{"method": "POST", "path": "/Users",
                                                                        "bulkId": "a", "data": "x"}]},
                                  headers=h).json()["Operations"][0]["response"] and client.post(
        f"{base}/Groups", json={"schemas": [GROUP], "displayName": "A", "members": [{"value": 5}]}, headers=h),
        400, "invalidValue")
    uid = scim.world.raw["ua"]
    assert_scim_error(client.patch(f"{base}/Users/{uid}", headers=h, json={"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "name", "value": "not an object"}]}), 400, "invalidValue")
    # A member deleted from the organisation leaves its groups.
    gid = client.post(f"{base}/Groups", json={"schemas": [GROUP], "displayName": "B", "members": [{"value": uid}]},
                      headers=h).json()["id"]
    assert client.delete(f"{base}/Users/{uid}", headers=h).status_code == 204
    assert client.get(f"{base}/Groups/{gid}", headers=h).json().get("members", []) == []
