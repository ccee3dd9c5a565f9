"""The users rules made observable one by one (issue 15): per-customer unit accounting, R27 through the API,
caller ID names (D9, R33), calling fields with a non-calling package (D2), R23 site codes, and every
refusal's field, code and words asserted by value. Each refusal leaves the database as it was.
Runs on SQLite and PostgreSQL."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import delete, event, select

from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.customers.models import Customer, CustomerPackage, MeetingSite
from rtmhub.domain.locations.models import Location
from rtmhub.domain.packages.models import BASE_LICENCES
from rtmhub.domain.users import service as users
from rtmhub.domain.users.models import User
from rtmhub.domain.users.schemas import UserFields, UserFilter
from rtmhub.errors import AllocationExceeded, Conflict, DomainError, NotFound, ValidationFailed
from rules_support import (
    OPERATOR,
    assert_error,
    licence_id,
    set_allocation,
    state,
    user_by_email,
    user_row,
)

PEOPLE = "/v1/people"
SUBSCRIBERS = "/v1/wholesale/subscribers"


# --- helpers ---------------------------------------------------------------------------------

def accounting(db) -> tuple[dict, dict]:
    """(used per (customer, package) row, holders per (customer, package)) for every user package row."""
    with db.unit_of_work(write=False) as s:
        rows = {(c, p): u for c, p, u in s.execute(select(
            CustomerPackage.customer_id, CustomerPackage.package, CustomerPackage.used)
            .where(CustomerPackage.package.not_in(BASE_LICENCES)))}
        held = Counter(s.execute(select(User.customer_id, User.package).where(User.package.is_not(None))).tuples())
    return rows, {key: held.get(key, 0) for key in rows} | {k: v for k, v in held.items() if k not in rows}


def assert_accounting(db) -> dict:
    """R3/D3: every customer's `used` equals the number of its users holding that package, for every package."""
    rows, held = accounting(db)
    assert rows == held
    return rows


def refusal(db, action) -> DomainError:
    """Run ``action(session)`` in a write transaction that must be refused; the database stays as it was."""
    before = state(db)
    with pytest.raises(DomainError) as info:
        with db.unit_of_work() as s:
            action(s)
    assert state(db) == before
    return info.value


def problems(exc: DomainError) -> list[tuple]:
    return [(e.field, e.error_code, str(e.description)) for e in exc.errors]


def customer(s, world, key: str = "ca") -> Customer:
    return s.get(Customer, world.raw[key])


def create(world, key: str = "ca", **fields):
    return lambda s: users.create_user(s, OPERATOR, customer(s, world, key), UserFields(**fields))


def update(world, user_key: str, key: str = "ca", calling_data_given: bool | None = None, **fields):
    return lambda s: users.update_user(s, OPERATOR, customer(s, world, key), s.get(User, world.raw[user_key]),
                                       UserFields(**fields), calling_data_given=calling_data_given)


def second_location(db, world, key: str = "ca", name: str = "Tampere") -> str:
    with db.unit_of_work() as s:
        loc = Location(customer_id=world.raw[key], name=name, time_zone="Europe/Helsinki", address1="Hämeenkatu 1",
                       city="Tampere", country="FI")
        s.add(loc)
        s.flush()
        return loc.id


# --- R3/D3: per-customer accounting ------------------------------------------------------------

def test_units_stay_per_customer_through_deletes_package_changes_and_removals(db, world):
    """Three customers hold Webex Calling and Webex Meetings; every change in customer A must leave the
    others' counts alone (release_unit/take_unit keep their customer filter)."""
    start = assert_accounting(db)
    assert start[(world.raw["ca1"], "webex_meetings")] == 1 and start[(world.raw["cb"], "webex_calling")] == 1

    with db.unit_of_work() as s:  # A: Matti leaves calling for meetings
        users.update_user(s, OPERATOR, customer(s, world), s.get(User, world.raw["ua"]),
                          UserFields(package="webex_meetings"))
    rows = assert_accounting(db)
    assert rows[(world.raw["ca"], "webex_calling")] == 0 and rows[(world.raw["ca"], "webex_meetings")] == 2
    assert rows[(world.raw["cb"], "webex_calling")] == 1

    with db.unit_of_work() as s:  # A: Maija is deleted
        users.delete_user(s, OPERATOR, customer(s, world), s.get(User, world.raw["um"]))
    rows = assert_accounting(db)
    assert rows[(world.raw["ca"], "webex_meetings")] == 1 and rows[(world.raw["ca1"], "webex_meetings")] == 1

    with db.unit_of_work() as s:  # A: Matti's package is removed, the person stays
        users.remove_package(s, OPERATOR, customer(s, world), s.get(User, world.raw["ua"]))
    rows = assert_accounting(db)
    assert rows[(world.raw["ca"], "webex_meetings")] == 0 and rows[(world.raw["ca1"], "webex_meetings")] == 1
    assert user_row(db, world.raw["ua"]).package is None

    with db.unit_of_work() as s:  # B: Sven leaves calling; A's and A1's rows do not move
        users.update_user(s, OPERATOR, customer(s, world, "cb"), s.get(User, world.raw["ub"]),
                          UserFields(package="webex_meetings"))
        users.delete_user(s, OPERATOR, customer(s, world, "ca1"), s.get(User, world.raw["ua1"]))
    rows = assert_accounting(db)
    assert rows[(world.raw["cb"], "webex_meetings")] == 1 and rows[(world.raw["ca1"], "webex_meetings")] == 0
    assert sum(rows.values()) == 1


def test_units_stay_per_customer_through_the_api(client, world, db):
    auth = world.auth("a_full")
    r = client.delete(f"{PEOPLE}/{world.ids['um']}", headers=auth)
    assert r.status_code == 204, r.text
    rows = assert_accounting(db)
    assert rows[(world.raw["ca1"], "webex_meetings")] == 1
    r = client.delete(f"{SUBSCRIBERS}/{world.ids['sa']}", headers=auth)
    assert r.status_code == 204, r.text
    rows = assert_accounting(db)
    assert rows[(world.raw["cb"], "webex_calling")] == 1 and rows[(world.raw["ca"], "webex_calling")] == 0


# --- R27: an existing calling user keeps its location --------------------------------------

R27 = ("locationId", None, "An existing calling user cannot be moved to another location; remove the calling "
                           "package first, then assign it with the new location.")


def test_r27_api_cannot_move_an_existing_calling_user(client, world, db):
    tampere = second_location(db, world)
    auth = world.auth("a_full")
    from rtmhub import ids
    before = state(db)
    r = client.put(f"{PEOPLE}/{world.ids['ua']}", json={"locationId": ids.encode("LOCATION", tampere)},
                   headers=auth)
    body = assert_error(r, 400)
    assert [e["description"] for e in body["errors"]] == [R27[2]]
    assert state(db) == before
    # The same location again is no move; a user leaving calling may then come back elsewhere.
    r = client.put(f"{PEOPLE}/{world.ids['ua']}", json={"locationId": world.ids["loc_ca"], "title": "Myyjä"},
                   headers=auth)
    assert r.status_code == 200, r.text
    assert user_row(db, world.raw["ua"]).location_id == world.raw["loc_ca"]


def test_r27_service_refuses_a_move_and_allows_it_after_leaving_calling(db, world):
    tampere = second_location(db, world)
    exc = refusal(db, update(world, "ua", location_id=tampere))
    assert problems(exc) == [R27]
    assert isinstance(exc, ValidationFailed)
    # Another calling package keeps the location rule too (Calling -> Suite with a new location).
    exc = refusal(db, update(world, "ua", package="webex_suite", location_id=tampere))
    assert problems(exc) == [R27]
    with db.unit_of_work() as s:
        users.update_user(s, OPERATOR, customer(s, world), s.get(User, world.raw["ua"]),
                          UserFields(package="webex_meetings"))
    with db.unit_of_work() as s:
        users.update_user(s, OPERATOR, customer(s, world), s.get(User, world.raw["ua"]),
                          UserFields(package="webex_calling", extension="1001", location_id=tampere))
    row = user_row(db, world.raw["ua"])
    assert (row.package, row.location_id, row.extension) == ("webex_calling", tampere, "1001")


# --- D9/R33: caller ID names -----------------------------------------------------------------

def test_caller_id_names_are_cut_to_30_characters_from_long_names(db, world):
    first, last = "Å" * 40, "Ö" * 31
    with db.unit_of_work() as s:
        users.create_user(s, OPERATOR, customer(s, world), UserFields(
            email="pitka@asiakas.example", first_name=first, last_name=last, package="webex_calling",
            extension="1201", location_id=world.raw["loc_ca"]))
    row = user_by_email(db, "pitka@asiakas.example")
    assert (row.caller_id_first_name, row.caller_id_last_name) == ("Å" * 30, "Ö" * 30)
    assert (row.first_name, row.last_name) == (first, last)
    assert row.display_name == f"{first} {last}"


@pytest.mark.parametrize("field,api", [("caller_id_first_name", "callerIdFirstName"),
                                       ("caller_id_last_name", "callerIdLastName")])
def test_caller_id_name_over_30_characters_is_refused_by_value(db, world, field, api):
    exc = refusal(db, create(world, email="cid@asiakas.example", first_name="A", last_name="B",
                             package="webex_calling", extension="1202", location_id=world.raw["loc_ca"],
                             **{field: "Ä" * 31}))
    assert problems(exc) == [(api, None, f"{api} '{'Ä' * 31}' is longer than 30 characters.")]
    with db.unit_of_work() as s:
        create(world, email="cid@asiakas.example", first_name="A", last_name="B", package="webex_calling",
               extension="1202", location_id=world.raw["loc_ca"], **{field: "Ä" * 30})(s)
    assert getattr(user_by_email(db, "cid@asiakas.example"), field) == "Ä" * 30


NO_CALLER_ID = ("callerIdFirstName", None, "A calling user needs caller ID first and last names: give "
                                           "firstName/lastName or the caller ID names.")


@pytest.mark.parametrize("names", [{}, {"first_name": "Etu"}, {"last_name": "Suku"},
                                   {"caller_id_first_name": "Etu"}, {"caller_id_last_name": "Suku"}])
def test_calling_user_without_caller_id_names_is_refused(db, world, names):
    exc = refusal(db, create(world, email="nimeton@asiakas.example", package="webex_calling", extension="1203",
                             location_id=world.raw["loc_ca"], **names))
    assert problems(exc) == [NO_CALLER_ID]


def test_calling_user_with_only_caller_id_names_is_accepted(db, world):
    with db.unit_of_work() as s:
        create(world, email="vain.cid@asiakas.example", package="webex_calling", extension="1204",
               location_id=world.raw["loc_ca"], caller_id_first_name="Etu", caller_id_last_name="Suku")(s)
    row = user_by_email(db, "vain.cid@asiakas.example")
    assert (row.caller_id_first_name, row.caller_id_last_name, row.first_name) == ("Etu", "Suku", None)
    assert row.display_name == "vain.cid@asiakas.example"  # no names: the e-mail is the display name


def test_caller_id_names_given_are_kept_over_the_names(db, world):
    with db.unit_of_work() as s:
        create(world, email="oma.cid@asiakas.example", first_name="Etu", last_name="Suku",
               package="webex_suite", phone_number="+358401230001", location_id=world.raw["loc_ca"],
               caller_id_first_name="Vaihde", caller_id_last_name="Oy")(s)
    row = user_by_email(db, "oma.cid@asiakas.example")
    assert (row.caller_id_first_name, row.caller_id_last_name) == ("Vaihde", "Oy")
    assert (row.phone_number, row.extension) == ("+358401230001", None)


# --- D2: calling fields need a calling package ---------------------------------------------

def test_calling_fields_with_a_non_calling_package_are_refused_once(db, world):
    exc = refusal(db, create(world, email="d2@asiakas.example", package="webex_meetings", extension="1205",
                             phone_number="+358401230002", location_id=world.raw["loc_ca"]))
    assert problems(exc) == [("extension", None,
                              "extension can only be set with a calling package, not Webex Meetings.")]
    exc = refusal(db, create(world, email="d2@asiakas.example", package="webex_meetings",
                             caller_id_first_name="Etu"))
    assert problems(exc) == [("callerIdFirstName", None,
                              "callerIdFirstName can only be set with a calling package, not Webex Meetings.")]
    exc = refusal(db, create(world, email="d2@asiakas.example", phone_number="+358401230002"))
    assert problems(exc) == [("phoneNumber", None, "phoneNumber can only be set with a calling package.")]
    exc = refusal(db, update(world, "um", location_id=world.raw["loc_ca"]))
    assert problems(exc) == [("locationId", None,
                              "locationId can only be set with a calling package, not Webex Meetings.")]
    # Empty calling fields are no calling data: accepted.
    with db.unit_of_work() as s:
        create(world, email="d2@asiakas.example", package="webex_meetings", extension="", location_id=None)(s)
    row = user_by_email(db, "d2@asiakas.example")
    assert (row.package, row.extension, row.location_id) == ("webex_meetings", None, None)


def test_leaving_calling_drops_the_whole_calling_identity(db, world):
    with db.unit_of_work() as s:
        users.update_user(s, OPERATOR, customer(s, world), s.get(User, world.raw["ua"]),
                          UserFields(caller_id_number="+358912345699"))
    row = user_row(db, world.raw["ua"])
    assert (row.caller_id_first_name, row.caller_id_number) == ("Matti", "+358912345699")
    with db.unit_of_work() as s:
        users.update_user(s, OPERATOR, customer(s, world), s.get(User, world.raw["ua"]),
                          UserFields(package="webex_meetings"))
    row = user_row(db, world.raw["ua"])
    assert [getattr(row, f) for f in users.CALLING_FIELDS] == [None] * 6
    assert row.package == "webex_meetings"


# --- R33: entering calling from another package ----------------------------------------------

def test_entering_calling_needs_number_or_extension_given_now(db, world):
    need = ("package", None, "Changing from Webex Meetings to Webex Calling needs the caller ID data: give "
                             "primaryPhoneNumber and/or extension, and locationId.")
    exc = refusal(db, update(world, "um", package="webex_calling", location_id=world.raw["loc_ca"]))
    assert problems(exc) == [need]
    exc = refusal(db, update(world, "um", package="webex_calling", location_id=world.raw["loc_ca"],
                             extension="1206", calling_data_given=False))
    assert problems(exc) == [need]
    # Told the calling data was given, the usual check answers (no number nor extension).
    exc = refusal(db, update(world, "um", package="webex_calling", location_id=world.raw["loc_ca"],
                             calling_data_given=True))
    assert problems(exc) == [("extension", None, "Webex Calling needs an extension or an E.164 phone number "
                                                 "(or both).")]
    exc = refusal(db, update(world, "um", package="webex_calling", extension="1206"))
    assert problems(exc) == [("locationId", None, "Webex Calling needs a location: give locationId.")]
    exc = refusal(db, update(world, "um", package="webex_calling", extension="1206", location_id="nowhere"))
    assert problems(exc) == [("locationId", 400, "Location not found in this organisation; check locationId.")]
    with db.unit_of_work() as s:
        update(world, "um", package="webex_calling", phone_number="+358401230003",
               location_id=world.raw["loc_ca"])(s)
    row = user_row(db, world.raw["um"])
    assert (row.package, row.phone_number, row.caller_id_first_name) == ("webex_calling", "+358401230003", "Maija")


def test_a_calling_user_keeps_its_data_when_other_fields_change(db, world):
    """Not entering calling: no calling data asked for, the user's own stays."""
    with db.unit_of_work() as s:
        update(world, "ua", title="Myyjä", caller_id_first_name="Vaihde")(s)
    row = user_row(db, world.raw["ua"])
    assert (row.title, row.extension, row.location_id, row.caller_id_first_name, row.caller_id_last_name) == (
        "Myyjä", "1001", world.raw["loc_ca"], "Vaihde", "Meikäläinen")
    exc = refusal(db, update(world, "ua", extension="", phone_number=""))
    assert problems(exc) == [("extension", None, "Webex Calling needs an extension or an E.164 phone number "
                                                 "(or both).")]


# --- packages a user cannot hold, external users, R8 -----------------------------------------

def test_package_refusals_by_value(db, world):
    exc = refusal(db, create(world, email="p@asiakas.example", package="attendant_console"))
    assert problems(exc) == [("package", 400000, "'attendant_console' is not a package a user can hold; use one "
                                                 "of: webex_calling, webex_calling_standard, webex_suite, "
                                                 "webex_voice, webex_meetings, cx_essentials.")]
    exc = refusal(db, lambda s: users.create_user(s, OPERATOR, customer(s, world), UserFields(
        email="ulko@toinen.example", package="webex_meetings"), home_org_id="another-org"))
    assert problems(exc) == [("package", None, "An external user (whose home organisation is another "
                                               "organisation) cannot be given a wholesale package.")]
    exc = refusal(db, update(world, "ua", package="webex_calling_standard"))
    assert problems(exc) == [("package", 400112, "A user's package cannot be changed from Webex Calling "
                              "(webex_calling) to Webex Calling Standard (webex_calling_standard) (error 400112). "
                              "Remove the user's package first, then assign Webex Calling Standard with new "
                              "calling data.")]


def test_a_package_the_customer_never_bought_and_a_full_one(db, world):
    exc = refusal(db, update(world, "um", package="webex_calling_standard", extension="1207",
                             location_id=world.raw["loc_ca"]))
    assert problems(exc) == [(None, 400000, "The customer has no Webex Calling Standard package "
                                            "(webex_calling_standard); add it to the customer or choose one of "
                                            "the customer's packages.")]
    set_allocation(db, world.raw["ca"], "webex_meetings", 1)  # Maija holds it
    exc = refusal(db, create(world, email="liikaa@asiakas.example", package="webex_meetings"))
    assert isinstance(exc, AllocationExceeded)
    assert problems(exc) == [(None, None, "Webex Meetings is fully used: 1 of 1 allocated units are assigned. "
                                          "Free a unit or raise the customer's allocation first.")]
    # A user of a fully used package may still be modified (no unit moves).
    with db.unit_of_work() as s:
        update(world, "um", title="Päällikkö", package="webex_meetings")(s)
    assert user_row(db, world.raw["um"]).title == "Päällikkö"
    assert assert_accounting(db)[(world.raw["ca"], "webex_meetings")] == 1


def test_full_package_user_is_modified_through_the_api(client, world, db):
    set_allocation(db, world.raw["ca"], "webex_meetings", 1)
    meetings = licence_id(client, world, "webex_meetings")
    r = client.put(f"{PEOPLE}/{world.ids['um']}", json={"title": "Päällikkö", "licenses": [meetings]},
                   headers=world.auth("a_full"))
    assert r.status_code == 200, r.text
    assert user_row(db, world.raw["um"]).title == "Päällikkö"


# --- R23: the Webex site is one of the organisation's ---------------------------------------

def test_r23_a_site_that_is_not_the_organisations_is_refused_with_400216(db, world):
    with db.unit_of_work(write=False) as s:
        sites = list(s.scalars(select(MeetingSite.url).where(MeetingSite.customer_id == world.raw["ca"])))
        foreign = s.scalar(select(MeetingSite.url).where(MeetingSite.customer_id == world.raw["cb"]))
    assert sites and foreign and foreign not in sites
    with db.unit_of_work() as s:  # two sites, so the list of them shows how they are joined
        s.add(MeetingSite(customer_id=world.raw["ca"], url="asiakas-toinen.webex.com"))
    with db.unit_of_work(write=False) as s:
        sites = list(s.scalars(select(MeetingSite.url).where(MeetingSite.customer_id == world.raw["ca"])))
    assert len(sites) == 2
    exc = refusal(db, update(world, "um", preferred_site_url=foreign))
    assert problems(exc) == [("preferredWebexSite", 400216, f"Webex site '{foreign}' is not a site of this "
                                                            f"organisation; use one of: {sites[0]}, {sites[1]}.")]
    with db.unit_of_work() as s:
        s.execute(delete(MeetingSite).where(MeetingSite.customer_id == world.raw["ca"]))
    exc = refusal(db, update(world, "um", preferred_site_url=sites[0]))
    assert problems(exc) == [("preferredWebexSite", 400216, f"Webex site '{sites[0]}' is not a site of this "
                                                            "organisation; use one of: (none).")]


def test_r23_own_site_is_accepted_and_an_unchanged_stored_site_is_not_rechecked(db, world):
    with db.unit_of_work(write=False) as s:
        site = s.scalar(select(MeetingSite.url).where(MeetingSite.customer_id == world.raw["ca"]))
    with db.unit_of_work() as s:
        update(world, "um", preferred_site_url=site)(s)
    assert user_row(db, world.raw["um"]).preferred_site_url == site
    with db.unit_of_work() as s:
        s.execute(delete(MeetingSite).where(MeetingSite.customer_id == world.raw["ca"]))
    with db.unit_of_work() as s:  # the site is gone, but this change does not name it
        update(world, "um", title="Kokoaja")(s)
    assert user_row(db, world.raw["um"]).title == "Kokoaja"


def test_r23_api_site_of_another_organisation_is_refused(client, world, db):
    with db.unit_of_work(write=False) as s:
        foreign = s.scalar(select(MeetingSite.url).where(MeetingSite.customer_id == world.raw["cb"]))
    before = state(db)
    r = client.put(f"{PEOPLE}/{world.ids['um']}", json={"preferredWebexSite": foreign},
                   headers=world.auth("a_full"))
    assert_error(r, 400, foreign, "not a site of this organisation", code=400216)
    assert state(db) == before


# --- D6 uniqueness codes, and a user is never its own duplicate --------------------------------

def test_uniqueness_codes_by_value_and_own_values_are_no_conflict(db, world):
    exc = refusal(db, create(world, email="Matti.Meikalainen@asiakas.example"))
    assert isinstance(exc, Conflict)
    assert problems(exc) == [(None, 10022, "The email Matti.Meikalainen@asiakas.example is already associated "
                                           "with an existing user.")]
    exc = refusal(db, update(world, "um", package="webex_calling", phone_number="+358912345601",
                             location_id=world.raw["loc_ca"]))
    assert problems(exc) == [(None, 4201, "Phone number +358912345601 is already in use by another user.")]
    exc = refusal(db, update(world, "um", package="webex_calling", extension="1001",
                             location_id=world.raw["loc_ca"]))
    assert problems(exc) == [(None, 4202, "Extension 1001 is already in use in this location.")]
    # Matti's own e-mail (in another case), number and extension are his.
    with db.unit_of_work() as s:
        update(world, "ua", email="MATTI.meikalainen@asiakas.example", phone_number="+358912345601",
               extension="1001", location_id=world.raw["loc_ca"])(s)
    row = user_row(db, world.raw["ua"])
    assert (row.email, row.email_key) == ("MATTI.meikalainen@asiakas.example", "matti.meikalainen@asiakas.example")


# --- the early stop for a new user without a usable e-mail -------------------------------------

def test_new_user_with_a_bad_email_reports_only_the_email(db, world):
    exc = refusal(db, create(world, email="ei-at-merkkia", package="webex_calling", title="T" * 200))
    # The field checks all answer; the package's calling data is not asked for without a usable e-mail.
    assert sorted(p[:2] for p in problems(exc)) == [("email", 4802), ("title", None)]
    exc = refusal(db, lambda s: users.create_user(s, OPERATOR, customer(s, world), UserFields(first_name="X")))
    assert str(exc) == "email is required for a new user."


def test_a_new_user_with_a_usable_email_gets_every_problem_at_once(db, world):
    # A field problem does not stop the checks when the e-mail is usable: the package's problem is reported too.
    exc = refusal(db, create(world, email="uusi.kaikki@asiakas.example", first_name="Pa%ha", package="webex_teams"))
    assert sorted(p[:2] for p in problems(exc)) == [("firstName", None), ("package", 400000)]


def test_an_existing_user_gets_field_and_package_problems_at_once(db, world):
    exc = refusal(db, update(world, "um", first_name="Pa%ha", package="webex_teams"))
    assert sorted(p[:2] for p in problems(exc)) == [("firstName", None), ("package", 400000)]
    # A blank e-mail does not stop an existing user's checks either (only a new user's, who has no other key).
    exc = refusal(db, update(world, "um", email="", package="webex_teams"))
    assert sorted(p[:2] for p in problems(exc)) == [("email", None), ("package", 400000)]


@pytest.mark.parametrize("blank", ["", None, "  "])
def test_a_blank_email_is_refused_for_an_existing_user(db, world, blank):
    exc = refusal(db, update(world, "um", email=blank))
    assert problems(exc) == [("email", None, "email: an e-mail address is required.")]


@pytest.mark.parametrize("emails", [[""], ["  "]])
def test_the_api_refuses_a_blank_email_by_name(client, world, db, emails):
    before = state(db)
    r = client.put(f"{PEOPLE}/{world.ids['um']}", json={"emails": emails, "firstName": "Maija"},
                   headers=world.auth("a_full"))
    assert_error(r, 400, "email: an e-mail address is required.")
    assert state(db) == before


def test_columns_no_rule_covers_are_written_with_the_new_user(db, world):
    # Directory sync's values (its SCIM attributes) go in with the row the rules made.
    with db.unit_of_work() as s:
        made = users.create_user(s, OPERATOR, customer(s, world), UserFields(
            email="hakemisto@asiakas.example", first_name="Hake", last_name="Misto", package="webex_meetings"),
            columns={"external_id": "ad-4711", "user_name": "hmisto", "active": False}).id
    row = user_row(db, made)
    assert (row.external_id, row.user_name, row.active, row.email) == ("ad-4711", "hmisto", False,
                                                                        "hakemisto@asiakas.example")


def test_a_lost_race_for_an_email_is_a_409_that_says_so(db, world, monkeypatch):
    # Another transaction took the e-mail between the check and the write: the unique index refuses the row.
    monkeypatch.setattr(users.Lookups, "email_owner", lambda self, key: None)
    exc = refusal(db, update(world, "um", email="matti.meikalainen@asiakas.example"))
    assert isinstance(exc, Conflict)
    assert str(exc) == "Another change to the same e-mail, number or extension won; reload and retry."


def test_an_existing_user_gets_every_problem_at_once(db, world):
    exc = refusal(db, update(world, "um", title="T" * 129, department="\x07", first_name="Pa%ha",
                             language="suomi", timezone="Mars/Olympus"))
    assert sorted(p[0] for p in problems(exc)) == ["department", "firstName", "language", "timezone", "title"]
    assert ("title", None, "title is longer than 128 characters.") in problems(exc)
    assert ("department", None, "department must not contain control characters.") in problems(exc)


# --- what a change stores --------------------------------------------------------------------

def test_stored_values_blank_text_display_name_and_package_time(db, world):
    with db.unit_of_work() as s:
        update(world, "um", title="Päällikkö", display_name="Maija M")(s)
    first = user_row(db, world.raw["um"])
    assigned = first.package_assigned
    assert assigned is not None and (first.title, first.display_name) == ("Päällikkö", "Maija M")
    with db.unit_of_work() as s:  # blank text clears, the display name falls back to the names
        update(world, "um", title="", display_name="", basic_messaging=None)(s)
    row = user_row(db, world.raw["um"])
    assert (row.title, row.display_name, row.basic_messaging) == (None, "Maija Meikäläinen", False)
    assert row.package_assigned == assigned  # the package stayed: its time stays
    assert row.last_modified >= first.last_modified
    with db.unit_of_work() as s:
        update(world, "um", package="webex_voice", extension="1208", location_id=world.raw["loc_ca"])(s)
    row = user_row(db, world.raw["um"])
    assert row.package_assigned is not None and row.package_assigned >= assigned
    assert row.last_modified == row.package_assigned  # one change, one instant: not the column's own default
    with db.unit_of_work() as s:
        customer = s.get(Customer, world.raw["ca"])
        made = users.create_user(s, OPERATOR, customer, UserFields(
            email="hetki@asiakas.example", first_name="Hetki", last_name="Uusi", package="webex_meetings")).id
    row = user_row(db, made)
    assert row.package_assigned is not None and row.last_modified == row.package_assigned
    with db.unit_of_work() as s:
        update(world, "um", package=None)(s)
    assert user_row(db, world.raw["um"]).package_assigned is None


def test_each_change_records_its_ledger_and_audit(db, world):
    from rtmhub.domain.usage.models import PackageInterval  # noqa: PLC0415 - the ledger, read only here

    def events():
        with db.unit_of_work(write=False) as s:
            audit = [(a.action, a.entity_id) for a in s.scalars(select(AuditEvent).order_by(AuditEvent.at,
                                                                                             AuditEvent.id))]
            ledger = sorted((i.user_id, i.customer_id, i.partner_id, i.email, i.package, i.ended is None)
                            for i in s.scalars(select(PackageInterval).where(PackageInterval.user_id
                                                                             == world.raw["um"])))
            return audit, ledger

    audit0, ledger0 = events()
    assert ledger0 == [(world.raw["um"], world.raw["ca"], world.raw["pa"], "maija.meikalainen@asiakas.example",
                        "webex_meetings", True)]
    with db.unit_of_work() as s:
        update(world, "um", package="webex_voice", extension="1209", location_id=world.raw["loc_ca"])(s)
    audit, ledger = events()
    assert audit[len(audit0):] == [("user.update", world.raw["um"])]
    assert ledger == [(world.raw["um"], world.raw["ca"], world.raw["pa"], "maija.meikalainen@asiakas.example",
                       "webex_meetings", False),
                      (world.raw["um"], world.raw["ca"], world.raw["pa"], "maija.meikalainen@asiakas.example",
                       "webex_voice", True)]
    with db.unit_of_work() as s:  # nothing changes: no event at all
        update(world, "um", title=None)(s)
    assert events() == (audit, ledger)
    with db.unit_of_work() as s:
        users.delete_user(s, OPERATOR, customer(s, world), s.get(User, world.raw["um"]))
    audit, ledger = events()
    assert ledger[1][4:] == ("webex_voice", False)  # the interval of the deleted user's package ended
    with db.unit_of_work(write=False) as s:
        last = s.scalars(select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())).first()
        assert (last.action, last.entity_type, last.entity_id, last.customer_id, last.after) == (
            "user.delete", "user", world.raw["um"], world.raw["ca"], None)
        assert last.before["package"] == "webex_voice"


# --- reading ---------------------------------------------------------------------------------

def test_filters_each_narrow_the_list(db, world):
    with db.unit_of_work(write=False) as s:
        ca = customer(s, world)

        def emails(**flt) -> list[str]:
            found = [u.email for u in users.list_users(s, ca, UserFilter(**flt))]
            assert users.count_users(s, ca, UserFilter(**flt)) == len(found)
            return found

        assert emails() == ["matti.meikalainen@asiakas.example", "maija.meikalainen@asiakas.example"]
        assert emails(email=" MAIJA.meikalainen@asiakas.example ") == ["maija.meikalainen@asiakas.example"]
        assert emails(display_name="matti M") == ["matti.meikalainen@asiakas.example"]
        assert emails(ids=[world.raw["um"]]) == ["maija.meikalainen@asiakas.example"]
        assert emails(ids=[]) == []
        assert emails(location_id=world.raw["loc_ca"]) == ["matti.meikalainen@asiakas.example"]
        assert emails(package="webex_meetings") == ["maija.meikalainen@asiakas.example"]
        assert emails(package="none") == []
        assert emails(status="provisioned") == emails()
        assert emails(status="active") == []
        assert emails(search=" MAIJA ") == ["maija.meikalainen@asiakas.example"]
        assert emails(search="meikäläinen") == emails()
        assert users.count_users(s, ca) == 2
        assert [u.email for u in users.list_users(s, ca, UserFilter(), offset=1, limit=1)] == [
            "maija.meikalainen@asiakas.example"]
        assert users.get_user(s, ca, world.raw["um"]).email == "maija.meikalainen@asiakas.example"
        for bad in (world.raw["ub"], None, "nobody"):
            with pytest.raises(NotFound) as info:
                users.get_user(s, ca, bad)
            assert str(info.value) == "Person not found; check the id."
        # '_' and '%' in a prefix are letters, not wildcards; the search looks at e-mails too.
        assert emails(display_name="matti_") == [] and emails(display_name="%") == []
        assert emails(search="@asiakas.example") == emails()
        users.create_user(s, OPERATOR, ca, UserFields(email="ilman@asiakas.example"))
        s.flush()
        assert emails(package="none") == ["ilman@asiakas.example"]
        s.rollback()


# --- manual add (R11/D7), subscribers, R46, R23 defaults ----------------------------------------

def test_manual_add_bounds_defaults_and_one_savepoint_per_user(db, world):
    with db.unit_of_work(write=False) as s:
        site = s.scalar(select(MeetingSite.url).where(MeetingSite.customer_id == world.raw["ca"]))
    exc = refusal(db, lambda s: users.add_many(s, OPERATOR, customer(s, world), []))
    assert str(exc) == "Give at least one user to add."
    many = [UserFields(email=f"m{i}@asiakas.example") for i in range(26)]
    exc = refusal(db, lambda s: users.add_many(s, OPERATOR, customer(s, world), many))
    assert str(exc) == "At most 25 users can be added at once (26 given); use a CSV import for more."
    with db.unit_of_work() as s:
        got = users.add_many(s, OPERATOR, customer(s, world), [
            UserFields(email="eka@asiakas.example", package="webex_meetings"),
            UserFields(email="Matti.Meikalainen@asiakas.example"),
            UserFields(email="toka@asiakas.example", basic_messaging=False, package="webex_voice", extension="1301",
                       location_id=world.raw["loc_ca"], first_name="T", last_name="K"),
        ] + [UserFields(email=f"m{i}@asiakas.example") for i in range(22)])
    assert [type(r).__name__ for r in got[:3]] == ["User", "Conflict", "User"] and len(got) == 25
    assert got[1].errors[0].error_code == 10022
    eka, toka = user_by_email(db, "eka@asiakas.example"), user_by_email(db, "toka@asiakas.example")
    assert (eka.basic_messaging, eka.basic_space_meetings, eka.call_on_webex, eka.preferred_site_url) == (
        True, True, True, site)
    assert (toka.basic_messaging, toka.basic_space_meetings, toka.preferred_site_url) == (False, True, None)
    assert user_by_email(db, "m21@asiakas.example") is not None
    with db.unit_of_work() as s:  # the page's own site choice wins over the default
        s.add(MeetingSite(customer_id=world.raw["ca"], url="zz-toinen.webex.com", timezone="Europe/Helsinki"))
        s.flush()
        users.add_many(s, OPERATOR, customer(s, world), [UserFields(email="kolm@asiakas.example",
                                                                    package="webex_meetings")],
                       site="zz-toinen.webex.com")
    assert user_by_email(db, "kolm@asiakas.example").preferred_site_url == "zz-toinen.webex.com"


def test_site_choices_prefer_the_customers_own_site(db, world):
    with db.unit_of_work() as s:
        ca = customer(s, world)
        first = s.scalar(select(MeetingSite).where(MeetingSite.customer_id == ca.id))
        later = first.created + timedelta(seconds=1)
        # Listed by creation, ties by URL: the world's site, then the two later ones alphabetically.
        s.add(MeetingSite(customer_id=ca.id, url="zz-toinen.webex.com", timezone="Europe/Helsinki", created=later))
        s.add(MeetingSite(customer_id=ca.id, url="aa-kolmas.webex.com", timezone="Europe/Helsinki", created=later))
        s.flush()
        sites, default = users.site_choices(s, ca)
        assert sites == [first.url, "aa-kolmas.webex.com", "zz-toinen.webex.com"] and default == first.url
        ca.preferred_site_url = "zz-toinen.webex.com"
        assert users.site_choices(s, ca) == (sites, "zz-toinen.webex.com")
        ca.preferred_site_url = "ei-oma.webex.com"
        assert users.site_choices(s, ca) == (sites, sites[0])
        fields = UserFields(email="x@asiakas.example", package="webex_voice")
        assert users.with_preferred_site(s, ca, fields) is fields  # Webex Voice has no meetings
        given = UserFields(package="webex_meetings", preferred_site_url="zz-toinen.webex.com")
        assert users.with_preferred_site(s, ca, given) is given
        chosen = users.with_preferred_site(s, ca, UserFields(package="webex_suite"), "zz-toinen.webex.com")
        assert chosen.preferred_site_url == "zz-toinen.webex.com" and "preferred_site_url" in chosen.model_fields_set
        s.execute(delete(MeetingSite).where(MeetingSite.customer_id == ca.id))
        assert users.site_choices(s, ca) == ([], None)
        bare = UserFields(package="webex_meetings")
        assert users.with_preferred_site(s, ca, bare) is bare
        s.rollback()


def test_r46_warnings_by_value(db, world):
    with db.unit_of_work(write=False) as s:
        before = users.snapshot(s.get(User, world.raw["ua"]))
    fields = UserFields(package="webex_suite", extension="1999", phone_number="+358912345601", location_id="",
                        title="Uusi")
    kept, warnings = users.keep_calling_identity(before, fields)
    assert kept.model_fields_set == {"package", "title"}
    assert [(w.field, w.error_code, str(w.description)) for w in warnings] == [
        ("extension", None, "extension '1999' was ignored: the user already has calling, and a calling user keeps "
                            "its number, extension and location when its package changes.")]
    # Not staying in calling, or no kept field given: the fields as they came.
    for f in (UserFields(package="webex_meetings", extension="1999"), UserFields(title="X")):
        assert users.keep_calling_identity(before, f) == (f, [])
    same = UserFields(extension="1999")
    assert users.keep_calling_identity(before, same)[1][0].field == "extension"
    with db.unit_of_work() as s:
        got = users.change_package(s, OPERATOR, customer(s, world), s.get(User, world.raw["ua"]), fields)
    assert [w.field for w in got] == ["extension"]
    row = user_row(db, world.raw["ua"])
    assert (row.package, row.extension, row.title) == ("webex_suite", "1001", "Uusi")


def test_provision_subscriber_and_precheck(db, world):
    taken = "The email {} is already associated with an existing user."
    exc = refusal(db, lambda s: users.provision_subscriber(s, OPERATOR, customer(s, world, "cb"),
                                                           "MAIJA.meikalainen@asiakas.example", UserFields()))
    assert problems(exc) == [(None, 10022, taken.format("MAIJA.meikalainen@asiakas.example"))]
    exc = refusal(db, lambda s: users.provision_subscriber(s, OPERATOR, customer(s, world),
                                                           "maija.meikalainen@asiakas.example", UserFields()))
    assert problems(exc) == [(None, 10022, taken.format("maija.meikalainen@asiakas.example"))]
    with db.unit_of_work() as s:  # a person of this organisation without a package takes one (and the site)
        ca = customer(s, world)
        users.create_user(s, OPERATOR, ca, UserFields(email="ilman@asiakas.example"))
    with db.unit_of_work() as s:
        ca = customer(s, world)
        users.provision_subscriber(s, OPERATOR, ca, " ILMAN@asiakas.example ", UserFields(package="webex_meetings"))
        site = users.site_choices(s, ca)[1]
    row = user_by_email(db, "ilman@asiakas.example")
    assert (row.package, row.preferred_site_url) == ("webex_meetings", site)

    exc = refusal(db, lambda s: users.precheck_subscriber(s, OPERATOR, " Matti.Meikalainen@ASIAKAS.example"))
    assert problems(exc) == [(None, 10022, taken.format(" Matti.Meikalainen@ASIAKAS.example"))]
    exc = refusal(db, lambda s: users.precheck_subscriber(s, OPERATOR, "ei-at-merkkia"))
    assert [p[:2] for p in problems(exc)] == [("email", 4802)]
    with db.unit_of_work() as s:
        assert users.precheck_subscriber(s, OPERATOR, "vapaa@asiakas.example") is None
        users.precheck_subscriber(s, OPERATOR, "vapaa@asiakas.example", customer(s, world))
        assert users.get_user(s, customer(s, world), s.scalar(select(User.id).where(
            User.email_key == "vapaa@asiakas.example"))).package is None
        s.rollback()
    assert user_by_email(db, "vapaa@asiakas.example") is None


def test_a_new_subscriber_reads_its_e_mail_and_the_sites_once(db, world):
    """provision_subscriber's e-mail look-up and the sites it chose a site from are answered again to the rules
    without a second query; the rules still ask for what they know nothing of: an e-mail whose key only the
    normalised address shares (NFD in the request, NFC in the database) is 10022 as before."""
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(" ".join(statement.split()))

    with db.unit_of_work() as s:
        ca = customer(s, world)
        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            user = users.provision_subscriber(s, OPERATOR, ca, "Uusi.Tilaaja@asiakas.example ",
                                              UserFields(package="webex_meetings", first_name="Uusi"))
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
        assert (user.email, user.package, user.preferred_site_url) == (
            "Uusi.Tilaaja@asiakas.example", "webex_meetings", users.site_choices(s, ca)[1])
    selects = [st for st in statements if st.startswith("SELECT")]
    assert len([st for st in selects if "users.email_key =" in st]) == 1, selects
    assert len([st for st in selects if "FROM meeting_sites" in st]) == 1, selects
    with db.unit_of_work() as s:
        users.create_user(s, OPERATOR, customer(s, world), UserFields(email="m\u00fcller@asiakas.example"))
    taken = "The email {} is already associated with an existing user."
    decomposed = "mu\u0308ller@asiakas.example"
    exc = refusal(db, lambda s: users.provision_subscriber(s, OPERATOR, customer(s, world), decomposed,
                                                           UserFields(package="webex_meetings")))
    assert problems(exc) == [(None, 10022, taken.format("m\u00fcller@asiakas.example"))]


def test_a_new_user_is_stored_alike_by_the_insert_and_by_the_orms_flush(db, world):
    """A new user outside a SAVEPOINT is INSERTed as Core and attached to the session; inside one the ORM's flush
    writes it (a rolled-back SAVEPOINT then forgets it). Both store the same row: the same values, defaults,
    SQL NULL for a JSON column left out and JSON null for one given as None; the attached user is the session's
    own (a change to it is written) and a taken e-mail is the same 409 either way."""
    fields = dict(package="webex_meetings", first_name="Sama", last_name="Rivi", title="Testaaja",
                  preferred_site_url=None, basic_messaging=True)
    made = {}
    with db.unit_of_work() as s:
        ca = customer(s, world)
        for way, columns in (("core", {"external_id": "x-1", "directory_data": None}), ("orm", {"external_id": "x-1"}),
                             ("core-bare", None), ("orm-bare", None)):
            savepoint = s.begin_nested() if way.startswith("orm") else None
            user = users.create_user(s, OPERATOR, ca, UserFields(email=f"{way}@asiakas.example", **fields),
                                     columns=columns)
            if savepoint is not None:
                savepoint.commit()
            assert user in s and user not in s.new and user.active is True and user.created is not None
            made[way] = user.id
        s.get(User, made["core"]).title = "Muutettu"  # attached: the change is written at commit
        savepoint = s.begin_nested()
        gone = users.create_user(s, OPERATOR, ca, UserFields(email="gone@asiakas.example", **fields))
        savepoint.rollback()
        assert gone not in s and s.get(User, gone.id) is None
    skip = {"id", "email", "email_key", "created", "last_modified", "package_assigned", "display_name",
            "external_id", "directory_data", "title"}
    with db.unit_of_work(write=False) as s:
        rows = {way: s.connection().execute(select(User.__table__).where(User.id == uid)).mappings().one()
                for way, uid in made.items()}
        json_null = {way: s.connection().execute(select(User.directory_data.is_(None)).where(
            User.id == uid)).scalar() for way, uid in made.items()}
    core, orm = ({k: v for k, v in rows[way].items() if k not in skip} for way in ("core-bare", "orm-bare"))
    assert core == orm and core["active"] is True and core["basic_messaging"] is True
    assert rows["core"]["title"] == "Muutettu" and rows["orm"]["title"] == "Testaaja"
    assert [rows[w]["external_id"] for w in ("core", "orm")] == ["x-1", "x-1"]
    assert json_null == {"core": False, "orm": True, "core-bare": True, "orm-bare": True}
    for way in ("core", "orm"):
        assert abs(rows[way]["created"] - rows[way]["package_assigned"]) < timedelta(seconds=5)
    conflict = "Another change to the same e-mail, number or extension won; reload and retry."
    for nested in (False, True):
        with pytest.raises(Conflict) as info, db.unit_of_work() as s:
            ca = customer(s, world)
            if nested:
                s.begin_nested()
            user = User(id=made["core"], customer_id=ca.id, home_org_id=ca.org_id, email="", email_key="",
                        basic_messaging=False, basic_space_meetings=False, call_on_webex=False, status="provisioned")
            users._apply(s, OPERATOR, ca, user, UserFields(email="toinen@asiakas.example"), before=None)
        assert str(info.value) == conflict


def test_is_external_and_api_names(db, world):
    with db.unit_of_work(write=False) as s:
        ca = customer(s, world)
        assert users.is_external(s.get(User, world.raw["ua"]), ca) is False
        assert users.is_external(s.get(User, world.raw["ub"]), ca) is True
    assert [users._api_name(n) for n in ("extension", "phone_number", "caller_id_first_name")] == [
        "extension", "phoneNumber", "callerIdFirstName"]
    assert users.blank_snapshot()["basic_messaging"] is False and users.blank_snapshot()["email"] is None
    assert users.blank_snapshot()["jabber_calling"] is False


def test_change_package_passes_on_whether_calling_data_was_given(db, world):
    """The subscriber PUT says whether provisioningParameters came: without them, entering calling is refused
    even when the fields carry an extension."""
    exc = refusal(db, lambda s: users.change_package(
        s, OPERATOR, customer(s, world), s.get(User, world.raw["um"]),
        UserFields(package="webex_calling", extension="1401", location_id=world.raw["loc_ca"]),
        calling_data_given=False))
    assert problems(exc)[0][0] == "package" and "needs the caller ID data" in problems(exc)[0][2]


def test_r53_a_suspended_sub_partner_may_only_delete(db, world):
    from rtmhub.domain.partners.models import Partner  # noqa: PLC0415
    from rtmhub.errors import Forbidden  # noqa: PLC0415

    with db.unit_of_work() as s:
        s.get(Partner, world.raw["pa1"]).provisioning_state = "suspended"
    said = "Sub-partner 'Partner A1' is suspended: it may only delete customers and subscribers."
    for action in (create(world, "ca1", email="uusi@alihankkija.example"),
                   update(world, "ua1", "ca1", first_name="Muutettu"),
                   lambda s: users.add_many(s, OPERATOR, customer(s, world, "ca1"),
                                            [UserFields(email="uusi@alihankkija.example")])):
        exc = refusal(db, action)
        assert isinstance(exc, Forbidden) and str(exc) == said
    with db.unit_of_work() as s:
        users.remove_package(s, OPERATOR, customer(s, world, "ca1"), s.get(User, world.raw["ua1"]))
    assert user_row(db, world.raw["ua1"]).package is None
    with db.unit_of_work() as s:
        users.delete_user(s, OPERATOR, customer(s, world, "ca1"), s.get(User, world.raw["ua1"]))
    assert user_row(db, world.raw["ua1"]) is None


def test_the_user_list_pages_by_creation_then_id_through_users_made_in_one_instant(db, world):
    """An import makes many users in the same instant: pages of ``limit`` follow (created, id) ascending, so
    paging through ties neither repeats nor skips a user."""
    from sqlalchemy import update

    with db.unit_of_work() as s:
        ca = customer(s, world)
        made = [users.create_user(s, OPERATOR, ca, UserFields(email=f"tie{n}@asiakas.example")).id for n in range(5)]
        instant = s.get(User, made[0]).created
        s.execute(update(User).where(User.id.in_(made)).values(created=instant))
    with db.unit_of_work(write=False) as s:
        ca = customer(s, world)
        everyone = [u.id for u in users.list_users(s, ca, UserFilter())]
        assert everyone[-5:] == sorted(made) and len(everyone) == 7
        assert [len(users.list_users(s, ca, UserFilter(), offset=o, limit=2)) for o in (0, 2, 4, 6)] == [2, 2, 2, 1]
        paged = [u.id for o in (0, 2, 4, 6) for u in users.list_users(s, ca, UserFilter(), offset=o, limit=2)]
        assert paged == everyone


def test_r12_lets_a_hand_change_resend_the_directory_values_it_does_not_change(db, world):
    """R12 compares with the user as stored: an owned field sent with its current value is no change and passes;
    a different value is refused."""
    from rtmhub.domain.directory import service as directory

    with db.unit_of_work() as s:
        directory.enable(s, OPERATOR, world.raw["ca"])
    with db.unit_of_work() as s:
        ca = customer(s, world)
        maija = s.get(User, world.raw["um"])
        same = UserFields(first_name=maija.first_name, email=maija.email, timezone="Europe/Helsinki")
        assert users.update_user(s, OPERATOR, ca, maija, same).timezone == "Europe/Helsinki"
    with pytest.raises(ValidationFailed) as info, db.unit_of_work() as s:
        users.update_user(s, OPERATOR, customer(s, world), s.get(User, world.raw["um"]), UserFields(first_name="Other"))
    assert "the directory owns firstName" in str(info.value)


def test_the_user_list_gives_at_most_100_users_unless_told(db, world):
    """With no limit given, one call lists the first 100 users of a customer of 101."""
    from sqlalchemy import insert

    with db.unit_of_work() as s:
        ca = customer(s, world)
        s.execute(insert(User), [{"customer_id": ca.id, "home_org_id": ca.org_id, "email": f"u{n}@asiakas.example",
                                  "email_key": f"u{n}@asiakas.example", "status": "provisioned"} for n in range(99)])
    with db.unit_of_work(write=False) as s:
        ca = customer(s, world)
        assert users.count_users(s, ca) == 101
        listed = users.list_users(s, ca, UserFilter())
        assert len(listed) == 100
        assert [u.id for u in listed] == [u.id for u in users.list_users(s, ca, UserFilter(), limit=101)][:100]
