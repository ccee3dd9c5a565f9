"""The package rules asserted by value (issue 15): take_unit/release_unit per customer and at their bounds,
the licence counts, R1/R8 refusals with their codes and words, and the licence-list rules of the People and
Licenses faces (foreign and unassignable licences, complete lists, add/remove operations)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from rtmhub.domain.customers.models import CustomerPackage
from rtmhub.domain.packages import service as packages
from rtmhub.domain.packages.service import LicenceChanges, TooManyPackages, UnknownLicence, UserLicences
from rtmhub.domain.users.models import User
from rtmhub.errors import AllocationExceeded, ValidationFailed
from rules_support import package_row, set_allocation


def described(exc) -> list[tuple]:
    return [(e.field, e.error_code, str(e.description)) for e in exc.errors]


# --- take_unit / release_unit ----------------------------------------------------------------

def test_take_unit_refuses_an_unbought_package_and_a_full_one_by_value(db, world):
    ca = world.raw["ca"]
    with pytest.raises(ValidationFailed) as info, db.unit_of_work() as s:
        packages.take_unit(s, ca, "cx_essentials")
    assert described(info.value) == [(None, 400000, "The customer has no Customer Assist package (cx_essentials); "
                                                    "add it to the customer or choose one of the customer's "
                                                    "packages.")]
    set_allocation(db, ca, "webex_meetings", 1)
    with pytest.raises(AllocationExceeded) as info, db.unit_of_work() as s:
        packages.take_unit(s, ca, "webex_meetings")
    assert described(info.value) == [(None, None, "Webex Meetings is fully used: 1 of 1 allocated units are "
                                                  "assigned. Free a unit or raise the customer's allocation first.")]
    assert info.value.status == 409
    assert package_row(db, ca, "webex_meetings").used == 1


def test_take_unit_names_a_package_unbought_here_as_unbought_although_another_customer_bought_it(db, world):
    """The refusal looks at the customer's own package rows: customer A holds Webex Suite, B never bought it."""
    cb = world.raw["cb"]
    assert package_row(db, world.raw["ca"], "webex_suite") is not None
    with pytest.raises(ValidationFailed) as info, db.unit_of_work() as s:
        packages.take_unit(s, cb, "webex_suite")
    assert [e.error_code for e in info.value.errors] == [400000]
    assert "has no Webex Suite package" in str(info.value.errors[0].description)


def test_take_and_release_move_one_unit_of_one_customer(db, world):
    ca, ca1, cb = world.raw["ca"], world.raw["ca1"], world.raw["cb"]
    set_allocation(db, ca, "webex_meetings", 3)
    with db.unit_of_work() as s:
        packages.take_unit(s, ca, "webex_meetings")  # 1 -> 2 of 3
        packages.take_unit(s, ca, "webex_meetings")  # 2 -> 3 of 3: the last unit
        packages.take_unit(s, cb, "webex_meetings")  # unlimited
    assert [package_row(db, c, "webex_meetings").used for c in (ca, ca1, cb)] == [3, 1, 1]
    with db.unit_of_work() as s:
        packages.release_unit(s, ca, "webex_meetings")
    assert [package_row(db, c, "webex_meetings").used for c in (ca, ca1, cb)] == [2, 1, 1]
    with db.unit_of_work() as s:  # never below zero
        s.execute(update(CustomerPackage).where(CustomerPackage.customer_id == cb,
                                                CustomerPackage.package == "webex_meetings").values(used=0))
        packages.release_unit(s, cb, "webex_meetings")
        packages.release_unit(s, ca1, "webex_meetings")
    assert [package_row(db, c, "webex_meetings").used for c in (ca, ca1, cb)] == [2, 0, 0]


def test_take_and_release_see_a_change_to_the_package_row_not_yet_flushed(db, world):
    """The unit statements are Core statements: run through the session, they see a pending allocation or
    use set through the ORM in the same transaction, as the ORM's statements did (the session flushes first)."""
    ca = world.raw["ca"]
    set_allocation(db, ca, "webex_meetings", 5)
    with pytest.raises(AllocationExceeded), db.unit_of_work() as s:
        row = s.scalar(select(CustomerPackage).where(CustomerPackage.customer_id == ca,
                                                     CustomerPackage.package == "webex_meetings"))
        row.allocation = row.used  # pending: the UPDATE must find no unit left
        packages.take_unit(s, ca, "webex_meetings")
    with db.unit_of_work() as s:
        row = s.scalar(select(CustomerPackage).where(CustomerPackage.customer_id == ca,
                                                     CustomerPackage.package == "webex_meetings"))
        row.used = 3  # pending: the release counts down from it
        packages.release_unit(s, ca, "webex_meetings")
    assert package_row(db, ca, "webex_meetings").used == 2


def test_customer_licences_count_base_licences_from_users(db, world):
    ca = world.raw["ca"]
    with db.unit_of_work() as s:
        # Three users of A: each base licence held by a count of its own (3, 2, 1 of 3), so that no count
        # equals its complement, the total or another licence's; a user of B holds all three.
        from rtmhub.domain.customers.models import Customer  # noqa: PLC0415
        from rtmhub.domain.users import service as users  # noqa: PLC0415
        from rtmhub.domain.users.schemas import UserFields  # noqa: PLC0415
        from rules_support import OPERATOR  # noqa: PLC0415
        users.create_user(s, OPERATOR, s.get(Customer, ca), UserFields(email="kolmas@asiakas.example"))
        s.flush()
        s.execute(update(User).where(User.customer_id == ca).values(basic_messaging=True, basic_space_meetings=True,
                                                                      call_on_webex=False))
        s.execute(update(User).where(User.id == world.raw["ua"]).values(call_on_webex=True))
        s.execute(update(User).where(User.id == world.raw["um"]).values(basic_space_meetings=False))
        s.execute(update(User).where(User.id == world.raw["ub"]).values(basic_messaging=True,
                                                                      basic_space_meetings=True, call_on_webex=True))
        # Rows created at one instant are listed by package id: the first id is written last.
        first = s.scalar(select(CustomerPackage).where(CustomerPackage.customer_id == ca)
                         .order_by(CustomerPackage.package))
        copy = {c.key: getattr(first, c.key) for c in CustomerPackage.__table__.columns}
        s.delete(first)
        s.flush()
        s.execute(update(CustomerPackage).where(CustomerPackage.customer_id == ca).values(created=copy["created"]))
        s.add(CustomerPackage(**copy))
        # ... and an earlier row comes first whatever its id.
        s.flush()
        s.execute(update(CustomerPackage).where(CustomerPackage.customer_id == ca,
                                                CustomerPackage.package == "webex_voice")
                  .values(created=copy["created"] - timedelta(days=1)))
    with db.unit_of_work(write=False) as s:
        listed = packages.customer_licences(s, ca)
        got = {row.package: used for row, used in listed}
        ids = sorted(s.scalars(select(CustomerPackage.package).where(CustomerPackage.customer_id == ca)))
    assert [row.package for row, _ in listed] == ["webex_voice"] + [p for p in ids if p != "webex_voice"]
    assert {p: got[p] for p in ("webex_calling", "webex_meetings", "webex_suite", "webex_voice")} == {
        "webex_calling": 1, "webex_meetings": 1, "webex_suite": 0, "webex_voice": 0}
    assert {p: got[p] for p in ("basic_messaging", "basic_space_meetings", "call_on_webex")} == {
        "basic_messaging": 3, "basic_space_meetings": 2, "call_on_webex": 1}


def test_customer_licences_without_base_licences(db, world):
    with db.unit_of_work() as s:
        s.execute(CustomerPackage.__table__.delete().where(CustomerPackage.customer_id == world.raw["ca1"],
                                                           CustomerPackage.package.in_(
                                                               ["basic_messaging", "basic_space_meetings",
                                                                "call_on_webex"])))
    with db.unit_of_work(write=False) as s:
        got = {row.package: used for row, used in packages.customer_licences(s, world.raw["ca1"])}
    assert got == {"webex_calling": 0, "webex_meetings": 1}


def test_licence_packages_are_the_customers_own(db, world):
    with db.unit_of_work(write=False) as s:
        own = packages.licence_packages(s, world.raw["ca1"])
        ids = dict(s.execute(select(CustomerPackage.id, CustomerPackage.package)
                             .where(CustomerPackage.customer_id == world.raw["ca1"])).tuples().all())
    assert own == ids and {"webex_calling", "webex_meetings"} <= set(own.values())
    assert "webex_suite" not in own.values()


# --- R1 / R8 ---------------------------------------------------------------------------------

def test_too_many_packages_words_and_codes():
    exc = TooManyPackages(["webex_meetings", "webex_voice"])
    assert exc.packages == ["webex_meetings", "webex_voice"]
    assert described(exc) == [(None, 400413, "A user holds exactly one package; the request names Webex Meetings "
                                             "(webex_meetings), Webex Voice (webex_voice).")]
    exc = TooManyPackages(["webex_calling_standard", "webex_calling"])
    assert described(exc) == [(None, 400404, "A user holds exactly one package, and Webex Calling Standard and "
                                             "Webex Calling cannot be held together (error 400404); the request "
                                             "names Webex Calling Standard (webex_calling_standard), Webex Calling "
                                             "(webex_calling).")]
    exc = TooManyPackages(["cx_essentials", "webex_calling_standard"])
    assert [(e.error_code) for e in exc.errors] == [400407]
    # A pair inside three packages is R1's general refusal.
    exc = TooManyPackages(["webex_calling", "webex_calling_standard", "webex_meetings"])
    assert [(e.error_code) for e in exc.errors] == [400413]


def test_one_user_package():
    assert packages.one_user_package([]) is None
    assert packages.one_user_package(["basic_messaging", "attendant_console"]) is None
    assert packages.one_user_package(["basic_messaging", "webex_voice", "webex_voice"]) == "webex_voice"
    with pytest.raises(TooManyPackages) as info:
        packages.one_user_package(["webex_voice", "basic_messaging", "webex_suite", "webex_voice"])
    assert info.value.packages == ["webex_voice", "webex_suite"]


def test_change_refusal_by_value():
    assert packages.change_refusal("cx_essentials", "webex_calling_standard") == (
        "A user's package cannot be changed from Customer Assist (cx_essentials) to Webex Calling Standard "
        "(webex_calling_standard) (error 400410). Remove the user's package first, then assign Webex Calling "
        "Standard with new calling data.", 400410)
    assert packages.change_refusal("webex_calling", "webex_calling_standard")[1] == 400112
    for old, new in ((None, "webex_calling_standard"), ("webex_calling", None), (None, None),
                     ("webex_calling_standard", "webex_calling"), ("webex_suite", "webex_calling_standard")):
        assert packages.change_refusal(old, new) is None


# --- licence lists ---------------------------------------------------------------------------

LICENCES = {"L-call": "webex_calling", "L-meet": "webex_meetings", "L-voice": "webex_voice",
            "L-msg": "basic_messaging", "L-space": "basic_space_meetings", "L-cow": "call_on_webex",
            "L-cac": "common_area_calling"}


def test_unknown_and_unassignable_licences_by_value():
    exc = UnknownLicence("Y2lzY29zcGFyazovL3Vz")
    assert exc.licence == "Y2lzY29zcGFyazovL3Vz"
    assert described(exc) == [(None, 400000, "Licence 'Y2lzY29zcGFyazovL3Vz' is not a licence of this "
                                             "organisation.")]
    assert described(packages.not_assignable("common_area_calling")) == [
        (None, 400000, "Licence of common_area_calling cannot be assigned to a user.")]
    for given in ([("written", None)], [("written", "L-foreign")], [("ok", "L-meet"), ("written", None)]):
        with pytest.raises(UnknownLicence) as info:
            packages.user_licences(LICENCES, given)
        assert info.value.licence == "written"
    with pytest.raises(ValidationFailed) as info:
        packages.user_licences(LICENCES, [("a", "L-msg"), ("b", "L-cac")])
    assert described(info.value)[0][2] == "Licence of common_area_calling cannot be assigned to a user."


def test_complete_licence_lists():
    got = packages.user_licences(LICENCES, [("a", "L-meet"), ("b", "L-msg"), ("c", "L-cow")])
    assert got == UserLicences("webex_meetings", frozenset({"basic_messaging", "call_on_webex"}))
    assert got.as_fields(creating=True) == {"basic_messaging": True, "call_on_webex": True,
                                            "package": "webex_meetings"}
    assert got.as_fields(creating=False) == {"basic_messaging": True, "basic_space_meetings": False,
                                             "call_on_webex": True, "package": "webex_meetings"}
    assert packages.user_licences(LICENCES, []).as_fields(creating=False) == {
        "basic_messaging": False, "basic_space_meetings": False, "call_on_webex": False, "package": None}
    with pytest.raises(TooManyPackages):
        packages.user_licences(LICENCES, [("a", "L-meet"), ("b", "L-voice")])


def test_licence_operations():
    ops = [("m", "L-msg", True), ("s", "L-space", False), ("v", "L-voice", True), ("v", "L-voice", True)]
    assert packages.change_licences(LICENCES, "webex_meetings", ops) == LicenceChanges(
        "webex_voice", {"basic_messaging": True, "basic_space_meetings": False}, (2, 3))
    # Removing the held package leaves none; removing one not held changes nothing.
    assert packages.change_licences(LICENCES, "webex_meetings", [("m", "L-meet", False)]) == LicenceChanges(
        None, {}, ())
    assert packages.change_licences(LICENCES, "webex_meetings", [("v", "L-voice", False)]) == LicenceChanges(
        "webex_meetings", {}, ())
    # The held package added again, then another: a replacement, not two new ones.
    assert packages.change_licences(LICENCES, "webex_meetings", [("m", "L-meet", True), ("v", "L-voice", True)]
                                    ) == LicenceChanges("webex_voice", {}, (0, 1))
    with pytest.raises(TooManyPackages) as info:
        packages.change_licences(LICENCES, None, [("v", "L-voice", True), ("c", "L-call", True)])
    assert info.value.packages == ["webex_voice", "webex_calling"]
    with pytest.raises(ValidationFailed) as info:
        packages.change_licences(LICENCES, None, [("c", "L-cac", True)])
    assert described(info.value)[0][2] == "Licence of common_area_calling cannot be assigned to a user."
    with pytest.raises(UnknownLicence) as info:
        packages.change_licences(LICENCES, None, [("x", "L-nope", False)])
    assert info.value.licence == "x"
