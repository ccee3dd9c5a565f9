"""Issue 10 items 3-5: directory sync on and off (CLI), the directory's tokens, groups mapped to packages
within the allocation (members wait, the worker gives freed units in join order), priorities, calling
mappings, and R12 (what the directory owns) on CSV and API. SQLite and PostgreSQL."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from tests.bulk_support import csv_bytes, error_text, person, run
from typer.testing import CliRunner

from rtmhub.cli.main import app as cli_app
from rtmhub.domain.access.models import AdminAccount, ApiToken
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.models import Customer, CustomerPackage
from rtmhub.domain.directory import groups
from rtmhub.domain.directory import service as directory
from rtmhub.domain.users import service as users
from rtmhub.domain.users.models import User
from rtmhub.domain.users.schemas import UserFields
from rtmhub.jobs.worker import Worker
from rtmhub.settings import get_settings
from rules_support import OPERATOR

runner = CliRunner()


@pytest.fixture
def cli_env(db, monkeypatch):
    monkeypatch.setenv("RTMHUB_DATABASE_URL", db.url)
    monkeypatch.setenv("RTMHUB_PUBLIC_URL", "https://hub.example.com")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def cli(*args: str):
    return runner.invoke(cli_app, list(args))


def make_people(db, customer_raw: str, count: int, prefix: str = "p") -> list[str]:
    with db.unit_of_work() as s:
        customer = s.get(Customer, customer_raw)
        made = [users.create_user(s, directory.directory_caller(s, customer), customer, UserFields(
            email=f"{prefix}{i}@asiakas.example", first_name=f"Person{i}", last_name="Directory")).id
            for i in range(count)]
    return made


def join(db, customer_raw: str, group_name: str, user_ids: list[str]) -> None:
    """What the SCIM group paths do: change the membership, then reconcile the changed members."""
    with db.unit_of_work() as s:
        customer = s.get(Customer, customer_raw)
        caller = directory.directory_caller(s, customer)
        group = groups.find_group_by_name(s, customer, group_name)
        if group is None:
            group = groups.create_group(s, caller, customer, group_name)
        for user_id in user_ids:  # one by one, so the join order is the list's
            groups.update_group(s, caller, customer, group, add=[user_id])
            directory.reconcile(s, caller, customer, [user_id])


def leave(db, customer_raw: str, group_name: str, user_ids: list[str]) -> None:
    with db.unit_of_work() as s:
        customer = s.get(Customer, customer_raw)
        caller = directory.directory_caller(s, customer)
        group = groups.find_group_by_name(s, customer, group_name)
        groups.update_group(s, caller, customer, group, remove=user_ids)
        directory.reconcile(s, caller, customer, user_ids)


def packages_of(db, user_ids: list[str]) -> list[str | None]:
    with db.unit_of_work(write=False) as s:
        return [s.get(User, u).package for u in user_ids]


def meetings_row(db, customer_raw: str) -> tuple[int, int | None]:
    with db.unit_of_work(write=False) as s:
        row = s.scalar(select(CustomerPackage).where(CustomerPackage.customer_id == customer_raw,
                                                     CustomerPackage.package == "webex_meetings"))
        return row.used, row.allocation


def set_meetings_allocation(db, customer_raw: str, allocation: int) -> None:
    with db.unit_of_work() as s:
        customers.set_allocation(s, OPERATOR, customer_raw, "webex_meetings", allocation)


def enable(db, customer_raw: str) -> str:
    with db.unit_of_work() as s:
        directory.enable(s, OPERATOR, customer_raw)
        return directory.create_token(s, OPERATOR, customer_raw)[1]


# --- enabling (item 3) ----------------------------------------------------------------------------

def test_cli_enable_status_disable(world, cli_env):
    ca = world.ids["ca"]
    r = cli("directory", "status", "--customer", ca, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)[0]["enabled"] is False
    r = cli("directory", "enable", "--customer", ca)
    assert r.exit_code == 0, r.output
    lines = r.stdout.strip().splitlines()
    with world.db.unit_of_work(write=False) as s:
        org = s.get(Customer, world.raw["ca"]).org_id
    assert f"https://hub.example.com/identity/scim/{org}/v2" in r.stdout
    token = lines[-1]
    assert token.startswith("rtm_")
    with world.db.unit_of_work(write=False) as s:
        from rtmhub.domain.access import service as access
        caller = access.authenticate_token(s, token)
    assert caller.customer_id == world.raw["ca"] and caller.scopes == {"identity:people_rw"}
    assert caller.role == "directory" and not caller.is_partner
    assert "directory-sync@" in caller.actor
    # The token reaches only its organisation.
    with world.db.unit_of_work(write=False) as s:
        from rtmhub.domain.access import service as access
        from rtmhub.errors import NotFound
        with pytest.raises(NotFound):
            access.get_customer(s, caller, world.raw["cb"])
    r = cli("directory", "status", "--customer", ca, "--json")
    data = json.loads(r.stdout)[0]
    assert data["enabled"] is True and data["activeTokens"] == 1 and data["scimBaseUrl"].endswith(f"/{org}/v2")
    r = cli("directory", "status", "--customer", ca)
    assert "on" in r.stdout and "SCIM base URL" in r.stdout
    r = cli("directory", "enable", "--customer", ca, "--read-only")
    assert r.exit_code == 0
    with world.db.unit_of_work(write=False) as s:
        from rtmhub.domain.access import service as access
        assert access.authenticate_token(s, r.stdout.strip().splitlines()[-1]).scopes == {"identity:people_read"}
    r = cli("directory", "disable", "--customer", ca)
    assert r.exit_code == 0, r.output
    assert "2 directory token(s) revoked" in r.stdout
    with world.db.unit_of_work(write=False) as s:
        tokens = s.scalars(select(ApiToken).join(AdminAccount, AdminAccount.id == ApiToken.admin_id)
                           .where(AdminAccount.role == "directory")).all()
        assert len(tokens) == 2 and all(t.revoked is not None for t in tokens)
    r = cli("directory", "disable", "--customer", ca)
    assert r.exit_code == 1 and "not on" in r.output
    r = cli("directory", "status", "--customer", "no-such-customer")
    assert r.exit_code == 1 and "not found" in r.output


def test_read_only_and_directory_callers_cannot_enable(world):
    from rtmhub.domain.access import service as access
    from rtmhub.errors import Forbidden
    with world.db.unit_of_work() as s:
        ro = access.authenticate_token(s, world.tokens["a_readonly"])
        with pytest.raises(Forbidden):
            directory.enable(s, ro, world.raw["ca"])
    with world.db.unit_of_work() as s:
        admin = access.authenticate_token(s, world.tokens["ca_admin"])
        directory.enable(s, admin, world.raw["ca"])
        assert directory.sync_enabled(s, world.raw["ca"])
    with world.db.unit_of_work() as s:
        other = access.authenticate_token(s, world.tokens["cb_admin"])
        from rtmhub.errors import NotFound
        with pytest.raises(NotFound):
            directory.disable(s, other, world.raw["ca"])


# --- groups give packages (item 4) ------------------------------------------------------------------

def test_allocation_two_three_members_one_waits_then_worker_gives_freed_unit(world, cli_env, client):
    ca = world.raw["ca"]
    enable(world.db, ca)
    # Maija already holds one Webex Meetings unit; an allocation of 3 leaves 2 for the group.
    set_meetings_allocation(world.db, ca, 3)
    people = make_people(world.db, ca, 3)
    join(world.db, ca, "Meetings users", [])
    r = cli("directory", "map", "--customer", world.ids["ca"], "--group", "meetings USERS", "--package",
            "webex_meetings")
    assert r.exit_code == 0, r.output
    join(world.db, ca, "Meetings users", people)
    assert packages_of(world.db, people) == ["webex_meetings", "webex_meetings", None]
    assert meetings_row(world.db, ca) == (3, 3)
    status = json.loads(cli("directory", "status", "--customer", world.ids["ca"], "--json").stdout)[0]
    assert status["waiting"] == [{"package": "webex_meetings", "name": "Webex Meetings", "users": 1,
                                  "reasons": {"full": 1}}]
    licences = client.get("/v1/licenses", params={"orgId": world.ids["ca_org"]}, headers=world.auth("a_full"))
    assert licences.status_code == 200
    for item in licences.json()["items"]:
        assert item["consumedUnits"] <= item["totalUnits"] or item["totalUnits"] == -1, item
    # A worker pass with no free unit changes nothing.
    worker = Worker(world.db, name="t")
    worker.grant_waiting()
    assert packages_of(world.db, people)[2] is None
    # Freeing a unit: the first member leaves the group, loses the package, and the waiting one gets it.
    leave(world.db, ca, "Meetings users", [people[0]])
    assert packages_of(world.db, people)[0] is None
    worker.grant_waiting()
    assert packages_of(world.db, people) == [None, "webex_meetings", "webex_meetings"]
    assert meetings_row(world.db, ca) == (3, 3)
    # The first member joins again and waits; raising the allocation gives it the unit on the next pass.
    join(world.db, ca, "Meetings users", [people[0]])
    assert packages_of(world.db, people)[0] is None
    set_meetings_allocation(world.db, ca, 4)
    worker.grant_waiting()
    assert packages_of(world.db, people) == ["webex_meetings"] * 3
    status = json.loads(cli("directory", "status", "--customer", world.ids["ca"], "--json").stdout)[0]
    assert status["waiting"] == []


def test_deleting_a_user_frees_its_unit_for_the_first_waiting_member(world):
    ca = world.raw["ca"]
    enable(world.db, ca)
    set_meetings_allocation(world.db, ca, 2)  # Maija holds one: one left
    people = make_people(world.db, ca, 3)
    join(world.db, ca, "Staff", [])
    with world.db.unit_of_work() as s:
        directory.map_group(s, OPERATOR, ca, group="Staff", package="webex_meetings")
    join(world.db, ca, "Staff", people)
    assert packages_of(world.db, people) == ["webex_meetings", None, None]
    with world.db.unit_of_work() as s:
        customer = s.get(Customer, ca)
        users.delete_user(s, OPERATOR, customer, users.get_user(s, customer, people[0]))
    # A newcomer joining before the worker's pass does not take the freed unit from those waiting.
    (late,) = make_people(world.db, ca, 1, prefix="late")
    join(world.db, ca, "Staff", [late])
    assert packages_of(world.db, [late]) == [None]
    Worker(world.db, name="t").grant_waiting()
    assert packages_of(world.db, [*people[1:], late]) == ["webex_meetings", None, None]  # joined first, served first
    assert meetings_row(world.db, ca) == (2, 2)


def test_priority_unmap_and_group_delete(world):
    ca = world.raw["ca"]
    enable(world.db, ca)
    (person,) = make_people(world.db, ca, 1)
    join(world.db, ca, "Voice", [])
    join(world.db, ca, "Meet", [])
    with world.db.unit_of_work() as s:
        directory.map_group(s, OPERATOR, ca, group="Meet", package="webex_meetings", priority=1)
        directory.map_group(s, OPERATOR, ca, group="Voice", package="webex_suite", location="Helsinki HQ",
                            priority=5)
    join(world.db, ca, "Meet", [person])
    assert packages_of(world.db, [person]) == ["webex_meetings"]
    join(world.db, ca, "Voice", [person])
    # Suite wins by priority but needs a work number or extension: the member waits with that reason.
    assert packages_of(world.db, [person]) == ["webex_meetings"]
    with world.db.unit_of_work(write=False) as s:
        summary = directory.waiting_summary(s, s.get(Customer, ca))
    assert [(w.package, w.reasons) for w in summary] == [("webex_suite", {"calling_data": 1})]
    with world.db.unit_of_work() as s:
        s.get(User, person).directory_number = "+358401234567"
    with world.db.unit_of_work() as s:
        customer = s.get(Customer, ca)
        directory.reconcile(s, OPERATOR, customer, [person])
    with world.db.unit_of_work(write=False) as s:
        user = s.get(User, person)
        assert (user.package, user.phone_number, user.location_id) == ("webex_suite", "+358401234567",
                                                                       world.raw["loc_ca"])
    with world.db.unit_of_work() as s:
        directory.unmap_group(s, OPERATOR, ca, group="Voice")
    # Back to the remaining mapping (Meet) — a calling user leaving calling to Meetings.
    assert packages_of(world.db, [person]) == ["webex_meetings"]
    with world.db.unit_of_work() as s:
        customer = s.get(Customer, ca)
        group = groups.find_group_by_name(s, customer, "Meet")
        members = groups.member_ids(s, group.id)
        groups.delete_group(s, OPERATOR, customer, group)
        directory.reconcile(s, OPERATOR, customer, members)
    assert packages_of(world.db, [person]) == [None]


def test_users_in_no_mapped_group_keep_their_package(world):
    ca = world.raw["ca"]
    enable(world.db, ca)
    join(world.db, ca, "Unmapped", [world.raw["um"]])
    leave(world.db, ca, "Unmapped", [world.raw["um"]])
    assert packages_of(world.db, [world.raw["um"]]) == ["webex_meetings"]


def test_map_refusals(world, cli_env):
    enable(world.db, world.raw["ca"])
    r = cli("directory", "map", "--customer", world.ids["ca"], "--group", "Nobody", "--package", "webex_meetings")
    assert r.exit_code == 1 and "has not sent a group" in r.output
    join(world.db, world.raw["ca"], "G", [])
    r = cli("directory", "map", "--customer", world.ids["ca"], "--group", "G", "--package", "webex_suite")
    assert r.exit_code == 1 and "location" in r.output
    r = cli("directory", "map", "--customer", world.ids["ca"], "--group", "G", "--package", "nope")
    assert r.exit_code == 1 and "not a package" in r.output
    r = cli("directory", "unmap", "--customer", world.ids["ca"], "--group", "G")
    assert r.exit_code == 1 and "no package mapping" in r.output


# --- R12 (item 5) ------------------------------------------------------------------------------------

def test_r12_api_create_refused_package_change_allowed_names_refused(world, client):
    enable(world.db, world.raw["ca"])
    r = client.post("/v1/people", params={"orgId": world.ids["ca_org"]}, headers=world.auth("a_full"),
                    json={"emails": ["new.person@asiakas.example"], "firstName": "New", "lastName": "Person"})
    assert r.status_code == 403, r.text
    assert "users come from the directory" in r.text
    r = client.get(f"/v1/people/{world.ids['um']}", headers=world.auth("a_full"))
    body = r.json()
    body["firstName"] = "Changed"
    r = client.put(f"/v1/people/{world.ids['um']}", headers=world.auth("a_full"), json=body)
    assert r.status_code == 400 and "directory owns firstName" in r.text, r.text
    # Same values (and a package change) pass.
    body = client.get(f"/v1/people/{world.ids['um']}", headers=world.auth("a_full")).json()
    r = client.put(f"/v1/people/{world.ids['um']}", headers=world.auth("a_full"), json=body)
    assert r.status_code == 200, r.text
    r = client.post("/v1/wholesale/subscribers", headers=world.auth("a_full"), json={
        "customerId": world.ids["ca"], "email": "brand.new@asiakas.example", "package": "webex_meetings",
        "provisioningParameters": {"firstName": "Brand", "lastName": "New"}})
    assert r.status_code == 403 and "directory" in r.text, r.text


def test_r12_csv_owned_columns_row_error_packages_fine(world, client):
    enable(world.db, world.raw["ca"])
    maija = "maija.meikalainen@asiakas.example"
    same = person(maija, "Webex Meetings", **{"Last Name": "Meikäläinen", "Title": ""})
    task, rows = run(client, world, csv_bytes([same, person("newcomer@asiakas.example", "Webex Meetings")]),
                     preview=False)
    assert rows[2]["outcome"] in ("modify", "unchanged"), rows[2]
    assert rows[3]["outcome"] == "error" and "users come from the directory" in error_text(rows[3]), rows[3]
    renamed = person(maija, "Webex Meetings", **{"First Name": "Other", "Last Name": "Meikäläinen"})
    task, rows = run(client, world, csv_bytes([renamed]), preview=False)
    assert rows[2]["outcome"] == "error", rows[2]
    assert "directory owns First Name" in error_text(rows[2]), rows[2]
    # With sync off, the same file applies.
    with world.db.unit_of_work() as s:
        directory.disable(s, OPERATOR, world.raw["ca"])
    task, rows = run(client, world, csv_bytes([renamed]), preview=False)
    assert rows[2]["outcome"] == "modify", rows[2]


# --- over SCIM, with the directory's own token -------------------------------------------------------

def test_scim_flow_with_directory_token_mapping_waiting_and_events(world, client):
    """Users and a group pushed over SCIM with the token `directory enable` printed; the group is mapped to
    Webex Meetings with one unit left: the first member gets it, the second waits; a SCIM DELETE of the
    first frees the unit and the worker gives it to the second. Refused writes are logged too; a partner
    token on SCIM is the directory as well (R12 does not refuse it), while /v1/people is refused."""
    ca = world.raw["ca"]
    token = enable(world.db, ca)
    set_meetings_allocation(world.db, ca, 2)  # Maija holds one
    with world.db.unit_of_work(write=False) as s:
        org = s.get(Customer, ca).org_id
    base = f"/identity/scim/{org}/v2"
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    user_schema = "urn:ietf:params:scim:schemas:core:2.0:User"
    ids_ = []
    for i in range(2):
        r = client.post(f"{base}/Users", headers=auth, json={
            "schemas": [user_schema], "userName": f"scim{i}@asiakas.example",
            "name": {"givenName": f"Scim{i}", "familyName": "User"}, "active": True})
        assert r.status_code == 201, r.text
        ids_.append(r.json()["id"])
    r = client.post(f"{base}/Groups", headers=auth, json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Meetings"})
    assert r.status_code == 201, r.text
    group_id = r.json()["id"]
    with world.db.unit_of_work() as s:
        directory.map_group(s, OPERATOR, ca, group="Meetings", package="webex_meetings")
    for user_id in ids_:  # Entra ID adds members one PATCH at a time
        r = client.patch(f"{base}/Groups/{group_id}", headers=auth, json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Add", "path": "members", "value": [{"value": user_id}]}]})
        assert r.status_code in (200, 204), r.text
    assert packages_of(world.db, ids_) == ["webex_meetings", None]
    r = client.delete(f"{base}/Users/{ids_[0]}", headers=auth)
    assert r.status_code == 204, r.text
    Worker(world.db, name="t").grant_waiting()
    assert packages_of(world.db, [ids_[1]]) == ["webex_meetings"]
    assert meetings_row(world.db, ca) == (2, 2)
    # A refused write is an error event.
    r = client.post(f"{base}/Users", headers=auth, json={"schemas": [user_schema], "userName": "not an e-mail"})
    assert r.status_code == 400
    with world.db.unit_of_work(write=False) as s:
        customer = s.get(Customer, ca)
        ops = [(e.operation, e.result) for e in directory.recent_events(s, customer)]
        data = directory.status(s, OPERATOR, ca, "https://hub.example.com").as_json()
    assert ("user.create", "ok") in ops and ("group.patch", "ok") in ops and ("user.delete", "ok") in ops
    assert ("package.wait", "waiting") in ops and ("package.grant", "ok") in ops
    assert any(op.startswith("POST /Users") and result == "error" for op, result in ops), ops
    assert data["lastErrors"] and data["usersSynced"] >= 2 and data["groupsSynced"] == 1
    # A partner token on SCIM acts as the directory (R12 does not refuse it); the API refuses the same create.
    with world.db.unit_of_work() as s:
        from rtmhub.domain.access import service as access
        partner = access.create_token(s, OPERATOR, email="full@a.example", scopes=["identity:people_rw"])
    r = client.post(f"{base}/Users", headers={"Authorization": f"Bearer {partner}"}, json={
        "schemas": [user_schema], "userName": "via.partner@asiakas.example",
        "name": {"givenName": "Via", "familyName": "Partner"}})
    assert r.status_code == 201, r.text
    r = client.post("/v1/people", params={"orgId": world.ids["ca_org"]}, headers=world.auth("a_full"),
                    json={"emails": ["via.api@asiakas.example"], "firstName": "Via", "lastName": "Api"})
    assert r.status_code == 403


def test_with_sync_turned_off_the_worker_serves_no_one_from_the_queue(world):
    """Decision 31: the directory decides packages only while sync is on; a unit freed while it is off stays
    free until sync is on again, and then the first waiting member gets it."""
    ca = world.raw["ca"]
    enable(world.db, ca)
    set_meetings_allocation(world.db, ca, 2)  # Maija holds one: one left
    people = make_people(world.db, ca, 2)
    join(world.db, ca, "Staff", [])
    with world.db.unit_of_work() as s:
        directory.map_group(s, OPERATOR, ca, group="Staff", package="webex_meetings")
    join(world.db, ca, "Staff", people)
    assert packages_of(world.db, people) == ["webex_meetings", None]
    with world.db.unit_of_work() as s:
        directory.disable(s, OPERATOR, ca)
    set_meetings_allocation(world.db, ca, 3)
    Worker(world.db, name="t").grant_waiting()
    assert packages_of(world.db, people) == ["webex_meetings", None]
    enable(world.db, ca)
    Worker(world.db, name="t").grant_waiting()
    assert packages_of(world.db, people) == ["webex_meetings", "webex_meetings"]
