"""R1 through every face that names packages (people licence lists, licence PATCH, subscribers), and the
subscriber and licence-holder queries the domain answers. Runs on SQLite and PostgreSQL; the pure rule
functions run once.
"""
from __future__ import annotations

import pytest

from rtmhub import ids
from rtmhub.domain.packages import service as packages
from rtmhub.errors import ValidationFailed

from rules_support import (
    assert_error, licences, state, subscriber_id, user_row,
)

SUBSCRIBERS = "/v1/wholesale/subscribers"
LICENCE_PATCH = "/v1/licenses/users"
ROWS = {"L-CALL": "webex_calling", "L-MEET": "webex_meetings", "L-VOICE": "webex_voice",
        "L-BM": "basic_messaging", "L-CAC": "common_area_calling"}


# --- the rule functions ------------------------------------------------------------------------

def test_user_licences_decides_package_and_base_licences():
    chosen = packages.user_licences(ROWS, [("a", "L-MEET"), ("b", "L-BM"), ("c", "L-MEET")])
    assert (chosen.package, chosen.base) == ("webex_meetings", frozenset({"basic_messaging"}))
    # A complete list removes base licences it leaves out, except for a new user (decision 10).
    assert chosen.as_fields(creating=False) == {"basic_messaging": True, "basic_space_meetings": False,
                                                 "call_on_webex": False, "package": "webex_meetings"}
    assert chosen.as_fields(creating=True) == {"basic_messaging": True, "package": "webex_meetings"}
    with pytest.raises(packages.TooManyPackages) as two:  # R1
        packages.user_licences(ROWS, [("a", "L-MEET"), ("b", "L-VOICE")])
    assert two.value.errors[0].error_code == 400413 and "webex_voice" in two.value.message
    with pytest.raises(packages.UnknownLicence) as foreign:
        packages.user_licences(ROWS, [("a", "L-MEET"), ("not-ours", None)])
    assert foreign.value.licence == "not-ours" and foreign.value.errors[0].error_code == 400000
    with pytest.raises(ValidationFailed, match="cannot be assigned") as customer_level:
        packages.user_licences(ROWS, [("a", "L-CAC")])
    assert customer_level.value.errors[0].error_code == 400000


def test_change_licences_replaces_the_package_but_never_adds_two():
    add, remove = True, False
    changed = packages.change_licences(ROWS, "webex_calling", [("m", "L-MEET", add), ("b", "L-BM", remove)])
    assert (changed.package, changed.base, changed.package_adds) == ("webex_meetings", {"basic_messaging": False},
                                                                     (0,))
    # Adding the package already held, then another, is one change (the held one is not "new").
    assert packages.change_licences(ROWS, "webex_calling", [("c", "L-CALL", add), ("m", "L-MEET", add)]).package \
        == "webex_meetings"
    assert packages.change_licences(ROWS, "webex_calling", [("c", "L-CALL", remove)]).package is None
    with pytest.raises(packages.TooManyPackages):  # R1: two new packages in one request
        packages.change_licences(ROWS, "webex_calling", [("m", "L-MEET", add), ("v", "L-VOICE", add)])
    with pytest.raises(packages.UnknownLicence):
        packages.change_licences(ROWS, None, [("x", "L-OTHER", add)])


# --- the faces --------------------------------------------------------------------------------

def test_r1_subscriber_with_two_packages_is_400413(client, world, db):
    auth = world.auth("a_full")
    body = {"customerId": world.ids["ca"], "email": "kaksi@asiakas.example",
            "provisioningParameters": {"firstName": "K", "lastName": "Kaksi"}}
    before = state(db)
    for url in (SUBSCRIBERS, f"{SUBSCRIBERS}/validate"):
        r = client.post(url, json={**body, "packages": ["webex_meetings", "webex_voice"]}, headers=auth)
        assert_error(r, 400, "exactly one package", "webex_meetings", "webex_voice", code=400413)
        # The same package twice, or none, keeps the subscriber API's own wording.
        r = client.post(url, json={**body, "packages": ["webex_meetings", "webex_meetings"]}, headers=auth)
        assert_error(r, 400, "Give exactly one package")
        r = client.post(url, json={**body, "package": "webex_meetings", "packages": ["webex_meetings"]}, headers=auth)
        assert_error(r, 400, "either package or packages")
    r = client.put(f"{SUBSCRIBERS}/{subscriber_id(world.raw['um'])}", headers=auth,
                   json={"packages": ["webex_meetings", "webex_suite"]})
    assert_error(r, 400, "exactly one package", code=400413)
    assert state(db) == before


def test_r1_licence_patch(client, world, db):
    auth = world.auth("a_full")
    lic = licences(client, world)
    org = world.ids["ca_org"]
    before = state(db)
    r = client.patch(LICENCE_PATCH, headers=auth, json={"orgId": org, "email": "MAIJA.meikalainen@asiakas.example",
                                                        "licenses": [{"id": lic["webex_voice"]["id"]},
                                                                     {"id": lic["webex_suite"]["id"]}]})
    assert_error(r, 400, "exactly one package", code=400413)
    r = client.patch(LICENCE_PATCH, headers=auth, json={"orgId": org, "personId": world.ids["um"],
                                                        "licenses": [{"id": world.ids["ca"]}]})
    assert_error(r, 400, "not a licence of this organisation", code=400000)
    r = client.patch(LICENCE_PATCH, headers=auth, json={"orgId": org, "email": "nobody@asiakas.example",
                                                        "licenses": [{"id": lic["basic_messaging"]["id"]}]})
    assert_error(r, 404, "check the email")
    assert state(db) == before

    # One package replaces the held one, with its calling data; found by e-mail in any case.
    r = client.patch(LICENCE_PATCH, headers=auth, json={
        "orgId": org, "email": "Maija.Meikalainen@asiakas.example",
        "licenses": [{"id": lic["webex_calling"]["id"], "properties": {"extension": "1888",
                                                                       "locationId": world.ids["loc_ca"]}},
                     {"id": lic["basic_messaging"]["id"], "operation": "remove"}]})
    assert r.status_code == 200, r.text
    row = user_row(db, world.raw["um"])
    assert (row.package, row.extension, row.basic_messaging) == ("webex_calling", "1888", False)


def test_licence_holders(client, world):
    auth = world.auth("a_full")
    lic = licences(client, world)
    r = client.get(f"/v1/licenses/{lic['webex_meetings']['id']}", headers=auth, params={"includeAssignedTo": "user"})
    assert [u["email"] for u in r.json()["users"]] == ["maija.meikalainen@asiakas.example"]
    r = client.get(f"/v1/licenses/{lic['webex_calling']['id']}", headers=auth, params={"includeAssignedTo": "user"})
    assert [u["id"] for u in r.json()["users"]] == [world.ids["ua"]]


def test_subscriber_list_filters_sort_and_scope(client, world):
    def emails(who="a_full", **params):
        r = client.get(SUBSCRIBERS, headers=world.auth(who), params=params)
        assert r.status_code == 200, r.text
        return [s["email"] for s in r.json()["items"]]

    a, a1 = "matti.meikalainen@asiakas.example", "aino@alihankkija.example"
    maija = "maija.meikalainen@asiakas.example"
    assert set(emails()) == {a, maija, a1}  # its own customers and its sub-partner's
    assert emails("b_full") == ["sven@kund.example"]
    assert emails(sortOrder="DESC") == list(reversed(emails()))
    assert set(emails(customerId=world.ids["ca"])) == {a, maija}
    assert emails(customerId=world.ids["cb"]) == []  # another partner's customer: nothing, not an error
    assert emails(customerId="bm9wZQ") == []
    assert emails(personId=world.ids["ua"]) == [a]
    assert emails(personId=subscriber_id(world.raw["ua1"])) == [a1]
    assert emails(email="AINO@alihankkija.example") == [a1]
    assert emails(externalCustomerId="A1-CUST-1") == [a1]
    assert emails(onBehalfOfSubPartnerOrgId=world.ids["pa1_org"]) == [a1]
    assert emails(after="2999-01-01T00:00:00Z") == [] and emails(lastStatusChange="0") != []
    r = client.get(SUBSCRIBERS, headers=world.auth("b_full"), params={"onBehalfOfSubPartnerOrgId": world.ids["pa1_org"]})
    assert_error(r, 404, "Sub-partner not found")
    r = client.get(SUBSCRIBERS, headers=world.auth("a_full"),
                   params={"onBehalfOfSubPartnerOrgId": ids.encode("CUSTOMER", world.raw["pa1"])})
    assert_error(r, 404, "Sub-partner not found")
