"""The CSV row rules asserted by value (issue 15), each row planned and applied three ways: alone through the
single-user services (``apply_row``), set-wise with its batch (``apply_batch``) and as a preview (a batch with
a ``Simulation``, written nowhere). The three must answer alike: outcome, changed columns, and every message's
level, column and words. Runs on SQLite and PostgreSQL."""
from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from rtmhub.csvfile.columns import COLUMNS, resolve_headers
from rtmhub.csvfile.errors import CsvFileError
from rtmhub.csvfile.planner import FileRules, ImportContext, apply_batch, apply_row, check_file, file_notices
from rtmhub.csvfile.reader import CsvRow
from rtmhub.domain.customers.models import Customer, CustomerPackage, MeetingSite
from rtmhub.domain.locations.models import Location
from rtmhub.domain.packages.models import BASE_LICENCES
from rtmhub.domain.users.bulk import Simulation
from rtmhub.domain.users.models import User
from rules_support import (
    COL,
    EMAIL,
    OPERATOR,
    PACKAGE_HEADERS,
    csv_rows,
    package,
    set_allocation,
    state,
    user_by_email,
)

MATTI = "matti.meikalainen@asiakas.example"  # world: Webex Calling, ext 1001, Helsinki HQ
MAIJA = "maija.meikalainen@asiakas.example"  # world: Webex Meetings
PATHS = ["row", "batch", "preview"]


@pytest.fixture
def world(world, db):
    """The conftest world, its users of customer A on the customer's meeting site (no R23 warnings)."""
    with db.unit_of_work() as s:
        site = s.scalar(select(MeetingSite.url).where(MeetingSite.customer_id == world.raw["ca"]))
        for key in ("ua", "um"):
            s.get(User, world.raw[key]).preferred_site_url = site
    return world


def apply(db, world, path: str, *cells: dict[str, str], mode: str = "add-remove", key: str = "ca",
          duplicates: set[str] | None = None, suspended: tuple[str, ...] = (), caller=OPERATOR,
          rows: list[CsvRow] | None = None, adjust=None) -> list[tuple]:
    """Each row's (line, e-mail, outcome, changed columns, messages); ``rows`` instead of ``cells`` for rows
    built by hand, ``adjust(ctx)`` to change the loaded context."""
    rows = rows if rows is not None else csv_rows(*cells)
    before = state(db)
    with db.unit_of_work(write=path != "preview") as s:
        customer = s.get(Customer, world.raw[key])
        # The batch paths know the file's columns, as the runner's do (every row's cells hold them); a row alone
        # asks each row for its own, so both ways of reading a row are held to the same answers.
        columns = frozenset(rows[0].cells) if rows and path != "row" else None
        ctx = ImportContext.load(s, customer, mode, {COL[h] for h in suspended}, duplicates or set(), columns)
        if adjust is not None:
            adjust(ctx)
        if path == "row":
            results = [apply_row(s, caller, ctx, r) for r in rows]
        else:
            results = apply_batch(s, caller, ctx, rows, Simulation() if path == "preview" else None)
    if path == "preview":
        assert state(db) == before
    return [(r.line, r.email, r.outcome, r.changes, [(m["level"], m["column"], m["message"]) for m in r.messages])
            for r in results]


def assert_accounting(db) -> dict:
    with db.unit_of_work(write=False) as s:
        rows = {(c, p): u for c, p, u in s.execute(select(
            CustomerPackage.customer_id, CustomerPackage.package, CustomerPackage.used)
            .where(CustomerPackage.package.not_in(BASE_LICENCES)))}
        held = Counter(s.execute(select(User.customer_id, User.package).where(User.package.is_not(None))).tuples())
    assert rows == {k: held.get(k, 0) for k in rows} and set(held) <= set(rows)
    return rows


def add_location(db, world, name: str = "Tampere") -> str:
    with db.unit_of_work() as s:
        loc = Location(customer_id=world.raw["ca"], name=name, time_zone="Europe/Helsinki", address1="Katu 1",
                       city="Tampere", country="FI")
        s.add(loc)
        s.flush()
        return loc.id


# --- packages the customer never bought, full packages ------------------------------------------

@pytest.mark.parametrize("path", PATHS)
def test_a_row_for_a_package_the_customer_never_bought(db, world, path):
    got = apply(db, world, path, package("Customer Assist", **{EMAIL: "cx@asiakas.example", "Extension": "3001",
                                                              "Location": "Helsinki HQ", "Jabber Calling": "FALSE",
                                                              "Jabber with Webex Teams": "FALSE", "First Name": "C",
                                                              "Last Name": "X"}))
    assert got == [(2, "cx@asiakas.example", "error", [], [
        ("warning", "Preferred Webex Site", "Preferred Webex Site is empty; Customer Assist users need it for "
                                            "their meeting site."),
        ("error", "", "The customer has no Customer Assist package (cx_essentials); add it to the customer or "
                      "choose one of the customer's packages.")])]
    assert user_by_email(db, "cx@asiakas.example") is None


@pytest.mark.parametrize("path", PATHS)
def test_a_user_of_a_fully_used_package_may_be_modified(db, world, path):
    set_allocation(db, world.raw["ca"], "webex_meetings", 1)  # Maija holds the one unit
    got = apply(db, world, path,
                package("Webex Meetings", **{EMAIL: MAIJA, "Title": "Päällikkö"}),
                package("Webex Meetings", **{EMAIL: "uusi@asiakas.example", "Jabber Calling": "FALSE",
                                             "Jabber with Webex Teams": "FALSE", "First Name": "Uusi"}),
                {EMAIL: MATTI.upper(), "Department": "Myynti"})
    assert got[0] == (2, MAIJA, "modify", ["Title"], [])
    assert got[1][2:4] == ("error", [])
    assert got[1][4][-1] == ("error", "", "Webex Meetings is fully used: 1 of 1 allocated units are assigned. "
                                          "Free a unit or raise the customer's allocation first.")
    assert got[2] == (4, MATTI.upper(), "modify", ["Department"], [])
    if path != "preview":
        row = user_by_email(db, MAIJA)
        assert (row.title, row.package) == ("Päällikkö", "webex_meetings")
        assert user_by_email(db, MATTI).department == "Myynti"
    assert assert_accounting(db)[(world.raw["ca"], "webex_meetings")] == 1


@pytest.mark.parametrize("path", PATHS)
def test_units_stay_per_customer_through_csv_deletes_and_changes(db, world, path):
    got = apply(db, world, path, package(None, **{EMAIL: MAIJA}),
                package("Webex Meetings", **{EMAIL: MATTI}),
                package("Webex Meetings", **{EMAIL: "uusi@asiakas.example", "Jabber Calling": "FALSE",
                                             "Jabber with Webex Teams": "FALSE",
                                             "Preferred Webex Site": _site(db, world)}))
    assert [g[2] for g in got] == ["delete", "modify", "add"]
    assert got[1][3] == ["Extension", "Phone Number", "Caller ID First Name", "Caller ID Last Name", "Location",
                         "Webex Meetings"]
    assert got[2][3] == [EMAIL, "Preferred Webex Site", "Webex Meetings"]  # FALSE flags are no change to list
    rows = assert_accounting(db)
    assert (rows[(world.raw["ca"], "webex_meetings")], rows[(world.raw["ca"], "webex_calling")],
            rows[(world.raw["ca1"], "webex_meetings")], rows[(world.raw["cb"], "webex_calling")]) == (
        (1, 1, 1, 1) if path == "preview" else (2, 0, 1, 1))


def _site(db, world) -> str:
    with db.unit_of_work(write=False) as s:
        return s.scalar(select(MeetingSite.url).where(MeetingSite.customer_id == world.raw["ca"]))


@pytest.mark.parametrize("path", PATHS)
def test_a_preview_counts_units_across_rows(db, world, path):
    set_allocation(db, world.raw["ca"], "webex_meetings", 2)  # one free unit
    new = {"Jabber Calling": "FALSE", "Jabber with Webex Teams": "FALSE"}
    got = apply(db, world, path, package("Webex Meetings", **{EMAIL: "eka@asiakas.example"}, **new),
                package("Webex Meetings", **{EMAIL: "toka@asiakas.example"}, **new),
                package(None, **{EMAIL: MAIJA}),
                package("Webex Meetings", **{EMAIL: "kolmas@asiakas.example"}, **new))
    assert [g[2] for g in got] == ["add", "error", "delete", "add"]
    assert got[1][4][-1][2].startswith("Webex Meetings is fully used: 2 of 2")


# --- R27 and locations ----------------------------------------------------------------------

@pytest.mark.parametrize("path", PATHS)
def test_r27_location_rows(db, world, path):
    add_location(db, world)
    got = apply(db, world, path,
                package("Webex Calling", **{EMAIL: MATTI, "Location": "Tampere"}),
                package("Webex Meetings", **{EMAIL: MAIJA, "Location": "Turku"}),
                package("Webex Calling", **{EMAIL: MATTI.replace("matti", "x"), "Location": "helsinki hq",
                                            "Extension": "3002", "Jabber Calling": "FALSE",
                                            "Jabber with Webex Teams": "FALSE", "First Name": "X",
                                            "Last Name": "Y", "Preferred Webex Site": _site(db, world)}),
                package("Webex Calling", **{EMAIL: MATTI.replace("matti", "z"), "Location": "Tampere",
                                            "Extension": "1001", "Jabber Calling": "FALSE",
                                            "Jabber with Webex Teams": "FALSE", "First Name": "Z",
                                            "Last Name": "Y", "Preferred Webex Site": _site(db, world)}))
    assert got[0] == (2, MATTI, "error", [], [
        ("error", "Location", "The location of an existing calling user cannot be changed by CSV (now "
                              "'Helsinki HQ').")])
    assert got[1] == (3, MAIJA, "error", [], [
        ("error", "Location", "Location 'Turku' does not exist in this organisation; use one of: Helsinki HQ, "
                              "Tampere.")])
    assert got[2][2] == "add" and "Location" in got[2][3]
    # The extension Matti holds in Helsinki is free in Tampere.
    assert got[3] == (5, MATTI.replace("matti", "z"), "add", ["First Name", "Last Name", EMAIL, "Extension",
                                                              "Location", "Preferred Webex Site", "Webex Calling"],
                      [])


@pytest.mark.parametrize("path", ["row", "batch"])
def test_r27_leaving_calling_may_name_a_new_location_only_with_calling_again_later(db, world, path):
    add_location(db, world)
    got = apply(db, world, path, package("Webex Meetings", **{EMAIL: MATTI, "Location": "Tampere"}))
    # Leaving calling: the location is calling data for a non-calling package.
    assert got == [(2, MATTI, "error", [], [("error", "Location", "locationId can only be set with a calling "
                                                                  "package, not Webex Meetings.")])]


# --- the row's package columns ----------------------------------------------------------------

@pytest.mark.parametrize("path", PATHS)
def test_package_column_rules_by_value(db, world, path):
    new = {"Jabber Calling": "FALSE", "Jabber with Webex Teams": "FALSE"}
    got = apply(db, world, path,
                {EMAIL: "kaksi@asiakas.example", "Webex Meetings": "TRUE", "Webex Voice": "TRUE", **new},
                {EMAIL: "ei@asiakas.example", **{h: "FALSE" for h in PACKAGE_HEADERS}},
                {EMAIL: MAIJA, "Webex Meetings": "FALSE"},
                {EMAIL: MATTI, "Webex Meetings": "kyllä"},
                {EMAIL: "kesk@asiakas.example", "Webex Suite": "TRUE", **new}, suspended=("Webex Suite",))
    assert got[0] == (2, "kaksi@asiakas.example", "error", [], [
        ("error", "Webex Meetings", "A user holds exactly one package; mark only one package column TRUE (found "
                                    "Webex Voice, Webex Meetings).")])
    assert got[1] == (3, "ei@asiakas.example", "error", [], [
        ("error", EMAIL, "No user ei@asiakas.example to delete in this organisation.")])
    # The held package's column FALSE, the others absent: the package goes, the user stays.
    assert got[2][:4] == (4, MAIJA, "modify", ["Webex Meetings"])
    assert got[3] == (5, MATTI, "error", [], [
        ("error", "Webex Meetings", "Webex Meetings must be TRUE or FALSE (found 'kyllä').")])
    assert got[4][:3] == (6, "kesk@asiakas.example", "error")
    assert got[4][4][0] == ("error", "Webex Suite", "Webex Suite is suspended; it cannot be assigned (set it to "
                                                    "FALSE or remove the column).")
    if path != "preview":
        assert user_by_email(db, MAIJA).package is None


@pytest.mark.parametrize("path", PATHS)
def test_deleting_rows_need_add_remove_and_every_package_column(db, world, path):
    got = apply(db, world, path, package(None, **{EMAIL: MAIJA}), mode="add")
    assert got == [(2, MAIJA, "error", [], [
        ("error", "", "Every package column is FALSE, which deletes the user; choose the import behaviour 'Add "
                      "and remove services' to delete users.")])]
    got = apply(db, world, path, {EMAIL: MAIJA, "Webex Meetings": "FALSE", "Webex Calling": "FALSE"})
    assert got == [(2, MAIJA, "error", [], [
        ("error", "", "Every package column of the row is FALSE, but the file has no column for 'Webex Suite', "
                      "'Webex Voice', which this organisation holds; a user is deleted only when the file has a "
                      "column for every package. Add the missing columns (FALSE to delete the user), or leave "
                      "the package cells empty to keep the user.")])]
    assert user_by_email(db, MAIJA).package == "webex_meetings"


# --- the row's other cells ------------------------------------------------------------------------

@pytest.mark.parametrize("path", PATHS)
def test_row_cells_by_value(db, world, path):
    long = "a" * 160 + "@x.fi"
    got = apply(db, world, path,
                {EMAIL: ""},
                {EMAIL: long},
                {EMAIL: "Tupla@asiakas.example", "Title": "X"},
                {EMAIL: "sven@kund.example", "Title": "X"},
                {EMAIL: MATTI, "User Status": "Active", "Title": "Myyjä"},
                {EMAIL: MAIJA, "User Status": "PROVISIONED"},
                {EMAIL: "tila@asiakas.example", "User Status": "active"},
                duplicates={"tupla@asiakas.example"})
    assert got[0] == (2, None, "error", [], [
        ("error", EMAIL, f"{EMAIL} is empty; every row needs the user's e-mail address.")])
    assert got[1] == (3, long, "error", [], [
        ("error", EMAIL, f"{EMAIL}: '{long[:40]}…' is longer than 161 characters.")])
    assert got[2] == (4, "Tupla@asiakas.example", "error", [], [
        ("error", EMAIL, "Tupla@asiakas.example appears more than once in the file; keep one row per user.")])
    assert got[3] == (5, "sven@kund.example", "error", [], [
        ("error", EMAIL, "The email sven@kund.example is already associated with a user of another organisation.")])
    assert got[4] == (6, MATTI, "modify", ["Title"], [
        ("warning", "User Status", "User Status is read-only; the value 'Active' was ignored (rtmhub's value is "
                                   "'provisioned').")])
    assert got[5] == (7, MAIJA, "unchanged", [], [])
    assert got[6] == (8, "tila@asiakas.example", "add", [EMAIL], [
        ("warning", "User Status", "User Status is read-only; the value 'active' was ignored.")])


@pytest.mark.parametrize("path", PATHS)
def test_new_users_need_the_jabber_columns_and_get_base_licences_in_add_mode(db, world, path):
    got = apply(db, world, path, package("Webex Voice", **{EMAIL: "j@asiakas.example", "Extension": "3003",
                                                           "Location": "Helsinki HQ", "First Name": "J",
                                                           "Last Name": "K"}),
                {EMAIL: "base@asiakas.example", "Basic Messaging": "FALSE"},
                {EMAIL: MAIJA, "Call on Webex (1:1 call, non-PSTN)": "FALSE", "Basic Messaging": ""},
                mode="add")
    assert got[0] == (2, "j@asiakas.example", "error", [], [
        ("error", "Jabber Calling", "Jabber Calling is required (TRUE or FALSE) for users with a package."),
        ("error", "Jabber with Webex Teams", "Jabber with Webex Teams is required (TRUE or FALSE) for users with "
                                             "a package.")])
    assert got[1] == (3, "base@asiakas.example", "add", [EMAIL, "Basic Messaging", "Basic Space Meetings",
                                                         "Call on Webex (1:1 call, non-PSTN)"], [])
    assert got[2][:4] == (4, MAIJA, "modify", ["Basic Messaging", "Basic Space Meetings",
                                               "Call on Webex (1:1 call, non-PSTN)"])
    if path != "preview":
        row = user_by_email(db, "base@asiakas.example")
        assert (row.basic_messaging, row.basic_space_meetings, row.call_on_webex, row.package) == (
            True, True, True, None)


@pytest.mark.parametrize("path", PATHS)
def test_add_remove_applies_base_licence_cells_exactly(db, world, path):
    with db.unit_of_work() as s:
        s.get(User, world.raw["um"]).basic_messaging = True
    got = apply(db, world, path, {EMAIL: MAIJA, "Basic Messaging": "FALSE", "Call on Webex (1:1 call, non-PSTN)":
                                  "TRUE", "Basic Space Meetings": ""})
    assert got == [(2, MAIJA, "modify", ["Basic Messaging", "Call on Webex (1:1 call, non-PSTN)"], [])]
    if path != "preview":
        row = user_by_email(db, MAIJA)
        assert (row.basic_messaging, row.basic_space_meetings, row.call_on_webex) == (False, False, True)


@pytest.mark.parametrize("path", PATHS)
def test_service_refusals_land_on_their_columns(db, world, path):
    got = apply(db, world, path,
                {EMAIL: MATTI, "Caller ID First Name": "Pa%ha"},
                {EMAIL: MAIJA, "Preferred Webex Site": "https://muu.example"},
                {EMAIL: MATTI.replace("matti", "k"), "Extension": "3004", "First Name": "K",
                 "Jabber Calling": "FALSE", "Jabber with Webex Teams": "FALSE"})
    assert got[0][2:4] == ("error", [])
    assert got[0][4] == [("error", "Caller ID First Name", "callerIdFirstName 'Pa%ha' must not contain % (not "
                                                           "allowed: % # < > \\ / \").")]
    assert got[1] == (3, MAIJA, "error", [], [
        ("error", "Preferred Webex Site", f"Webex site 'https://muu.example' is not a site of this organisation; "
                                          f"use one of: {_site(db, world)}.")])
    assert got[2][4] == [("error", "Extension", "extension can only be set with a calling package.")]


# --- the file's header against its customer ------------------------------------------------------

def test_check_file_and_notices():
    rules = FileRules("SUB-A", frozenset({"asiakas.webex.com"}))
    header = resolve_headers([EMAIL, "Webex Calling [SUB-A]", "Webex Meetings",
                              "https://asiakas.webex.com/ - WebEx Enterprise Edition [SUB-A]"])
    check_file(header, rules)
    assert file_notices(header) == [{
        "level": "notice", "column": "",
        "message": "These columns of the file are not used by rtmhub and were ignored: "
                   "'https://asiakas.webex.com/ - WebEx Enterprise Edition [SUB-A]'.",
        "template": "These columns of the file are not used by rtmhub and were ignored: {columns}.",
        "params": {"columns": "'https://asiakas.webex.com/ - WebEx Enterprise Edition [SUB-A]'"}}]
    assert file_notices(resolve_headers([EMAIL, "Webex Calling"])) == []
    bad = resolve_headers([EMAIL, "Webex Calling [SUB-B]", "http://muu.webex.com - WebEx Enterprise Edition"])
    with pytest.raises(CsvFileError) as info:
        check_file(bad, rules)
    assert [(p.field, str(p.description)) for p in info.value.errors] == [
        ("Webex Calling [SUB-B]", "The column 'Webex Calling [SUB-B]' names the subscription 'SUB-B', but this "
                                  "organisation's licences come from the subscription 'SUB-A' (its partner's); "
                                  "write '[SUB-A]' in the header or leave the suffix out."),
        ("http://muu.webex.com - WebEx Enterprise Edition", "The column 'http://muu.webex.com - WebEx Enterprise "
                                                            "Edition' is the licence of the meeting site "
                                                            "'http://muu.webex.com', which is not a site of this "
                                                            "organisation; delete the column.")]
    assert str(info.value).startswith("The header line of the file cannot be used. The column 'Webex Calling")
    with pytest.raises(CsvFileError) as info:
        check_file(resolve_headers([EMAIL, "Webex Calling [SUB-B]"]), FileRules(None, frozenset()))
    assert "from the subscription '-'" in str(info.value.errors[0].description)


def test_a_simulation_adds_its_units_to_an_allocation_snapshot():
    sim = Simulation(delta=Counter({"webex_meetings": 2, "webex_calling": -1}))
    assert sim.used({"webex_meetings": {"used": 3, "allocation": 5}, "webex_calling": {"used": 1, "allocation": None},
                     "webex_voice": {"used": 0, "allocation": 1}}) == {
        "webex_meetings": {"used": 5, "allocation": 5}, "webex_calling": {"used": 0, "allocation": None},
        "webex_voice": {"used": 0, "allocation": 1}}
    assert Simulation().used({}) == {}


@pytest.mark.parametrize("path", PATHS)
def test_a_deleted_users_number_and_extension_are_free_for_the_next_row(db, world, path):
    from rtmhub.domain.audit.models import AuditEvent  # noqa: PLC0415
    from rtmhub.domain.usage.models import PackageInterval  # noqa: PLC0415

    got = apply(db, world, path, package(None, **{EMAIL: MATTI}),
                package("Webex Calling", **{EMAIL: "perija@asiakas.example", "Extension": "1001",
                                            "Phone Number": "+358912345601", "Location": "Helsinki HQ",
                                            "First Name": "P", "Last Name": "Q", "Jabber Calling": "FALSE",
                                            "Jabber with Webex Teams": "FALSE",
                                            "Preferred Webex Site": _site(db, world)}))
    assert [g[2] for g in got] == ["delete", "add"] and got[1][4] == []
    if path == "preview":
        return
    with db.unit_of_work(write=False) as s:
        ended = [(i.package, i.ended is not None) for i in s.scalars(select(PackageInterval).where(
            PackageInterval.user_id == world.raw["ua"]))]
        event = s.scalar(select(AuditEvent).where(AuditEvent.entity_id == world.raw["ua"],
                                                  AuditEvent.action == "user.delete"))
        assert (event.entity_type, event.customer_id, event.after, event.before["email"]) == (
            "user", world.raw["ca"], None, MATTI)
    assert ended == [("webex_calling", True)]
    assert user_by_email(db, "perija@asiakas.example").extension == "1001"


@pytest.mark.parametrize("path", PATHS)
def test_a_read_only_caller_changes_nothing_by_csv(db, world, path):
    from rtmhub.domain.access.schemas import Caller  # noqa: PLC0415

    reader = Caller(actor="ro@a.example", role="partner_readonly_admin", partner_id=world.raw["pa"],
                    partner_ids=(world.raw["pa"], world.raw["pa1"]))
    got = apply(db, world, path, package(None, **{EMAIL: MATTI}), {EMAIL: MAIJA, "Title": "X"}, caller=reader)
    said = ("error", "", "A read-only administrator cannot change anything.")
    assert got == [(2, MATTI, "error", [], [said]), (3, MAIJA, "error", [], [said])]
    assert user_by_email(db, MATTI) is not None


@pytest.mark.parametrize("path", PATHS)
def test_batch_updates_record_ledger_audit_and_free_what_they_leave(db, world, path):
    from rtmhub.domain.audit.models import AuditEvent  # noqa: PLC0415
    from rtmhub.domain.usage.models import PackageInterval  # noqa: PLC0415

    assigned = user_by_email(db, MATTI).package_assigned
    new = {"Jabber Calling": "FALSE", "Jabber with Webex Teams": "FALSE", "Location": "Helsinki HQ",
           "First Name": "N", "Last Name": "M", "Preferred Webex Site": _site(db, world)}
    got = apply(db, world, path,
                {EMAIL: MATTI, "Title": "Myyjä", "Extension": "1004"},                    # same package
                package("Webex Voice", **{EMAIL: MAIJA, "Extension": "1002", "Location": "Helsinki HQ"}),
                package("Webex Calling", **{EMAIL: "vie@asiakas.example", "Extension": "1001"}, **new),
                package("Webex Calling", **{EMAIL: "nro@asiakas.example", "Extension": "1003",
                                            "Phone Number": "+358912345601"}, **new),
                package("Webex Calling", **{EMAIL: "ext@asiakas.example", "Extension": "1002"}, **new),
                package("Webex Calling", **{EMAIL: "ext2@asiakas.example", "Extension": "1004"}, **new))
    assert [g[2] for g in got] == ["modify", "modify", "add", "error", "error", "error"]
    assert got[0][3] == ["Extension", "Title"]
    assert got[5][4] == [("error", "", "Extension 1004 is already in use in this location.")]
    assert got[3][4] == [("error", "", "Phone number +358912345601 is already in use by another user.")]
    assert got[4][4] == [("error", "", "Extension 1002 is already in use in this location.")]
    if path == "preview":
        return
    assert user_by_email(db, MATTI).package_assigned == assigned
    maija = user_by_email(db, MAIJA)
    assert maija.package == "webex_voice" and maija.package_assigned is not None
    with db.unit_of_work(write=False) as s:
        intervals = sorted((i.package, i.email, i.ended is None) for i in s.scalars(
            select(PackageInterval).where(PackageInterval.user_id == world.raw["um"])))
        events = [(e.action, e.entity_type, (e.before or {}).get("package"), (e.after or {}).get("package"))
                  for e in s.scalars(select(AuditEvent).where(AuditEvent.entity_id == world.raw["um"])
                                     .order_by(AuditEvent.at, AuditEvent.id))]
    assert intervals == [("webex_meetings", MAIJA, False), ("webex_voice", MAIJA, True)]
    assert events[-1] == ("user.update", "user", "webex_meetings", "webex_voice")


@pytest.mark.parametrize("path", PATHS)
def test_a_suspended_sub_partner_may_only_delete_by_csv(db, world, path):
    from rtmhub.domain.partners.models import Partner  # noqa: PLC0415

    with db.unit_of_work() as s:
        s.get(Partner, world.raw["pa1"]).provisioning_state = "suspended"
    aino = "aino@alihankkija.example"
    said = ("error", "", "Sub-partner 'Partner A1' is suspended: it may only delete customers and subscribers.")
    got = apply(db, world, path, {EMAIL: aino, "Title": "X"}, {EMAIL: "uusi@alihankkija.example"}, key="ca1")
    no_site = ("warning", "Preferred Webex Site", "Preferred Webex Site is empty; Webex Meetings users need it for "
                                                  "their meeting site.")  # Aino has none
    assert got == [(2, aino, "error", [], [no_site, said]), (3, "uusi@alihankkija.example", "error", [], [said])]
    got = apply(db, world, path, {EMAIL: aino, "Webex Calling": "FALSE", "Webex Meetings": "FALSE"}, key="ca1")
    assert got == [(2, aino, "delete", [], [])]


@pytest.mark.parametrize("path", PATHS)
def test_batch_creates_record_the_user_its_ledger_and_audit_and_hold_their_extension(db, world, path):
    from rtmhub.domain.audit.models import AuditEvent  # noqa: PLC0415
    from rtmhub.domain.usage.models import PackageInterval  # noqa: PLC0415

    new = {"Jabber Calling": "FALSE", "Jabber with Webex Teams": "FALSE", "Location": "Helsinki HQ",
           "First Name": "N", "Last Name": "M", "Preferred Webex Site": _site(db, world)}
    got = apply(db, world, path, package("Webex Calling", **{EMAIL: "eka@asiakas.example", "Extension": "1005"}, **new),
                package("Webex Calling", **{EMAIL: "toka@asiakas.example", "Extension": "1005"}, **new))
    assert [g[2] for g in got] == ["add", "error"]
    assert got[1][4] == [("error", "", "Extension 1005 is already in use in this location.")]
    if path == "preview":
        return
    eka = user_by_email(db, "eka@asiakas.example")
    assert (eka.status, eka.customer_id, eka.home_org_id is not None, eka.created is not None) == (
        "provisioned", world.raw["ca"], True, True)
    with db.unit_of_work(write=False) as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.entity_id == eka.id))
        interval = s.scalar(select(PackageInterval).where(PackageInterval.user_id == eka.id))
    assert (event.action, event.entity_type, event.before, event.after["status"], event.after["email"]) == (
        "user.create", "user", None, "provisioned", "eka@asiakas.example")
    assert (interval.package, interval.email, interval.ended) == ("webex_calling", "eka@asiakas.example", None)


# --- what the rows above leave unobserved ----------------------------------------------------------

def add_user(db, world, email: str, package: str | None = "webex_meetings", **fields) -> str:
    from rtmhub.domain.users import service as users  # noqa: PLC0415
    from rtmhub.domain.users.schemas import UserFields  # noqa: PLC0415

    with db.unit_of_work() as s:
        user = users.create_user(s, OPERATOR, s.get(Customer, world.raw["ca"]), UserFields(
            email=email, first_name="Uusi", last_name="Käyttäjä", package=package, **fields))
        user.preferred_site_url = s.scalar(select(MeetingSite.url).where(MeetingSite.customer_id == world.raw["ca"]))
        return user.id


@pytest.mark.parametrize("path", PATHS)
def test_spreadsheet_words_for_true_and_false_are_read_with_a_notice(db, world, path):
    got = apply(db, world, path,
                {EMAIL: MAIJA, "Jabber Calling": "TOSI", "Jabber with Webex Teams": " epätosi ",
                 "Basic Messaging": "1", "Basic Space Meetings": "0", "Call on Webex (1:1 call, non-PSTN)": "tosi"},
                {EMAIL: MATTI, "Jabber Calling": "Wahr", "Jabber with Webex Teams": "Wahr"})
    assert got == [
        (2, MAIJA, "modify", ["Jabber Calling", "Basic Messaging", "Call on Webex (1:1 call, non-PSTN)"], [
            ("notice", "", "Read 'TOSI' as TRUE."), ("notice", "", "Read 'epätosi' as FALSE."),
            ("notice", "", "Read '1' as TRUE."), ("notice", "", "Read '0' as FALSE."),
            ("notice", "", "Read 'tosi' as TRUE.")]),
        # One notice a word, however many cells hold it.
        (3, MATTI, "modify", ["Jabber Calling", "Jabber with Webex Teams"], [("notice", "", "Read 'Wahr' as TRUE.")])]
    if path != "preview":
        row = user_by_email(db, MAIJA)
        assert (row.jabber_calling, row.jabber_with_teams, row.basic_messaging, row.basic_space_meetings,
                row.call_on_webex) == (True, False, True, False, True)


@pytest.mark.parametrize("path", PATHS)
def test_true_and_false_in_any_case_are_read_without_a_notice(db, world, path):
    got = apply(db, world, path, {EMAIL: MATTI, "Jabber Calling": "tRuE", "Jabber with Webex Teams": "True"})
    assert got == [(2, MATTI, "modify", ["Jabber Calling", "Jabber with Webex Teams"], [])]


@pytest.mark.parametrize("path", PATHS)
def test_numbers_a_spreadsheet_changed(db, world, path):
    got = apply(db, world, path,
                {EMAIL: MATTI, "Extension": "1.00E+03"},
                {EMAIL: MATTI, "Phone Number": "3,58912E+11"},
                {EMAIL: MATTI, "Caller ID Number": "358912345602"},
                {EMAIL: MATTI, "Extension": "1001.0"},
                {EMAIL: MATTI, "Phone Number": "358912345601,00"},
                {EMAIL: MATTI, "Phone Number": "358912345601"},
                {EMAIL: MATTI, "Extension": "358912345601"},
                {EMAIL: MATTI, "Caller ID Number": "123456"},
                {EMAIL: MATTI, "Phone Number": "+358912345601", "Extension": "1001"})
    text = ("keep the cell as text: format the column as Text before typing or pasting the numbers, or type an "
            "apostrophe before the number")

    def scientific(value):
        return (f"'{value}' is a number a spreadsheet turned into scientific notation, so its digits are lost. Type "
                f"the number again and {text}.")

    def decimals(value, digits):
        return f"'{value}' is a number a spreadsheet wrote with decimals; write it as '{digits}' and {text}."

    def plus(value):
        return (f"'{value}' has lost its leading '+' (or '00'): a spreadsheet read it as a number. Write it as "
                f"'+{value}' and {text} ('+{value}).")

    assert [(g[1], g[2], g[3]) for g in got] == [(MATTI, "error", [])] * 8 + [(MATTI, "unchanged", [])]
    assert [g[4] for g in got] == [
        [("error", "Extension", scientific("1.00E+03"))],
        [("error", "Phone Number", scientific("3,58912E+11"))],
        [("error", "Caller ID Number", plus("358912345602"))],
        [("error", "Extension", decimals("1001.0", "1001"))],
        [("error", "Phone Number", decimals("358912345601,00", "358912345601"))],
        [("error", "Phone Number", plus("358912345601"))],
        # An extension is no phone number: the service's own words, no lost '+'.
        [("error", "Extension", "extension '358912345601' must be 2 to 10 digits.")],
        [("error", "Caller ID Number", "callerIdNumber '123456' must be in E.164 form with a leading '+' and "
                                       "country code.")],
        []]


@pytest.mark.parametrize("path", PATHS)
def test_a_held_package_column_false_removes_the_package_only_in_add_remove(db, world, path):
    # "Add services only" never takes a package away (and grants the base licences, D4).
    got = apply(db, world, path, {EMAIL: MAIJA, "Webex Calling": "", "Webex Meetings": "FALSE"}, mode="add")
    assert got == [(2, MAIJA, "modify", ["Basic Messaging", "Basic Space Meetings",
                                         "Call on Webex (1:1 call, non-PSTN)"], [])]
    # Another package's column FALSE is no word on the held one.
    got = apply(db, world, path, {EMAIL: MAIJA, "Webex Calling": "FALSE", "Webex Meetings": ""})
    assert got == [(2, MAIJA, "unchanged", [], [])]
    # The file's only package column, FALSE: a delete by omission, refused with the columns the file lacks.
    got = apply(db, world, path, {EMAIL: MAIJA, "Webex Meetings": "FALSE"})
    assert got == [(2, MAIJA, "error", [], [
        ("error", "", "Every package column of the row is FALSE, but the file has no column for 'Webex Calling', "
                      "'Webex Suite', 'Webex Voice', which this organisation holds; a user is deleted only when "
                      "the file has a column for every package. Add the missing columns (FALSE to delete the "
                      "user), or leave the package cells empty to keep the user.")])]
    # An empty cell before the FALSE ones: not every package cell is FALSE, so the package goes, not the user.
    got = apply(db, world, path, {EMAIL: MAIJA, "Webex Calling": "", "Webex Voice": "FALSE", "Webex Meetings": "FALSE"})
    assert got == [(2, MAIJA, "modify", ["Webex Meetings"], [])]
    if path != "preview":
        assert user_by_email(db, MAIJA).package is None


@pytest.mark.parametrize("path", PATHS)
def test_package_changes_name_the_new_package_and_the_calling_columns(db, world, path):
    add_user(db, world, "toinen@asiakas.example")
    got = apply(db, world, path,
                {EMAIL: MAIJA, "Webex Calling": "TRUE", "Webex Meetings": "FALSE", "Extension": "1010",
                 "Location": "Helsinki HQ"},
                {EMAIL: "toinen@asiakas.example", "Webex Calling": "TRUE", "Webex Meetings": "FALSE",
                 "Phone Number": "+358912345699", "Location": "Helsinki HQ"},
                {EMAIL: MATTI, "Webex Calling": "FALSE", "Webex Meetings": "TRUE", "Location": ""})
    calling = ["Caller ID First Name", "Caller ID Last Name", "Location"]
    assert got == [(2, MAIJA, "modify", ["Extension", *calling, "Webex Calling"], []),
                   (3, "toinen@asiakas.example", "modify", ["Phone Number", *calling, "Webex Calling"], []),
                   (4, MATTI, "modify", ["Extension", "Phone Number", *calling, "Webex Meetings"], [])]
    if path != "preview":
        row = user_by_email(db, MAIJA)
        assert (row.package, row.extension, row.location_id) == ("webex_calling", "1010", world.raw["loc_ca"])


@pytest.mark.parametrize("path", PATHS)
def test_r27_without_package_columns_and_the_same_location(db, world, path):
    add_location(db, world)
    got = apply(db, world, path, {EMAIL: MATTI, "Location": "Tampere"}, {EMAIL: MATTI, "Location": "HELSINKI HQ"})
    assert got == [(2, MATTI, "error", [], [("error", "Location", "The location of an existing calling user cannot "
                                                                  "be changed by CSV (now 'Helsinki HQ').")]),
                   (3, MATTI, "unchanged", [], [])]


@pytest.mark.parametrize("path", PATHS)
def test_an_organisation_without_locations_says_so(db, world, path):
    def no_locations(ctx):
        ctx.locations, ctx.location_names = {}, {}

    got = apply(db, world, path, {EMAIL: MATTI, "Location": "Helsinki HQ"}, adjust=no_locations)
    assert got == [(2, MATTI, "error", [], [("error", "Location", "Location 'Helsinki HQ' does not exist in this "
                                                                  "organisation; use one of: (none).")])]


@pytest.mark.parametrize("path", PATHS)
def test_r12_directory_owned_columns_by_csv(db, world, path):
    from rtmhub.domain.directory.sync_models import DirectorySync  # noqa: PLC0415

    with db.unit_of_work() as s:
        s.add(DirectorySync(customer_id=world.raw["ca"], enabled=True))
    got = apply(db, world, path,
                {EMAIL: "uusi@asiakas.example", "Title": "X"},
                {EMAIL: MAIJA, "Last Name": "Virtanen", "Department": "Myynti", "First Name": "Maija"},
                {EMAIL: MATTI, "Extension": "1002", "First Name": "Matti"})
    said = "Directory synchronisation is on for this organisation: "
    assert got == [
        (2, "uusi@asiakas.example", "error", [], [
            ("error", EMAIL, said + "users come from the directory. Add the user in the directory; packages and "
                                    "calling data can then be set here.")]),
        # Named by their headers, in column order; the first one's column carries the error.
        (3, MAIJA, "error", [], [("error", "Last Name", said + "the directory owns Last Name, Department; change "
                                                               "them in the directory.")]),
        (4, MATTI, "modify", ["Extension"], [])]


def test_file_rules_of_a_customer_from_the_database(db, world):
    from rtmhub.domain.partners.models import Partner  # noqa: PLC0415

    with db.unit_of_work() as s:
        s.add(MeetingSite(customer_id=world.raw["ca"], url=" HTTP://Toinen.Webex.com/ "))
        s.add(MeetingSite(customer_id=world.raw["cb"], url="https://kund.webex.com"))
    with db.unit_of_work(write=False) as s:
        rules = FileRules.load(s, s.get(Customer, world.raw["ca"]))
        subscription = s.get(Partner, world.raw["pa"]).subscription_id
        first = s.scalar(select(MeetingSite.url).where(MeetingSite.customer_id == world.raw["ca"],
                                                       MeetingSite.url.not_like("%Toinen%")))
    assert first == first.strip().lower() and "/" not in first  # the world's site: a bare host name
    assert rules == FileRules(subscription, frozenset({first, "toinen.webex.com"}))


def test_check_file_keys_sites_and_checks_every_licence_column():
    rules = FileRules("SUB-A", frozenset({"asiakas.webex.com"}))
    # A site's URL is compared without its scheme, case or closing '/'.
    for site in ("http://ASIAKAS.webex.com/", "https://asiakas.webex.com", "asiakas.webex.com//"):
        check_file(resolve_headers([EMAIL, f"{site} - WebEx Enterprise Edition [SUB-A]"]), rules)
    check_file(resolve_headers([EMAIL, "Webex Calling SP Enterprise", "Basic Messaging [SUB-A]"]), rules)
    bad = resolve_headers([EMAIL, "Basic Messaging [SUB-B]", "Webex Calling SP Enterprise [SUB-C]",
                           "https://asiakas.webex.com.evil - WebEx Enterprise Edition"])
    with pytest.raises(CsvFileError) as info:
        check_file(bad, rules)

    def other(header, given):
        return (f"The column '{header}' names the subscription '{given}', but this organisation's licences come "
                f"from the subscription 'SUB-A' (its partner's); write '[SUB-A]' in the header or leave the suffix "
                f"out.")

    site = ("The column 'https://asiakas.webex.com.evil - WebEx Enterprise Edition' is the licence of the meeting "
            "site 'https://asiakas.webex.com.evil', which is not a site of this organisation; delete the column.")
    assert [(p.field, str(p.description)) for p in info.value.errors] == [
        ("Basic Messaging [SUB-B]", other("Basic Messaging [SUB-B]", "SUB-B")),
        ("Webex Calling SP Enterprise [SUB-C]", other("Webex Calling SP Enterprise [SUB-C]", "SUB-C")),
        ("https://asiakas.webex.com.evil - WebEx Enterprise Edition", site)]
    assert str(info.value) == ("The header line of the file cannot be used. "
                               + other("Basic Messaging [SUB-B]", "SUB-B") + " "
                               + other("Webex Calling SP Enterprise [SUB-C]", "SUB-C") + " " + site)


def test_file_notices_of_a_windows_file_with_ignored_columns():
    header = resolve_headers([EMAIL, "Address type", "Webex Calling", "Webex Calling SP Enterprise",
                              "Hybrid Message Service"])
    assert file_notices(header, "cp1252") == [
        {"level": "notice", "column": "",
         "message": "The file is not UTF-8, so it was read as Windows-1252 (Western European), the code page "
                    "Excel's plain 'CSV' type saves in; check that letters such as ä, ö and å look right. Save the "
                    "file as 'CSV UTF-8 (comma delimited)' to avoid the guess.",
         "template": "The file is not UTF-8, so it was read as Windows-1252 (Western European), the code page "
                     "Excel's plain 'CSV' type saves in; check that letters such as ä, ö and å look right. Save the "
                     "file as 'CSV UTF-8 (comma delimited)' to avoid the guess.", "params": {}},
        {"level": "notice", "column": "",
         "message": "These columns of the file are not used by rtmhub and were ignored: 'Address type', "
                    "'Hybrid Message Service', 'Webex Calling SP Enterprise'.",
         "template": "These columns of the file are not used by rtmhub and were ignored: {columns}.",
         "params": {"columns": "'Address type', 'Hybrid Message Service', 'Webex Calling SP Enterprise'"}}]
    assert file_notices(header, "utf-8")[0]["message"].startswith("These columns")


@pytest.mark.parametrize("path", PATHS)
def test_a_deleting_row_with_an_error_deletes_nothing(db, world, path):
    rows = csv_rows(package(None, **{EMAIL: MAIJA}), package(None, **{EMAIL: MATTI}))
    rows[1] = CsvRow(rows[1].line, rows[1].cells, extra_cells=2)
    got = apply(db, world, path, rows=rows, duplicates={MAIJA})
    assert got == [
        (2, MAIJA, "error", [], [("error", EMAIL, f"{MAIJA} appears more than once in the file; keep one row per "
                                                 f"user.")]),
        (3, MATTI, "error", [], [("error", "", "The row has 2 more cells than the header; check for an unquoted "
                                               "delimiter inside a value.")])]
    assert user_by_email(db, MAIJA) is not None and user_by_email(db, MATTI) is not None


@pytest.mark.parametrize("path", PATHS)
def test_row_keys_and_flags(db, world, path):
    rows = csv_rows({EMAIL: f"  {MAIJA.upper()} ", "Jabber Calling": "TRUE", "Title": "Tiiminvetäjä"},
                    {EMAIL: "   "},
                    {EMAIL: "x" * 64 + "@" + "b" * 93 + ".fi"},
                    {EMAIL: "uusi@asiakas.example", "Webex Meetings": "TRUE", "Jabber Calling": "TRUE",
                     "Jabber with Webex Teams": "FALSE", "Preferred Webex Site": _site(db, world)},
                    {EMAIL: "toinen@asiakas.example", "Webex Meetings": "TRUE", "Jabber Calling": "TRUE",
                     "Jabber with Webex Teams": ""},
                    {EMAIL: MATTI, "Title": "Myyjä"})
    rows[-1] = CsvRow(rows[-1].line, rows[-1].cells, extra_cells=1)
    got = apply(db, world, path, rows=rows)
    long = "x" * 64 + "@" + "b" * 93 + ".fi"
    assert got == [
        # The e-mail as written, trimmed; the user found case-insensitively.
        (2, MAIJA.upper(), "modify", ["Title", "Jabber Calling"], []),
        (3, None, "error", [], [("error", EMAIL, f"{EMAIL} is empty; every row needs the user's e-mail address.")]),
        # 161 characters are not too long for the row: the service's own check answers.
        (4, long, "error", [], [("error", EMAIL, f"email: '{long}' is not a valid e-mail address (After the @-sign, "
                                                 f"periods cannot be separated by so many characters (30 characters "
                                                 f"too many).).")]),
        (5, "uusi@asiakas.example", "add", [EMAIL, "Jabber Calling", "Preferred Webex Site", "Webex Meetings"], []),
        (6, "toinen@asiakas.example", "error", [], [
            ("error", "Jabber with Webex Teams", "Jabber with Webex Teams is required (TRUE or FALSE) for users with "
                                                 "a package."),
            ("warning", "Preferred Webex Site", "Preferred Webex Site is empty; Webex Meetings users need it for "
                                                "their meeting site.")]),
        (7, MATTI, "error", [], [("error", "", "The row has 1 more cell than the header; check for an unquoted "
                                               "delimiter inside a value.")])]
    assert len(long) == 161
    if path != "preview":
        assert user_by_email(db, MAIJA).jabber_calling is True
        assert user_by_email(db, MATTI).title is None


def test_headers_of_the_services_fields_and_of_changed_fields():
    from rtmhub.csvfile.planner import _column_order, _columns_of, _header_for, _package_header  # noqa: PLC0415

    assert [_header_for(f) for f in (None, "", "firstName", "callerIdNumber", "phone_number", "locationId",
                                     "preferredWebexSite", "package", "extension")] == [
        "", "", "First Name", "Caller ID Number", "Phone Number", "Location", "Preferred Webex Site", "package",
        "Extension"]
    assert [_package_header({"package": "webex_meetings"}, {"package": p}, "package")
            for p in (None, "webex_voice")] == ["Webex Meetings", "Webex Voice"]
    assert _package_header({"package": None}, {"package": None}, "package") == "Package"
    assert [_package_header({}, {}, f) for f in ("location_id", "package_assigned")] == ["Location",
                                                                                         "package_assigned"]
    # A header that is no column sorts after every column.
    assert [_column_order(h) for h in ("First Name", "Package")] == [0, len(COLUMNS)]
    assert [c.header for c in _columns_of(dict(
        email="a@b.example", package="webex_meetings", location_id="x", jabber_calling=False, title="T",
        basic_messaging=True, department=None))] == ["User ID/Email (Required)", "Location", "Title",
                                                     "Webex Meetings", "Basic Messaging"]
    assert _columns_of(dict(email="a@b.example", package=None)) == [COL[EMAIL]]


def test_missing_package_columns_count_the_users_own_package():
    from rtmhub.csvfile.planner import missing_package_columns  # noqa: PLC0415

    ctx = ImportContext(None, "add-remove", {}, {}, {"webex_calling", "basic_messaging", "common_area_calling"},
                        set(), set())
    calling, suite = COL["Webex Calling"], COL["Webex Suite"]
    assert missing_package_columns(ctx, User(package="webex_suite"), [calling]) == [suite]
    assert missing_package_columns(ctx, User(package="webex_suite"), []) == [calling, suite]
    assert missing_package_columns(ctx, User(package=None), []) == [calling]
    assert missing_package_columns(ctx, User(package="webex_calling"), [calling]) == []


@pytest.mark.parametrize("path", PATHS)
def test_a_row_without_an_email_cell_is_a_row_with_an_empty_one(db, world, path):
    # The reader gives every row a cell for every header column; a row built without one reads as empty.
    got = apply(db, world, path, rows=[CsvRow(2, {COL["Title"]: "X", COL["Phone Number"]: "+358912345601"}),
                                       CsvRow(3, {COL[EMAIL]: MAIJA, COL["Title"]: "X"})])
    assert got == [(2, None, "error", [], [("error", EMAIL, f"{EMAIL} is empty; every row needs the user's e-mail "
                                                            f"address.")]),
                   (3, MAIJA, "modify", ["Title"], [])]


@pytest.mark.parametrize("path", PATHS)
def test_add_remove_keeps_a_base_licence_whose_cell_is_empty_or_absent(db, world, path):
    with db.unit_of_work() as s:
        s.get(User, world.raw["um"]).basic_space_meetings = True
        s.get(User, world.raw["ua"]).basic_space_meetings = True
    got = apply(db, world, path, {EMAIL: MAIJA, "Basic Space Meetings": "", "Title": "X"}, {EMAIL: MATTI, "Title": "Y"})
    assert got == [(2, MAIJA, "modify", ["Title"], []), (3, MATTI, "modify", ["Title"], [])]
    if path != "preview":
        assert (user_by_email(db, MAIJA).basic_space_meetings, user_by_email(db, MATTI).basic_space_meetings) == (
            True, True)


@pytest.mark.parametrize("path", PATHS)
def test_a_flag_cell_that_is_no_boolean_is_refused_on_its_column(db, world, path):
    got = apply(db, world, path, {EMAIL: MAIJA, "Jabber Calling": "ehkä", "Title": "X"},
                {EMAIL: MATTI, "Basic Messaging": "kyllä", "Title": "Y"})
    assert got == [(2, MAIJA, "error", [], [("error", "Jabber Calling", "Jabber Calling must be TRUE or FALSE "
                                                                        "(found 'ehkä').")]),
                   (3, MATTI, "error", [], [("error", "Basic Messaging", "Basic Messaging must be TRUE or FALSE "
                                                                         "(found 'kyllä').")])]
