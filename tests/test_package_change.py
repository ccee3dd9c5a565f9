"""Issue 9 items 3 (R8) and 4: package changes upstream refuses (400112, 400410; the coexistence pairs
400404, 400407) through the API and CSV alike; R46 (an already calling user keeps its number, extension and
location, with warnings); R23 (users added by API get the customer's Webex site, Webex Voice users none).
Real HTTP, SQLite and PostgreSQL. The page faces are in tests/web/test_package_change_page.py."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.bulk_support import csv_bytes, error_text, person, run

from rtmhub.domain.customers.models import Customer, CustomerPackage, MeetingSite
from rtmhub.domain.locations import service as locations
from rtmhub.domain.locations.schemas import LocationCreate
from rtmhub.domain.packages import service as packages
from rtmhub.domain.users import service as users
from rtmhub.domain.users.schemas import UserFields
from rules_support import (
    OPERATOR,
    assert_error,
    licences,
    person_id,
    state,
    subscriber_id,
    user_by_email,
    user_row,
)

SUBSCRIBERS = "/v1/wholesale/subscribers"
HQ = "Helsinki HQ"
MATTI = "matti.meikalainen@asiakas.example"  # world: Webex Calling, ext 1001, +358912345601, Helsinki HQ
ASSIST = "asta.assist@asiakas.example"


def give_packages(db, customer_raw: str, *names: str) -> None:
    """The world's customer gets packages it lacks (Calling Standard, Customer Assist), unlimited."""
    with db.unit_of_work() as s:
        for name in names:
            s.add(CustomerPackage(customer_id=customer_raw, package=name, allocation=None, used=0))


def r8_world(db, world) -> None:
    """Calling Standard and Customer Assist on customer A, and a Customer Assist user."""
    give_packages(db, world.raw["ca"], "webex_calling_standard", "cx_essentials")
    with db.unit_of_work() as s:
        customer = s.get(Customer, world.raw["ca"])
        users.create_user(s, OPERATOR, customer, UserFields(
            email=ASSIST, first_name="Asta", last_name="Assist", package="cx_essentials", extension="1501",
            location_id=world.raw["loc_ca"]))


def units(db, customer_raw: str) -> dict[str, int]:
    with db.unit_of_work(write=False) as s:
        return dict(s.execute(select(CustomerPackage.package, CustomerPackage.used)
                              .where(CustomerPackage.customer_id == customer_raw)).tuples().all())


# --- the rule functions ------------------------------------------------------------------------

def test_change_refusal_and_exclusive_pairs():
    refused = packages.change_refusal("webex_calling", "webex_calling_standard")
    assert refused is not None and refused[1] == 400112 and "400112" in refused[0]
    assert packages.change_refusal("cx_essentials", "webex_calling_standard")[1] == 400410
    # Only those two: the other way round, other targets, and a user without a package are allowed.
    for old, new in (("webex_calling_standard", "webex_calling"), ("webex_calling", "webex_suite"),
                     ("webex_suite", "webex_calling_standard"), (None, "webex_calling_standard"),
                     ("webex_calling", None), ("webex_calling", "webex_calling")):
        assert packages.change_refusal(old, new) is None, (old, new)
    for pair, code in ((["webex_calling", "webex_calling_standard"], 400404),
                       (["webex_calling_standard", "cx_essentials"], 400407),
                       (["webex_meetings", "webex_voice"], 400413),
                       (["webex_calling", "cx_essentials"], 400413)):
        with pytest.raises(packages.TooManyPackages) as exc:
            packages.one_user_package(pair)
        assert exc.value.errors[0].error_code == code, pair
        assert "exactly one package" in exc.value.message


# --- R8 through the API ----------------------------------------------------------------------

def test_r8_changes_refused_on_every_api_face(client, world, db):
    r8_world(db, world)
    auth = world.auth("a_full")
    org = world.ids["ca_org"]
    lic = licences(client, world)
    assist = user_by_email(db, ASSIST)
    before, used_before = state(db), units(db, world.raw["ca"])
    # Professional -> Standard: subscriber PUT (both shapes), people PUT (licence list), licence PATCH.
    for body in ({"packages": ["webex_calling_standard"]}, {"package": "webex_calling_standard"}):
        r = client.put(f"{SUBSCRIBERS}/{world.ids['sa']}", headers=auth, json=body)
        assert_error(r, 400, "webex_calling_standard", "Remove the user's package first", code=400112)
    r = client.put(f"/v1/people/{world.ids['ua']}", params={"orgId": org}, headers=auth,
                   json={"licenses": [lic["webex_calling_standard"]["id"]]})
    assert_error(r, 400, code=400112)
    r = client.patch("/v1/licenses/users", headers=auth, json={
        "orgId": org, "personId": world.ids["ua"], "licenses": [{"id": lic["webex_calling_standard"]["id"]}]})
    assert_error(r, 400, code=400112)
    # Customer Assist -> Standard.
    r = client.put(f"{SUBSCRIBERS}/{subscriber_id(assist.id)}", headers=auth,
                   json={"packages": ["webex_calling_standard"]})
    body = assert_error(r, 400, "Customer Assist", code=400410)
    assert "400410" in body["errors"][0]["description"]
    r = client.put(f"/v1/people/{person_id(assist.id)}", params={"orgId": org}, headers=auth,
                   json={"licenses": [lic["webex_calling_standard"]["id"]]})
    assert_error(r, 400, code=400410)
    # Coexistence (R8's own codes instead of R1's 400413), on a new person and a new subscriber.
    for licence_pair, code in ((["webex_calling", "webex_calling_standard"], 400404),
                               (["webex_calling_standard", "cx_essentials"], 400407)):
        r = client.post("/v1/people", params={"orgId": org}, headers=auth, json={
            "emails": ["pari@asiakas.example"], "firstName": "Pari", "extension": "1601",
            "locationId": world.ids["loc_ca"], "licenses": [lic[p]["id"] for p in licence_pair]})
        assert_error(r, 400, "cannot be held together", code=code)
        r = client.post(SUBSCRIBERS, headers=auth, json={
            "customerId": world.ids["ca"], "email": "pari@asiakas.example", "packages": licence_pair,
            "provisioningParameters": {"firstName": "Pari", "lastName": "P", "extension": "1601",
                                       "locationId": world.ids["loc_ca"]}})
        assert_error(r, 400, code=code)
    # Nothing changed: users, units, audit trail.
    assert state(db) == before and units(db, world.raw["ca"]) == used_before

    # Allowed: Standard -> Professional, Professional -> Suite, and Standard after the package was removed.
    r = client.put(f"{SUBSCRIBERS}/{subscriber_id(assist.id)}", headers=auth, json={"packages": ["webex_suite"]})
    assert r.status_code == 200, r.text
    assert client.delete(f"{SUBSCRIBERS}/{world.ids['sa']}", headers=auth).status_code == 204
    r = client.put(f"/v1/people/{world.ids['ua']}", params={"orgId": org}, headers=auth, json={
        "licenses": [lic["webex_calling_standard"]["id"]], "extension": "1001", "locationId": world.ids["loc_ca"]})
    assert r.status_code == 200, r.text
    assert user_row(db, world.raw["ua"]).package == "webex_calling_standard"
    r = client.put(f"{SUBSCRIBERS}/{world.ids['sa']}", headers=auth, json={"packages": ["webex_calling"]})
    assert r.status_code == 200, r.text
    assert units(db, world.raw["ca"])["webex_calling_standard"] == 0


# --- R8 through CSV --------------------------------------------------------------------------

def test_r8_csv_rows_are_refused_with_the_code(client, world, db):
    r8_world(db, world)
    existing = {"Extension": "1001", "Phone Number": "+358912345601", "Location": HQ}
    rows = [
        person(MATTI, "Webex Calling Standard", **existing, **{"Last Name": "Meikäläinen"}),     # 2: 400112
        person(ASSIST, "Webex Calling Standard", Extension="1501", Location=HQ),                # 3: 400410
        person("uusi.standard@asiakas.example", "Webex Calling Standard", Extension="1701", Location=HQ),  # 4 add
    ]
    before = units(db, world.raw["ca"])
    task, results = run(client, world, csv_bytes(rows), mode="add-remove", preview=False)
    assert results[2]["outcome"] == "error" and "400112" in error_text(results[2]), results[2]
    assert "Webex Calling Standard" in error_text(results[2])
    assert results[3]["outcome"] == "error" and "400410" in error_text(results[3]), results[3]
    assert results[4]["outcome"] == "add", results[4]
    assert task["counts"]["failed"] == 2
    assert user_by_email(db, MATTI).package == "webex_calling"
    assert user_by_email(db, ASSIST).package == "cx_essentials"
    after = units(db, world.raw["ca"])
    assert after == {**before, "webex_calling_standard": before["webex_calling_standard"] + 1}


# --- R46 through the API ---------------------------------------------------------------------

def second_location(db, world) -> str:
    with db.unit_of_work() as s:
        customer = s.get(Customer, world.raw["ca"])
        return locations.create_location(s, OPERATOR, customer, LocationCreate.model_validate({
            "name": "Tampere", "timeZone": "Europe/Helsinki", "preferredLanguage": "fi_fi",
            "announcementLanguage": "fi_fi",
            "address": {"address1": "Hämeenkatu 1", "city": "Tampere", "country": "FI"}})).id


def test_r46_already_calling_user_keeps_its_calling_data_with_warnings(client, world, db):
    from rtmhub import ids

    tampere = second_location(db, world)
    auth = world.auth("a_full")
    r = client.put(f"{SUBSCRIBERS}/{world.ids['sa']}", headers=auth, json={
        "packages": ["webex_suite"], "provisioningParameters": {
            "extension": "1999", "primaryPhoneNumber": "+358912345699",
            "locationId": ids.encode("LOCATION", tampere)}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["package"] == "webex_suite"
    described = " ".join(w["description"] for w in body["warnings"])
    assert len(body["warnings"]) == 3 and all(isinstance(w["errorCode"], int) for w in body["warnings"])
    for name in ("extension", "phoneNumber", "locationId", "1999"):
        assert name in described, described
    matti = user_row(db, world.raw["ua"])
    assert (matti.package, matti.extension, matti.phone_number, matti.location_id) == (
        "webex_suite", "1001", "+358912345601", world.raw["loc_ca"])
    # The same values as kept, or none: no warnings at all (the upstream body unchanged).
    r = client.put(f"{SUBSCRIBERS}/{world.ids['sa']}", headers=auth, json={
        "packages": ["webex_calling"], "provisioningParameters": {"extension": "1001"}})
    assert r.status_code == 200 and "warnings" not in r.json(), r.text
    # Licence PATCH: the properties of a calling licence added to a calling user are ignored alike.
    lic = licences(client, world)
    r = client.patch("/v1/licenses/users", headers=auth, json={
        "orgId": world.ids["ca_org"], "personId": world.ids["ua"],
        "licenses": [{"id": lic["webex_voice"]["id"], "properties": {"extension": "1888"}}]})
    assert r.status_code == 200, r.text
    assert "1888" in r.json()["warnings"][0]["description"]
    assert (user_row(db, world.raw["ua"]).package, user_row(db, world.raw["ua"]).extension) == ("webex_voice", "1001")
    # Entering calling still takes the request's calling data (not R46): Maija, Webex Meetings -> Calling.
    r = client.put(f"{SUBSCRIBERS}/{subscriber_id(world.raw['um'])}", headers=auth, json={
        "packages": ["webex_calling"], "provisioningParameters": {"extension": "1777",
                                                                  "locationId": ids.encode("LOCATION", tampere)}})
    assert r.status_code == 200 and "warnings" not in r.json(), r.text
    maija = user_row(db, world.raw["um"])
    assert (maija.extension, maija.location_id) == ("1777", tampere)


# --- R23 through the API ---------------------------------------------------------------------

def test_r23_users_added_by_api_get_the_preferred_site(client, world, db):
    auth = world.auth("a_full")
    org = world.ids["ca_org"]
    lic = licences(client, world)
    with db.unit_of_work() as s:
        customer = s.get(Customer, world.raw["ca"])
        first = s.scalar(select(MeetingSite.url).where(MeetingSite.customer_id == customer.id))
        s.add(MeetingSite(customer_id=customer.id, url="toinen-asiakas.webex.com"))
    r = client.post("/v1/people", params={"orgId": org}, headers=auth, json={
        "emails": ["kokous@asiakas.example"], "firstName": "Kokous", "licenses": [lic["webex_meetings"]["id"]]})
    assert r.status_code == 200, r.text
    assert user_by_email(db, "kokous@asiakas.example").preferred_site_url == first  # the customer's preferred site
    r = client.post("/v1/people", params={"orgId": org}, headers=auth, json={
        "emails": ["aani@asiakas.example"], "firstName": "Ääni", "lastName": "Ääninen", "extension": "1802",
        "locationId": world.ids["loc_ca"], "licenses": [lic["webex_voice"]["id"]]})
    assert r.status_code == 200, r.text
    assert user_by_email(db, "aani@asiakas.example").preferred_site_url is None  # Webex Voice: no meetings
    # A site the request names is kept (and checked); the customer's preferred site follows its setting.
    r = client.post("/v1/people", params={"orgId": org}, headers=auth, json={
        "emails": ["valittu@asiakas.example"], "firstName": "Valittu", "licenses": [lic["webex_meetings"]["id"]],
        "preferredWebexSite": "toinen-asiakas.webex.com"})
    assert r.status_code == 200 and user_by_email(db, "valittu@asiakas.example").preferred_site_url \
        == "toinen-asiakas.webex.com"
    with db.unit_of_work() as s:
        s.get(Customer, world.raw["ca"]).preferred_site_url = "toinen-asiakas.webex.com"
    for package, email, site in (("webex_suite", "sviitti@asiakas.example", "toinen-asiakas.webex.com"),
                                 ("webex_voice", "puhe@asiakas.example", None)):
        r = client.post(SUBSCRIBERS, headers=auth, json={
            "customerId": world.ids["ca"], "email": email, "packages": [package],
            "provisioningParameters": {"firstName": "S", "lastName": "T", "extension": "18" + str(len(email)),
                                       "locationId": world.ids["loc_ca"]}})
        assert r.status_code == 200, r.text
        assert user_by_email(db, email).preferred_site_url == site, package
    # The manual add of the API (POST /v1/people/bulk, users.add_many) alike.
    r = client.post("/v1/people/bulk", params={"orgId": org}, headers=auth, json={"people": [
        {"emails": ["joukko@asiakas.example"], "firstName": "Joukko", "licenses": [lic["webex_meetings"]["id"]]}]})
    assert r.status_code == 200, r.text
    assert user_by_email(db, "joukko@asiakas.example").preferred_site_url == "toinen-asiakas.webex.com"


def test_csv_import_adds_no_site_the_file_did_not_name(client, world, db):
    """CSV keeps its own R23 (a row warning, no default): an import adds no site the file did not name."""
    rows = [person("tiedosto@asiakas.example", "Webex Meetings")]
    task, results = run(client, world, csv_bytes(rows), mode="add-remove", preview=False)
    assert results[2]["outcome"] == "add" and any("Preferred Webex Site" in m["message"]
                                                   for m in results[2]["messages"]), results[2]
    assert user_by_email(db, "tiedosto@asiakas.example").preferred_site_url is None
