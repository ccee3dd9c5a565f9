"""Rules on users and packages (R1-R3, D2-D6, R20/R21/R46, R33-R36, atomicity, audit, subscriber precheck).

Every rule is tested twice: a refused case (status, upstream error shape, a message that says what to fix,
and nothing written: the database is re-read) and an accepted case. Runs on SQLite and PostgreSQL.
"""
from __future__ import annotations

import threading
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.packages import service as packages_service
from rtmhub.domain.users import service as users
from rtmhub.domain.users.models import User
from rtmhub.domain.users.schemas import UserFields
from rtmhub.errors import AllocationExceeded, ValidationFailed

from rules_support import (
    OPERATOR, assert_error, holders, licence_id, licences, package_row, person_id, set_allocation, state,
    subscriber_id, user_by_email, user_row,
)

PEOPLE = "/v1/people"
SUBSCRIBERS = "/v1/wholesale/subscribers"


def _person(world, email: str, *, org: str = "ca_org", **extra) -> dict:
    body = {"emails": [email], "firstName": "Testi", "lastName": "Käyttäjä", "orgId": world.ids[org]}
    body.update(extra)
    return body


def _calling_person(client, world, email: str, **extra) -> dict:
    body = _person(world, email, licenses=[licence_id(client, world, "webex_calling")],
                   locationId=world.ids["loc_ca"])
    body.update(extra)
    return body


# --- R1 one package per user ---------------------------------------------------------------

def test_r1_people_post_with_two_package_licences_is_refused(client, world, db):
    lic = licences(client, world)
    before = state(db)
    r = client.post(PEOPLE, json=_person(world, "two@asiakas.example",
                                         licenses=[lic["webex_meetings"]["id"], lic["webex_voice"]["id"]]),
                    headers=world.auth("a_full"))
    assert_error(r, 400, "exactly one package", "webex_meetings", code=400413)
    assert state(db) == before
    assert user_by_email(db, "two@asiakas.example") is None

    r = client.post(PEOPLE, json=_person(world, "two@asiakas.example", licenses=[lic["webex_meetings"]["id"]]),
                    headers=world.auth("a_full"))
    assert r.status_code == 200, r.text
    assert r.json()["package"] == "webex_meetings"
    assert user_by_email(db, "two@asiakas.example").package == "webex_meetings"


def test_r1_people_put_with_two_package_licences_is_refused(client, world, db):
    lic = licences(client, world)
    before = state(db)
    r = client.put(f"{PEOPLE}/{world.ids['um']}", json={"licenses": [lic["webex_meetings"]["id"],
                                                                    lic["webex_suite"]["id"]]},
                   headers=world.auth("a_full"))
    assert_error(r, 400, "exactly one package", code=400413)
    assert state(db) == before

    # One package plus base licences is fine.
    r = client.put(f"{PEOPLE}/{world.ids['um']}", json={"licenses": [lic["webex_meetings"]["id"],
                                                                    lic["basic_messaging"]["id"]]},
                   headers=world.auth("a_full"))
    assert r.status_code == 200, r.text
    row = user_row(db, world.raw["um"])
    assert row.package == "webex_meetings" and row.basic_messaging is True


def test_r1_subscriber_post_with_two_packages_is_refused(client, world, db):
    before = state(db)
    body = {"customerId": world.ids["ca"], "email": "sub2@asiakas.example",
            "packages": ["webex_meetings", "webex_voice"],
            "provisioningParameters": {"firstName": "Sub", "lastName": "Kaksi"}}
    r = client.post(SUBSCRIBERS, json=body, headers=world.auth("a_full"))
    assert_error(r, 400, "exactly one package")
    assert state(db) == before

    r = client.post(SUBSCRIBERS, json={**body, "packages": ["webex_meetings"]}, headers=world.auth("a_full"))
    assert r.status_code == 200, r.text
    assert r.json()["packages"] == ["webex_meetings"]
    assert user_by_email(db, "sub2@asiakas.example").package == "webex_meetings"


# --- R2/D5 no package for an external user --------------------------------------------------

def _external_user(db, world, email="ulko@toinen.example") -> str:
    with db.unit_of_work() as s:
        customer = s.get(Customer, world.raw["ca"])
        user = users.create_user(s, OPERATOR, customer, UserFields(email=email, first_name="Ulko", last_name="Puolinen"),
                                 home_org_id=str(uuid.uuid4()))
        return user.id


def test_r2_external_user_gets_no_package(client, world, db):
    ext = _external_user(db, world)
    meetings = licence_id(client, world, "webex_meetings")
    before = state(db)
    r = client.put(f"{PEOPLE}/{person_id(ext)}", json={"licenses": [meetings]}, headers=world.auth("a_full"))
    assert_error(r, 400, "external user")
    assert state(db) == before

    r = client.post(SUBSCRIBERS, json={"customerId": world.ids["ca"], "email": "ulko@toinen.example",
                                       "packages": ["webex_meetings"]}, headers=world.auth("a_full"))
    assert_error(r, 400, "external user")
    assert state(db) == before
    assert user_row(db, ext).package is None

    with pytest.raises(ValidationFailed, match="external"):
        with db.unit_of_work() as s:
            users.create_user(s, OPERATOR, s.get(Customer, world.raw["ca"]),
                              UserFields(email="ulko2@toinen.example", package="webex_meetings"),
                              home_org_id=str(uuid.uuid4()))
    assert state(db) == before

    # An internal user without a package may take it.
    r = client.post(PEOPLE, json=_person(world, "sisa@asiakas.example"), headers=world.auth("a_full"))
    assert r.status_code == 200, r.text
    r = client.put(f"{PEOPLE}/{r.json()['id']}", json={"licenses": [meetings]}, headers=world.auth("a_full"))
    assert r.status_code == 200, r.text
    assert r.json()["package"] == "webex_meetings"
    # The external user is still listed.
    r = client.get(f"{PEOPLE}/{person_id(ext)}", headers=world.auth("a_full"))
    assert r.status_code == 200 and r.json()["external"] is True


# --- R3/D3 allocation ----------------------------------------------------------------------

def test_r3_assignment_beyond_allocation_is_refused(client, world, db):
    set_allocation(db, world.raw["ca"], "webex_meetings", 1)  # um holds the only unit
    meetings = licence_id(client, world, "webex_meetings")
    before = state(db)
    r = client.post(PEOPLE, json=_person(world, "liikaa@asiakas.example", licenses=[meetings]),
                    headers=world.auth("a_full"))
    body = assert_error(r, 409, "Webex Meetings", "1 of 1", "allocat")
    assert "raise" in body["message"].lower() or "free" in body["message"].lower()
    assert state(db) == before

    r = client.post(SUBSCRIBERS, json={"customerId": world.ids["ca"], "email": "liikaa@asiakas.example",
                                       "packages": ["webex_meetings"]}, headers=world.auth("a_full"))
    assert_error(r, 409, "Webex Meetings", "1 of 1")
    assert state(db) == before

    set_allocation(db, world.raw["ca"], "webex_meetings", 2)
    r = client.post(PEOPLE, json=_person(world, "liikaa@asiakas.example", licenses=[meetings]),
                    headers=world.auth("a_full"))
    assert r.status_code == 200, r.text
    row = package_row(db, world.raw["ca"], "webex_meetings")
    assert row.used == 2 == row.allocation == holders(db, world.raw["ca"], "webex_meetings")


@pytest.mark.parametrize("via", ["service", "http"])
def test_r3_concurrent_assignments_never_exceed_allocation(app, client, world, db, via):
    cid = world.raw["ca"]
    set_allocation(db, cid, "webex_meetings", 11)  # um holds 1: 10 units are free
    with db.unit_of_work() as s:
        customer = s.get(Customer, cid)
        waiting = [users.create_user(s, OPERATOR, customer, UserFields(
            email=f"jono{i}@asiakas.example", first_name="Jono", last_name=str(i))).id for i in range(50)]
    meetings = licence_id(client, world, "webex_meetings")
    auth = world.auth("a_full")
    barrier = threading.Barrier(len(waiting))
    results: list[str] = []
    lock = threading.Lock()

    def by_service(uid: str) -> str:
        barrier.wait()
        try:
            with db.unit_of_work() as s:
                users.update_user(s, OPERATOR, s.get(Customer, cid), s.get(User, uid),
                                  UserFields(package="webex_meetings"))
            return "ok"
        except AllocationExceeded:
            return "refused"

    def by_http(uid: str) -> str:
        barrier.wait()
        r = client.put(f"{PEOPLE}/{person_id(uid)}", json={"licenses": [meetings]}, headers=auth)
        if r.status_code == 200:
            return "ok"
        assert_error(r, 409, "Webex Meetings", "11 of 11")
        return "refused"

    def run(uid: str) -> None:
        try:
            outcome = (by_service if via == "service" else by_http)(uid)
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome = f"error: {exc!r}"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(uid,)) for uid in waiting]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 50, results
    assert results.count("ok") == 10, results
    assert results.count("refused") == 40, results
    row = package_row(db, cid, "webex_meetings")
    assert row.used == holders(db, cid, "webex_meetings") == row.allocation == 11


# --- D2/R20/R21/R46 calling data -----------------------------------------------------------

def test_calling_package_needs_number_or_extension_and_own_location(client, world, db):
    calling = licence_id(client, world, "webex_calling")
    auth = world.auth("a_full")
    before = state(db)
    r = client.post(PEOPLE, json=_person(world, "soitto@asiakas.example", licenses=[calling],
                                         locationId=world.ids["loc_ca"]), headers=auth)
    assert_error(r, 400, "extension or an E.164 phone number")
    r = client.post(PEOPLE, json=_person(world, "soitto@asiakas.example", licenses=[calling], extension="1500"),
                    headers=auth)
    assert_error(r, 400, "needs a location", "locationId")
    r = client.post(PEOPLE, json=_person(world, "soitto@asiakas.example", licenses=[calling], extension="1500",
                                         locationId=world.ids["loc_cb"]), headers=auth)
    assert_error(r, 400, "Location not found in this organisation", "locationId")
    r = client.post(SUBSCRIBERS, json={"customerId": world.ids["ca"], "email": "soitto@asiakas.example",
                                       "packages": ["webex_suite"],
                                       "provisioningParameters": {"firstName": "S", "lastName": "T",
                                                                  "locationId": world.ids["loc_ca"]}}, headers=auth)
    assert_error(r, 400, "Webex Suite", "extension or an E.164 phone number")
    assert state(db) == before

    # webex_meetings needs neither.
    r = client.post(PEOPLE, json=_person(world, "kokous@asiakas.example",
                                         licenses=[licence_id(client, world, "webex_meetings")]), headers=auth)
    assert r.status_code == 200, r.text
    # Extension only, phone only, both: all accepted with an own location.
    r = client.post(PEOPLE, json=_person(world, "soitto@asiakas.example", licenses=[calling], extension="1500",
                                         locationId=world.ids["loc_ca"]), headers=auth)
    assert r.status_code == 200, r.text
    r = client.post(PEOPLE, json=_person(world, "soitto2@asiakas.example", licenses=[calling],
                                         phoneNumbers=[{"type": "work", "value": "+358401234568"}],
                                         locationId=world.ids["loc_ca"]), headers=auth)
    assert r.status_code == 200, r.text
    r = client.post(SUBSCRIBERS, json={"customerId": world.ids["ca"], "email": "soitto3@asiakas.example",
                                       "packages": ["webex_suite"],
                                       "provisioningParameters": {"firstName": "S", "lastName": "T",
                                                                  "extension": "1502",
                                                                  "primaryPhoneNumber": "+358401234569",
                                                                  "locationId": world.ids["loc_ca"]}}, headers=auth)
    assert r.status_code == 200, r.text
    row = user_by_email(db, "soitto3@asiakas.example")
    assert (row.package, row.extension, row.phone_number, row.location_id) == (
        "webex_suite", "1502", "+358401234569", world.raw["loc_ca"])


# --- formats -------------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["firstName", "lastName", "callerIdFirstName", "callerIdLastName"])
def test_names_ban_r34_characters_and_accept_finnish_letters(client, world, db, field):
    auth = world.auth("a_full")
    before = state(db)
    for bad in ("Pro%sentti", "Risu#aita", "Pien<empi", "Suur>empi", "Kenoviiva\\", "Kauttaviiva/", 'Lai"nain'):
        r = client.post(PEOPLE, json=_calling_person(client, world, "nimi@asiakas.example", extension="1600",
                                                     **{field: bad}), headers=auth)
        banned = next(c for c in bad if c in '%#<>\\/"')
        assert_error(r, 400, field, "must not contain", banned)
    assert state(db) == before
    r = client.post(PEOPLE, json=_calling_person(client, world, "nimi@asiakas.example", extension="1600",
                                                 **{field: "Äänisen Öljy-Åsa"}), headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()[field] == "Äänisen Öljy-Åsa"


def test_caller_id_names_at_most_30_characters(client, world, db):
    auth = world.auth("a_full")
    before = state(db)
    for field in ("callerIdFirstName", "callerIdLastName"):
        r = client.post(PEOPLE, json=_calling_person(client, world, "cid@asiakas.example", extension="1601",
                                                     **{field: "Ä" * 31}), headers=auth)
        assert_error(r, 400, field, "longer than 30")
    assert state(db) == before
    r = client.post(PEOPLE, json=_calling_person(client, world, "cid@asiakas.example", extension="1601",
                                                 callerIdFirstName="Ä" * 30, callerIdLastName="Ö" * 30),
                    headers=auth)
    assert r.status_code == 200, r.text
    row = user_by_email(db, "cid@asiakas.example")
    assert (row.caller_id_first_name, row.caller_id_last_name) == ("Ä" * 30, "Ö" * 30)


def test_email_format_r35(client, world, db):
    auth = world.auth("a_full")
    before = state(db)
    too_long = "a" * 64 + "@" + "b" * 63 + "." + "c" * 29 + ".com"  # 162 characters
    assert len(too_long) == 162
    for bad, phrase, code in (("ei-at-merkkia.example", "exactly one '@'", 4802),
                              ("kaksi@at@asiakas.example", "exactly one '@'", 4803),
                              (too_long, "longer than 161", 4900)):
        r = client.post(PEOPLE, json=_person(world, bad), headers=auth)
        assert_error(r, 400, phrase, code=code)
        r = client.post(SUBSCRIBERS, json={"customerId": world.ids["ca"], "email": bad,
                                           "packages": ["webex_meetings"]}, headers=auth)
        assert_error(r, 400, phrase, code=code)
    assert state(db) == before
    longest = "a" * 64 + "@" + "b" * 63 + "." + "c" * 28 + ".com"
    assert len(longest) == 161
    r = client.post(PEOPLE, json=_person(world, longest), headers=auth)
    assert r.status_code == 200, r.text
    assert user_by_email(db, longest) is not None


def test_phone_number_must_be_e164(client, world, db):
    auth = world.auth("a_full")
    before = state(db)
    r = client.post(PEOPLE, json=_calling_person(client, world, "numero@asiakas.example",
                                                 phoneNumbers=[{"type": "work", "value": "358401234567"}]),
                    headers=auth)
    body = assert_error(r, 400, "E.164", "'+358401234567'", code=4410)
    assert "did you mean" in body["message"].lower()
    for bad in ("+358 40 12a4567", "+35840+1234567", "+999123"):
        r = client.post(PEOPLE, json=_calling_person(client, world, "numero@asiakas.example",
                                                     phoneNumbers=[{"type": "work", "value": bad}]), headers=auth)
        assert_error(r, 400, "phoneNumber", code=4410)
    r = client.post(SUBSCRIBERS, json={"customerId": world.ids["ca"], "email": "numero@asiakas.example",
                                       "packages": ["webex_calling"],
                                       "provisioningParameters": {"firstName": "N", "lastName": "M",
                                                                  "primaryPhoneNumber": "358401234567",
                                                                  "locationId": world.ids["loc_ca"]}}, headers=auth)
    assert_error(r, 400, "'+358401234567'", code=4410)
    assert state(db) == before

    r = client.post(PEOPLE, json=_calling_person(client, world, "numero@asiakas.example",
                                                 phoneNumbers=[{"type": "work", "value": "+358 40-1234567"}]),
                    headers=auth)
    assert r.status_code == 200, r.text
    assert user_by_email(db, "numero@asiakas.example").phone_number == "+358401234567"


def test_extension_is_2_to_10_digits(client, world, db):
    auth = world.auth("a_full")
    before = state(db)
    for bad in ("1", "12345678901", "12a4", "+123"):
        r = client.post(PEOPLE, json=_calling_person(client, world, "ext@asiakas.example", extension=bad),
                        headers=auth)
        assert_error(r, 400, "extension", "2 to 10 digits", code=4909)
    assert state(db) == before
    for n, good in enumerate(("12", "1234567890")):
        r = client.post(PEOPLE, json=_calling_person(client, world, f"ext{n}@asiakas.example", extension=good),
                        headers=auth)
        assert r.status_code == 200, r.text
        assert r.json()["extension"] == good


# --- D6 uniqueness -------------------------------------------------------------------------

def test_email_unique_system_wide_case_insensitively(client, world, db):
    before = state(db)
    # Matti lives in customer A; partner B cannot reuse the address in its own customer.
    r = client.post(PEOPLE, json=_person(world, "MATTI.Meikalainen@ASIAKAS.example", org="cb_org"),
                    headers=world.auth("b_full"))
    assert_error(r, 409, "MATTI.Meikalainen@", "already associated", code=10022)
    r = client.put(f"{PEOPLE}/{world.ids['um']}", json={"emails": ["Matti.Meikalainen@asiakas.example"]},
                   headers=world.auth("a_full"))
    assert_error(r, 409, "already associated", code=10022)
    r = client.post(SUBSCRIBERS, json={"customerId": world.ids["cb"], "email": "matti.meikalainen@ASIAKAS.EXAMPLE",
                                       "packages": ["webex_meetings"]}, headers=world.auth("b_full"))
    assert_error(r, 409, "already associated", code=10022)
    assert state(db) == before

    r = client.post(PEOPLE, json=_person(world, "matti.toinen@kund.example", org="cb_org"),
                    headers=world.auth("b_full"))
    assert r.status_code == 200, r.text


def test_phone_number_unique(client, world, db):
    before = state(db)
    r = client.post(PEOPLE, json=_calling_person(client, world, "sama@asiakas.example", extension="1700",
                                                 phoneNumbers=[{"type": "work", "value": "+358912345601"}]),
                    headers=world.auth("a_full"))
    assert_error(r, 409, "+358912345601", "already in use", code=4201)
    assert state(db) == before
    r = client.post(PEOPLE, json=_calling_person(client, world, "sama@asiakas.example", extension="1700",
                                                 phoneNumbers=[{"type": "work", "value": "+358912345602"}]),
                    headers=world.auth("a_full"))
    assert r.status_code == 200, r.text


def test_extension_unique_within_location_only(client, world, db):
    auth = world.auth("a_full")
    r = client.post("/v1/locations", params={"orgId": world.ids["ca_org"]}, headers=auth, json={
        "name": "Tampere", "timeZone": "Europe/Helsinki", "preferredLanguage": "fi_fi",
        "announcementLanguage": "fi_fi", "address": {"address1": "Hämeenkatu 1", "city": "Tampere",
                                                     "country": "FI"}})
    assert r.status_code == 201, r.text
    tampere = r.json()["id"]
    before = state(db)
    r = client.post(PEOPLE, json=_calling_person(client, world, "sama@asiakas.example", extension="1001"),
                    headers=auth)
    assert_error(r, 409, "Extension 1001", "already in use in this location", code=4202)
    assert state(db) == before
    r = client.post(PEOPLE, json=_calling_person(client, world, "sama@asiakas.example", extension="1001",
                                                 locationId=tampere), headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["extension"] == "1001" and r.json()["locationId"] == tampere


# --- R33 change to calling needs caller ID data --------------------------------------------

def test_r33_meetings_to_calling_needs_provisioning_parameters(client, world, db):
    auth = world.auth("a_full")
    url = f"{SUBSCRIBERS}/{subscriber_id(world.raw['um'])}"
    before = state(db)
    r = client.put(url, json={"packages": ["webex_calling"]}, headers=auth)
    assert_error(r, 400, "Webex Meetings", "Webex Calling", "primaryPhoneNumber", "extension", "locationId")
    r = client.put(url, json={"packages": ["webex_suite"],
                              "provisioningParameters": {"locationId": world.ids["loc_ca"]}}, headers=auth)
    assert_error(r, 400, "primaryPhoneNumber")
    r = client.put(url, json={"packages": ["webex_calling"], "provisioningParameters": {"extension": "1800"}},
                   headers=auth)
    assert_error(r, 400, "locationId")
    assert state(db) == before

    r = client.put(url, json={"packages": ["webex_calling"], "provisioningParameters": {
        "extension": "1800", "primaryPhoneNumber": "+358401234570", "locationId": world.ids["loc_ca"]}},
                   headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["packages"] == ["webex_calling"]
    row = user_row(db, world.raw["um"])
    assert (row.package, row.extension, row.phone_number, row.location_id) == (
        "webex_calling", "1800", "+358401234570", world.raw["loc_ca"])
    assert (row.caller_id_first_name, row.caller_id_last_name) == ("Maija", "Meikäläinen")
    assert package_row(db, world.raw["ca"], "webex_meetings").used == 0
    assert package_row(db, world.raw["ca"], "webex_calling").used == 2


# --- freeing units -------------------------------------------------------------------------

def test_deleting_a_user_frees_its_unit_at_once(client, world, db):
    auth = world.auth("a_full")
    set_allocation(db, world.raw["ca"], "webex_meetings", 1)
    meetings = licence_id(client, world, "webex_meetings")
    r = client.post(PEOPLE, json=_person(world, "odottaa@asiakas.example", licenses=[meetings]), headers=auth)
    assert_error(r, 409, "1 of 1")
    assert licences(client, world)["webex_meetings"]["consumedUnits"] == 1

    r = client.delete(f"{PEOPLE}/{world.ids['um']}", headers=auth)
    assert r.status_code == 204, r.text
    assert licences(client, world)["webex_meetings"]["consumedUnits"] == 0
    assert user_row(db, world.raw["um"]) is None

    r = client.post(PEOPLE, json=_person(world, "odottaa@asiakas.example", licenses=[meetings]), headers=auth)
    assert r.status_code == 200, r.text
    assert licences(client, world)["webex_meetings"]["consumedUnits"] == 1
    assert holders(db, world.raw["ca"], "webex_meetings") == 1


def test_changing_the_package_frees_the_old_unit_at_once(client, world, db):
    auth = world.auth("a_full")
    set_allocation(db, world.raw["ca"], "webex_calling", 1)  # Matti holds it
    new_user = _calling_person(client, world, "odottaa@asiakas.example", extension="1900")
    r = client.post(PEOPLE, json=new_user, headers=auth)
    assert_error(r, 409, "Webex Calling", "1 of 1")

    r = client.put(f"{SUBSCRIBERS}/{world.ids['sa']}", json={"packages": ["webex_meetings"]}, headers=auth)
    assert r.status_code == 200, r.text
    lic = licences(client, world)
    assert lic["webex_calling"]["consumedUnits"] == 0
    assert lic["webex_meetings"]["consumedUnits"] == 2
    row = user_row(db, world.raw["ua"])
    assert row.package == "webex_meetings" and row.extension is None and row.location_id is None

    r = client.post(PEOPLE, json=new_user, headers=auth)
    assert r.status_code == 200, r.text
    assert licences(client, world)["webex_calling"]["consumedUnits"] == 1


def test_deleting_a_subscriber_frees_its_unit(client, world, db):
    auth = world.auth("a_full")
    set_allocation(db, world.raw["ca"], "webex_meetings", 1)
    r = client.post(SUBSCRIBERS, json={"customerId": world.ids["ca"], "email": "odottaa@asiakas.example",
                                       "packages": ["webex_meetings"]}, headers=auth)
    assert_error(r, 409, "1 of 1")
    r = client.delete(f"{SUBSCRIBERS}/{subscriber_id(world.raw['um'])}", headers=auth)
    assert r.status_code == 204, r.text
    assert licences(client, world)["webex_meetings"]["consumedUnits"] == 0
    assert user_row(db, world.raw["um"]).package is None  # the person stays
    r = client.post(SUBSCRIBERS, json={"customerId": world.ids["ca"], "email": "odottaa@asiakas.example",
                                       "packages": ["webex_meetings"]}, headers=auth)
    assert r.status_code == 200, r.text


# --- atomicity -----------------------------------------------------------------------------

def _failing_take_unit(db, uid: str, seen: list):
    def boom(session, customer_id, package):
        # The user's attributes are already flushed in this transaction when the unit is taken.
        seen.append(session.scalar(select(User.first_name).where(User.id == uid)))
        raise RuntimeError("injected failure while taking a unit")
    return boom


def test_user_change_is_one_transaction_via_api(app, world, db, monkeypatch):
    seen: list = []
    monkeypatch.setattr("rtmhub.domain.users.service.packages.take_unit",
                        _failing_take_unit(db, world.raw["um"], seen))
    assert users.packages is packages_service
    with TestClient(app, raise_server_exceptions=False) as c:
        lic = licences(c, world)
        before = state(db)
        r = c.put(f"{PEOPLE}/{world.ids['um']}", headers=world.auth("a_full"), json={
            "firstName": "Uusinimi", "licenses": [lic["webex_calling"]["id"]], "extension": "1950",
            "locationId": world.ids["loc_ca"]})
        assert_error(r, 500, "internal error", "trackingId")
        assert seen == ["Uusinimi"]  # the failure came after the attributes (and the released unit) were written
        assert state(db) == before
        row = user_row(db, world.raw["um"])
        assert (row.first_name, row.package, row.extension) == ("Maija", "webex_meetings", None)
        assert package_row(db, world.raw["ca"], "webex_meetings").used == 1
        assert package_row(db, world.raw["ca"], "webex_calling").used == 1

    monkeypatch.undo()
    with TestClient(app) as c:
        r = c.put(f"{PEOPLE}/{world.ids['um']}", headers=world.auth("a_full"), json={
            "firstName": "Uusinimi", "licenses": [lic["webex_calling"]["id"]], "extension": "1950",
            "locationId": world.ids["loc_ca"]})
        assert r.status_code == 200, r.text
    row = user_row(db, world.raw["um"])
    assert (row.first_name, row.package, row.extension) == ("Uusinimi", "webex_calling", "1950")
    assert package_row(db, world.raw["ca"], "webex_meetings").used == 0
    assert package_row(db, world.raw["ca"], "webex_calling").used == 2


def test_user_change_is_one_transaction_via_service(world, db, monkeypatch):
    seen: list = []
    monkeypatch.setattr("rtmhub.domain.users.service.packages.take_unit",
                        _failing_take_unit(db, world.raw["ua"], seen))
    before = state(db)
    with pytest.raises(RuntimeError, match="injected"):
        with db.unit_of_work() as s:
            users.update_user(s, OPERATOR, s.get(Customer, world.raw["ca"]), s.get(User, world.raw["ua"]),
                              UserFields(first_name="Muutettu", package="webex_meetings"))
    assert seen == ["Muutettu"]
    assert state(db) == before


# --- audit ---------------------------------------------------------------------------------

def _audit(db) -> list[AuditEvent]:
    with db.unit_of_work(write=False) as s:
        events = list(s.scalars(select(AuditEvent).order_by(AuditEvent.at, AuditEvent.id)))
        s.expunge_all()
        return events


def test_each_change_writes_one_audit_event(client, world, db):
    auth = world.auth("a_full")
    start = len(_audit(db))

    r = client.post(PEOPLE, json=_person(world, "auditoitu@asiakas.example"), headers=auth)
    assert r.status_code == 200, r.text
    new_id = r.json()["id"]
    events = _audit(db)[start:]
    assert len(events) == 1
    e = events[0]
    assert (e.actor, e.action, e.entity_type, e.customer_id) == ("full@a.example", "user.create", "user",
                                                                 world.raw["ca"])
    assert e.before is None and e.after["email"] == "auditoitu@asiakas.example"
    assert e.request_id == r.headers["trackingid"] and e.request_id.startswith("RTMHUB_")

    r = client.put(f"{PEOPLE}/{world.ids['um']}", json={"firstName": "Maija-Liisa"}, headers=auth)
    assert r.status_code == 200, r.text
    events = _audit(db)[start + 1:]
    assert len(events) == 1
    e = events[0]
    assert (e.actor, e.action, e.entity_id) == ("full@a.example", "user.update", world.raw["um"])
    assert e.before["first_name"] == "Maija" and e.after["first_name"] == "Maija-Liisa"
    assert e.request_id == r.headers["trackingid"]

    r = client.put(f"{SUBSCRIBERS}/{subscriber_id(world.raw['um'])}", json={"packages": ["webex_calling"],
                   "provisioningParameters": {"extension": "1960", "locationId": world.ids["loc_ca"]}},
                   headers=auth)
    assert r.status_code == 200, r.text
    events = _audit(db)[start + 2:]
    assert len(events) == 1
    assert (events[0].before["package"], events[0].after["package"]) == ("webex_meetings", "webex_calling")
    assert events[0].request_id == r.headers["trackingid"]

    r = client.delete(f"{PEOPLE}/{new_id}", headers=auth)
    assert r.status_code == 204
    events = _audit(db)[start + 3:]
    assert len(events) == 1
    assert (events[0].action, events[0].after, events[0].before["email"]) == (
        "user.delete", None, "auditoitu@asiakas.example")
    assert events[0].request_id == r.headers["trackingid"]

    # A refused change writes no event.
    r = client.put(f"{PEOPLE}/{world.ids['ua']}", json={"firstName": "Pa%ha"}, headers=auth)
    assert_error(r, 400, "must not contain")
    assert len(_audit(db)) == start + 4


# --- subscriber precheck -------------------------------------------------------------------

def test_subscriber_precheck(client, world, db):
    auth = world.auth("a_full")
    url = f"{SUBSCRIBERS}/validate"
    before = state(db)
    ok = {"customerId": world.ids["ca"], "email": "ennakko@asiakas.example", "packages": ["webex_calling"],
          "provisioningParameters": {"firstName": "Ennakko", "lastName": "Tarkistus", "extension": "1970",
                                     "locationId": world.ids["loc_ca"]}}
    r = client.post(url, json=ok, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["info"]["infoCode"] == 100
    r = client.post(url, json={"email": "vapaa@asiakas.example"}, headers=auth)
    assert r.status_code == 200 and r.json()["info"]["infoCode"] == 100
    assert state(db) == before
    assert user_by_email(db, "ennakko@asiakas.example") is None

    cases = [
        ({**ok, "email": "Matti.Meikalainen@asiakas.example"}, 409, ("already associated",), 10022),
        ({"email": "MATTI.meikalainen@asiakas.example"}, 409, ("already associated",), 10022),
        ({"email": "ei-at-merkkia.example"}, 400, ("exactly one '@'",), 4802),
        ({**ok, "provisioningParameters": {"firstName": "E", "lastName": "T", "locationId": world.ids["loc_ca"]}},
         400, ("extension or an E.164 phone number",), None),
        ({**ok, "provisioningParameters": {**ok["provisioningParameters"], "extension": "1001"}},
         409, ("Extension 1001",), 4202),
        ({**ok, "packages": ["webex_calling", "webex_meetings"]}, 400, ("exactly one package",), None),
    ]
    for body, status, phrases, code in cases:
        r = client.post(url, json=body, headers=auth)
        assert_error(r, status, *phrases, code=code)
    set_allocation(db, world.raw["ca"], "webex_calling", 1)
    before = state(db)
    r = client.post(url, json=ok, headers=auth)
    assert_error(r, 409, "Webex Calling", "1 of 1")
    assert state(db) == before
