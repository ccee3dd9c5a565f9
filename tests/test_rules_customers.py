"""Customer rules (R6/R7 package dependencies, R44 PUT semantics), R53 suspended sub-partners, customer precheck.

Refused case: status, upstream error shape, a message that says what to fix, nothing written (re-read).
Accepted case: the same request made valid goes through. Runs on SQLite and PostgreSQL.
"""
from __future__ import annotations

import pytest

from rtmhub.domain.partners.models import Partner

from rules_support import (
    assert_error, holders, package_row, state, subscriber_id, user_row,
)

CUSTOMERS = "/v1/wholesale/customers"
SUBSCRIBERS = "/v1/wholesale/subscribers"
ADDRESS = {"addressLine1": "Aleksanterinkatu 5", "city": "Helsinki", "country": "FI", "zipOrPostalCode": "00100"}
LOCATION = {"name": "Helsinki", "address": {"addressLine1": "Aleksanterinkatu 5", "city": "Helsinki",
                                            "country": "FI"}, "timezone": "Europe/Helsinki", "language": "fi_fi"}


def _new_customer(world, packages: list[str], external_id: str = "A-NEW-1", template: str = "ta",
                  limits: dict | None = None, email: str | None = None) -> dict:
    return {
        "provisioningId": world.raw[template], "packages": packages, "externalId": external_id,
        "address": ADDRESS,
        "customerInfo": {"name": f"Uusi {external_id}", "primaryEmail": email or f"admin@{external_id.lower()}.example",
                         "language": "fi"},
        "provisioningParameters": {"calling": {"location": LOCATION}, "meetings": {"timezone": "Europe/Helsinki"},
                                   "packages": {"limits": limits or {}}},
    }


def _precheck(body: dict) -> dict:
    body = {k: v for k, v in body.items() if k != "customerInfo"}
    return {**body, "customerInfo": {"primaryEmail": "ennakko@uusi.example"}}


def _customer(client, world, key: str, who: str = "a_full") -> dict:
    r = client.get(f"{CUSTOMERS}/{world.ids[key]}", headers=world.auth(who))
    assert r.status_code == 200, r.text
    return r.json()


def _external_ids(client, world, who: str = "a_full") -> set[str]:
    r = client.get(CUSTOMERS, headers=world.auth(who))
    assert r.status_code == 200, r.text
    return {c["externalId"] for c in r.json()["items"]}


# --- R6/R7 dependencies ----------------------------------------------------------------------

@pytest.mark.parametrize("package, base, insufficient", [
    ("cisco_calling_plan", "common_area_calling", "webex_meetings"),
    ("cisco_calling_plan", "webex_voice", "webex_meetings"),
    ("attendant_console", "webex_suite", "webex_voice"),
    ("attendant_console", "cx_essentials", "common_area_calling"),
])
def test_r6_r7_customer_package_dependencies(client, world, db, package, base, insufficient):
    auth = world.auth("a_full")
    before = state(db)
    for packages in ([package], [package, insufficient]):
        body = _new_customer(world, packages)
        r = client.post(CUSTOMERS, json=body, headers=auth)
        assert_error(r, 400, f"{package} requires one of", base)
        r = client.post(f"{CUSTOMERS}/validate", json=_precheck(body), headers=auth)
        assert_error(r, 400, f"{package} requires one of", base)
    assert state(db) == before
    # The same rule holds when a PUT changes the package list of an existing customer.
    r = client.put(f"{CUSTOMERS}/{world.ids['ca1']}", headers=auth, json={"packages": ["webex_meetings", package]})
    assert_error(r, 400, f"{package} requires one of")
    assert state(db) == before
    assert "A-NEW-1" not in _external_ids(client, world)

    body = _new_customer(world, [package, base])
    r = client.post(f"{CUSTOMERS}/validate", json=_precheck(body), headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["info"]["infoCode"] == 100
    assert state(db) == before
    r = client.post(CUSTOMERS, json=body, headers=auth)
    assert r.status_code == 202, r.text
    created = client.get(r.json()["url"].split("testserver")[-1], headers=auth).json()
    assert sorted(created["packages"]) == sorted([package, base])
    r = client.put(f"{CUSTOMERS}/{world.ids['ca']}", headers=auth, json={
        "packages": ["webex_calling", "webex_meetings", "webex_suite", "webex_voice", package]})
    assert r.status_code == 202, r.text  # customer A has a calling base, so the dependency is met
    assert package in _customer(client, world, "ca")["packages"]


# --- R44 PUT customer ------------------------------------------------------------------------

def test_r44_put_customer_cannot_remove_a_package_users_hold(client, world, db):
    auth = world.auth("a_full")
    url = f"{CUSTOMERS}/{world.ids['ca']}"
    before = state(db)
    # Matti holds webex_calling; webex_calling is missing from the new list.
    r = client.put(url, json={"packages": ["webex_meetings", "webex_suite", "webex_voice"]}, headers=auth)
    assert_error(r, 409, "1 user holds Webex Calling", "another package", "webex_calling")
    # Maija holds webex_meetings.
    r = client.put(url, json={"packages": ["webex_calling"]}, headers=auth)
    assert_error(r, 409, "Webex Meetings")
    assert state(db) == before
    assert sorted(_customer(client, world, "ca")["packages"]) == sorted(
        ["webex_calling", "webex_meetings", "webex_suite", "webex_voice"])

    # A complete list replaces the old one: unused webex_suite/webex_voice go, common_area_calling comes.
    r = client.put(url, json={"packages": ["webex_calling", "webex_meetings", "common_area_calling"]}, headers=auth)
    assert r.status_code == 202, r.text
    assert sorted(_customer(client, world, "ca")["packages"]) == sorted(
        ["webex_calling", "webex_meetings", "common_area_calling"])
    assert package_row(db, world.raw["ca"], "webex_suite") is None
    assert package_row(db, world.raw["ca"], "webex_voice") is None
    calling = package_row(db, world.raw["ca"], "webex_calling")
    assert (calling.allocation, calling.used) == (20, 1)  # kept packages keep their allocation and use


def test_r44_put_customer_cannot_limit_below_use(client, world, db):
    auth = world.auth("a_full")
    url = f"{CUSTOMERS}/{world.ids['ca']}"
    packages = ["webex_calling", "webex_meetings", "webex_suite", "webex_voice"]
    before = state(db)
    r = client.put(url, json={"packages": packages,
                              "provisioningParameters": {"packages": {"limits": {"webex_calling": 0}}}},
                   headers=auth)
    assert_error(r, 409, "Webex Calling cannot be limited to 0", "1 units are assigned")
    assert state(db) == before
    assert package_row(db, world.raw["ca"], "webex_calling").allocation == 20

    r = client.put(url, json={"packages": packages,
                              "provisioningParameters": {"packages": {"limits": {"webex_calling": 1,
                                                                                 "webex_meetings": 7}}}},
                   headers=auth)
    assert r.status_code == 202, r.text
    assert package_row(db, world.raw["ca"], "webex_calling").allocation == 1
    assert package_row(db, world.raw["ca"], "webex_meetings").allocation == 7
    allocations = {a["name"]: (a["allocation"], a["used"])
                   for a in _customer(client, world, "ca")["packageAllocations"]}
    assert allocations["webex_calling"] == (1, 1) and allocations["webex_meetings"] == (7, 1)


def test_put_customer_taken_external_id_is_409_as_on_post(client, world, db):
    """Decision 50: the contract declares 409 for POST and PUT; a taken externalId is a 409 on both, and a 400
    when a plain refusal comes with it."""
    auth = world.auth("a_full")
    r = client.post(CUSTOMERS, json=_new_customer(world, ["webex_meetings"], "A-NEW-1"), headers=auth)
    assert r.status_code == 202, r.text
    url = r.json()["url"].split("testserver")[-1]
    before = state(db)
    r = client.post(CUSTOMERS, json=_new_customer(world, ["webex_meetings"], "A-CUST-1", email="toinen@uusi.example"),
                    headers=auth)
    assert_error(r, 409, "externalId 'A-CUST-1' already exists", code=409)
    r = client.put(url, json={"packages": ["webex_meetings"], "externalId": "A-CUST-1"}, headers=auth)
    body = assert_error(r, 409, "externalId 'A-CUST-1' already exists", code=409)
    assert body["errors"] == [{"description": "A customer with externalId 'A-CUST-1' already exists.",
                               "errorCode": 409}]
    r = client.put(url, json={"packages": ["webex_meetings"], "externalId": "A-CUST-1",
                              "address": {**ADDRESS, "country": "fi"}}, headers=auth)
    assert_error(r, 400, "two-letter ISO 3166", "externalId 'A-CUST-1' already exists", code=409)
    assert state(db) == before
    assert client.get(url, headers=auth).json()["externalId"] == "A-NEW-1"


# --- R53 suspended sub-partner ---------------------------------------------------------------

def _set_state(db, partner_id: str, value: str) -> None:
    with db.unit_of_work() as s:
        s.get(Partner, partner_id).provisioning_state = value


@pytest.mark.parametrize("who, on_behalf", [("a1_full", False), ("a_full", True)])
def test_r53_suspended_sub_partner_may_only_delete(client, world, db, who, on_behalf):
    _set_state(db, world.raw["pa1"], "suspended")
    auth = world.auth(who)
    params = {"onBehalfOfSubPartnerOrgId": world.ids["pa1_org"]} if on_behalf else {}
    before = state(db)
    refused = [
        client.post(CUSTOMERS, params=params, headers=auth,
                    json=_new_customer(world, ["webex_meetings"], "A1-NEW", template="ta1")),
        client.put(f"{CUSTOMERS}/{world.ids['ca1']}", params=params, headers=auth,
                   json={"packages": ["webex_calling", "webex_meetings", "webex_voice"]}),
        client.post(SUBSCRIBERS, params=params, headers=auth,
                    json={"customerId": world.ids["ca1"], "email": "uusi@alihankkija.example",
                          "packages": ["webex_meetings"]}),
        client.put(f"{SUBSCRIBERS}/{subscriber_id(world.raw['ua1'])}", params=params, headers=auth,
                   json={"packages": ["webex_calling"], "provisioningParameters": {
                       "extension": "3001", "locationId": world.ids["loc_ca1"]}}),
        client.put(f"/v1/people/{world.ids['ua1']}", headers=auth, json={"firstName": "Muutettu"}),
        client.post("/v1/people", headers=auth, json={"emails": ["uusi@alihankkija.example"], "firstName": "U",
                                                      "orgId": world.ids["ca1_org"]}),
    ]
    for r in refused:
        assert_error(r, 403, "Partner A1", "suspended", "may only delete")
    assert state(db) == before

    # Partner A itself is active: its own customers still change.
    r = client.put(f"{CUSTOMERS}/{world.ids['ca']}", headers=world.auth("a_full"),
                   json={"packages": ["webex_calling", "webex_meetings", "webex_suite", "webex_voice"],
                         "provisioningParameters": {"packages": {"limits": {"webex_meetings": 40}}}})
    assert r.status_code == 202, r.text

    # Deleting is allowed: the subscriber (its unit is freed), then the customer.
    r = client.delete(f"{SUBSCRIBERS}/{subscriber_id(world.raw['ua1'])}", params=params, headers=auth)
    assert r.status_code == 204, r.text
    assert user_row(db, world.raw["ua1"]).package is None
    assert package_row(db, world.raw["ca1"], "webex_meetings").used == 0 == holders(db, world.raw["ca1"],
                                                                                     "webex_meetings")
    r = client.delete(f"/v1/people/{world.ids['ua1']}", headers=auth,
                      params={"orgId": world.ids["ca1_org"]} if on_behalf else {})
    assert r.status_code == 204, r.text
    assert user_row(db, world.raw["ua1"]) is None
    r = client.delete(f"{CUSTOMERS}/{world.ids['ca1']}", params=params, headers=auth)
    assert r.status_code == 202, r.text
    r = client.get(f"{CUSTOMERS}/{world.ids['ca1']}", params=params, headers=auth)
    assert r.status_code == 404


def test_r53_active_sub_partner_may_create_and_update(client, world, db):
    auth = world.auth("a1_full")
    _set_state(db, world.raw["pa1"], "suspended")
    _set_state(db, world.raw["pa1"], "active")
    r = client.post(CUSTOMERS, headers=auth, json=_new_customer(world, ["webex_meetings"], "A1-NEW", template="ta1"))
    assert r.status_code == 202, r.text
    assert "A1-NEW" in _external_ids(client, world, "a1_full")  # written, not only answered
    meetings_before = package_row(db, world.raw["ca1"], "webex_meetings").used
    assert package_row(db, world.raw["ca1"], "webex_voice") is None
    r = client.put(f"{CUSTOMERS}/{world.ids['ca1']}", headers=auth,
                   json={"packages": ["webex_calling", "webex_meetings", "webex_voice"]})
    assert r.status_code == 202, r.text
    assert package_row(db, world.raw["ca1"], "webex_voice") is not None
    r = client.post(SUBSCRIBERS, headers=auth, json={"customerId": world.ids["ca1"],
                                                     "email": "uusi@alihankkija.example",
                                                     "packages": ["webex_meetings"]})
    assert r.status_code == 200, r.text
    assert package_row(db, world.raw["ca1"], "webex_meetings").used == meetings_before + 1 == holders(
        db, world.raw["ca1"], "webex_meetings")
    r = client.put(f"{SUBSCRIBERS}/{subscriber_id(world.raw['ua1'])}", headers=auth, json={
        "packages": ["webex_calling"], "provisioningParameters": {"extension": "3001",
                                                                  "locationId": world.ids["loc_ca1"]}})
    assert r.status_code == 200, r.text
    moved = user_row(db, world.raw["ua1"])
    assert (moved.package, moved.extension) == ("webex_calling", "3001")


# --- customer precheck -----------------------------------------------------------------------

def test_customer_precheck_writes_nothing(client, world, db):
    auth = world.auth("a_full")
    url = f"{CUSTOMERS}/validate"
    before = state(db)
    good = _precheck(_new_customer(world, ["webex_calling", "webex_meetings"], "A-PRE-1"))
    r = client.post(url, json=good, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "success" and r.json()["info"]["infoCode"] == 100
    r = client.post(url, json={"address": ADDRESS, "customerInfo": {"primaryEmail": "vapaa@uusi.example"}},
                    headers=auth)
    assert r.status_code == 200 and r.json()["info"]["infoCode"] == 100, r.text

    cases = [
        ({**good, "customerInfo": {"primaryEmail": "Matti.Meikalainen@ASIAKAS.example"}}, 409,
         ("already associated",), 10022),
        ({**good, "externalId": "A-CUST-1"}, 409, ("externalId 'A-CUST-1' already exists",), None),
        ({**good, "packages": ["cisco_calling_plan"]}, 400, ("cisco_calling_plan requires one of",), None),
        ({**good, "provisioningParameters": {}}, 400, ("provisioningParameters.calling.location",), None),
        ({**good, "address": {**ADDRESS, "country": "fi"}}, 400, ("two-letter ISO 3166",), None),
        ({**good, "customerInfo": {"primaryEmail": "ei-at-merkkia.example"}}, 400, ("exactly one '@'",), 4802),
    ]
    for body, status, phrases, code in cases:
        r = client.post(url, json=body, headers=auth)
        assert_error(r, status, *phrases, code=code)
    assert state(db) == before
    assert "A-PRE-1" not in _external_ids(client, world)
