"""Issue 3 point 4: every CSV row rule, each with a failing AND a passing row, through the API
(POST /v1/userImports -> task -> GET /v1/tasks/{id}/rows). Runs on SQLite and PostgreSQL."""
from __future__ import annotations

from tests.bulk_support import (
    BASE_HEADERS, EMAIL, PACKAGE_HEADERS, csv_bytes, error_text, errors_of, person, run, set_allocation, site_url,
    upload, used, user, warnings_of,
)

HQ = "Helsinki HQ"
MATTI = "matti.meikalainen@asiakas.example"  # world: Webex Calling, ext 1001, +358912345601, Helsinki HQ
MAIJA = "maija.meikalainen@asiakas.example"  # world: Webex Meetings


def existing(email: str, package: str, **cells: str) -> dict[str, str]:
    """A row for a world user, as exported (Ä in the names), without the Jabber columns."""
    row = person(email, package, jabber=False, **{"Last Name": "Meikäläinen"})
    row["First Name"] = email.split(".")[0].capitalize()
    if email == MATTI:
        row.update({"Extension": "1001", "Phone Number": "+358912345601", "Location": HQ})
    row.update(cells)
    return row


def test_mandatory_fields_by_package_and_site_warning(client, world, db):
    """R20-R24, D2 (extension/number and location for calling packages, Jabber columns for a new user
    with a package), R23 (Preferred Webex Site: warning for meeting packages, nothing for Webex Voice),
    R29/R36 (a number without '+' is a row error that suggests the E.164 form)."""
    site = site_url(db, world.raw["ca"])
    rows_ = [
        person("no.number@asiakas.example", "Webex Calling", Location=HQ),                              # 2 error
        person("no.location@asiakas.example", "Webex Calling", Extension="2002"),                       # 3 error
        person("number.only@asiakas.example", "Webex Calling", Location=HQ,
               **{"Phone Number": "+358401234501"}),                                                    # 4 add
        person("no.jabber@asiakas.example", "Webex Calling", jabber=False, Extension="2004", Location=HQ),  # 5 error
        person("meet.nojabber@asiakas.example", "Webex Meetings", jabber=False),                        # 6 error
        existing(MATTI, "Webex Calling", Title="Myyjä"),                                                # 7 modify
        person("meet.nosite@asiakas.example", "Webex Meetings"),                                        # 8 add+warn
        person("meet.site@asiakas.example", "Webex Meetings", **{"Preferred Webex Site": site}),        # 9 add
        person("voice.nosite@asiakas.example", "Webex Voice", Extension="2010", Location=HQ),           # 10 add
        person("calling.full@asiakas.example", "Webex Calling", Extension="2011", Location=HQ,
               **{"Preferred Webex Site": site}),                                                       # 11 add
        person("no.plus@asiakas.example", "Webex Calling", Location=HQ,
               **{"Phone Number": "358401234512"}),                                                     # 12 error
        person("suite.nonumber@asiakas.example", "Webex Suite", Location=HQ),                           # 13 error
        person("ext.and.number@asiakas.example", "Webex Suite", Extension="2014", Location=HQ,
               **{"Phone Number": "+358401234514", "Preferred Webex Site": site}),                      # 14 add
    ]
    task, rs = run(client, world, csv_bytes(rows_), preview=False)
    outcomes = {line: r["outcome"] for line, r in rs.items()}
    assert outcomes == {2: "error", 3: "error", 4: "add", 5: "error", 6: "error", 7: "modify", 8: "add", 9: "add",
                        10: "add", 11: "add", 12: "error", 13: "error", 14: "add"}, rs
    assert task["status"] == "completed_with_errors"
    assert task["counts"]["added"] == 6 and task["counts"]["modified"] == 1 and task["counts"]["failed"] == 6

    assert {e["column"] for e in errors_of(rs[2])} == {"Extension"}, rs[2]
    assert "extension" in error_text(rs[2]).lower() and "phone number" in error_text(rs[2]).lower()
    assert {e["column"] for e in errors_of(rs[3])} == {"Location"}, rs[3]
    assert {e["column"] for e in errors_of(rs[5])} == {"Jabber Calling", "Jabber with Webex Teams"}, rs[5]
    assert {e["column"] for e in errors_of(rs[6])} == {"Jabber Calling", "Jabber with Webex Teams"}, rs[6]
    assert {e["column"] for e in errors_of(rs[13])} == {"Extension"}, rs[13]
    # a number that lost its '+': row error on the column, with the E.164 form suggested
    assert "Phone Number" in [e["column"] for e in errors_of(rs[12])], rs[12]
    assert "+358401234512" in error_text(rs[12]), rs[12]
    # the existing user needs no Jabber columns; only what changed is reported
    assert rs[7]["changes"] == ["Title"], rs[7]
    # R23: missing site -> warning (never an error) for meeting-capable packages, nothing for Webex Voice
    assert [w["column"] for w in warnings_of(rs[8])] == ["Preferred Webex Site"] and not errors_of(rs[8])
    assert warnings_of(rs[9]) == [] and warnings_of(rs[11]) == [] and warnings_of(rs[14]) == []
    assert rs[10]["messages"] == [], rs[10]
    assert any(w["column"] == "Preferred Webex Site" for w in warnings_of(rs[2]))  # reported on error rows too

    for email in ("no.number", "no.location", "no.jabber", "meet.nojabber", "no.plus", "suite.nonumber"):
        assert user(db, f"{email}@asiakas.example") is None, email
    u = user(db, "number.only@asiakas.example")
    assert u.package == "webex_calling" and u.phone_number == "+358401234501" and u.extension is None
    assert user(db, "voice.nosite@asiakas.example").package == "webex_voice"
    assert user(db, "meet.site@asiakas.example").preferred_site_url == site
    assert user(db, MATTI).title == "Myyjä"


def test_add_services_only_adds_base_licences_add_remove_applies_exactly(client, world, db):
    """R25, D4: 'Add services only' grants the three base licences beside the package (FALSE does not
    remove them); 'Add and remove services' applies TRUE/FALSE exactly as written."""
    base_false = {h: "FALSE" for h in BASE_HEADERS}
    add_rows = [
        person("add.mode@asiakas.example", "Webex Meetings"),                      # no base columns -> all three
        person("add.mode.false@asiakas.example", "Webex Meetings", **base_false),  # FALSE ignored in add mode
        existing(MAIJA, "Webex Meetings", **base_false),                           # existing user gets them too
    ]
    task, rs = run(client, world, csv_bytes(add_rows), mode="add", preview=False)
    assert [r["outcome"] for r in rs.values()] == ["add", "add", "modify"], rs
    assert set(BASE_HEADERS) <= set(rs[2]["changes"]) and set(rs[4]["changes"]) == set(BASE_HEADERS), rs
    for email in ("add.mode@asiakas.example", "add.mode.false@asiakas.example", MAIJA):
        u = user(db, email)
        assert (u.basic_messaging, u.basic_space_meetings, u.call_on_webex) == (True, True, True), email

    exact_rows = [
        person("exact@asiakas.example", "Webex Meetings", **{"Basic Messaging": "TRUE", "Basic Space Meetings":
                                                                   "FALSE", BASE_HEADERS[2]: "FALSE"}),
        existing(MAIJA, "Webex Meetings", **{"Basic Messaging": "TRUE", "Basic Space Meetings": "FALSE",
                                             BASE_HEADERS[2]: "FALSE"}),
        person("no.base@asiakas.example", "Webex Meetings"),
    ]
    task, rs = run(client, world, csv_bytes(exact_rows), mode="add-remove", preview=False)
    assert [r["outcome"] for r in rs.values()] == ["add", "modify", "add"], rs
    assert sorted(rs[3]["changes"]) == sorted(BASE_HEADERS[1:]), rs[3]
    for email in ("exact@asiakas.example", MAIJA):
        u = user(db, email)
        assert (u.basic_messaging, u.basic_space_meetings, u.call_on_webex) == (True, False, False), email
    u = user(db, "no.base@asiakas.example")
    assert (u.basic_messaging, u.basic_space_meetings, u.call_on_webex) == (False, False, False)


def test_all_package_columns_false_deletes_only_in_add_remove(client, world, db):
    """R26, D4: every package column FALSE deletes the user in 'Add and remove services'; in
    'Add services only' it is a row error that says to choose 'Add and remove services'."""
    all_false = {h: "FALSE" for h in PACKAGE_HEADERS}
    rows_ = [existing(MAIJA, "Webex Meetings", **all_false), person("kept.going@asiakas.example", "Webex Meetings")]
    task, rs = run(client, world, csv_bytes(rows_), mode="add", preview=False)
    assert rs[2]["outcome"] == "error" and "Add and remove services" in error_text(rs[2]), rs[2]
    assert rs[3]["outcome"] == "add"
    assert user(db, MAIJA) is not None
    meetings_used = used(db, world.raw["ca"], "webex_meetings")

    rows_ = [existing(MAIJA, "Webex Meetings", **all_false),
             person("never.existed@asiakas.example", None, **all_false),
             existing(MATTI, "Webex Calling")]
    task, rs = run(client, world, csv_bytes(rows_), mode="add-remove", preview=False)
    assert [r["outcome"] for r in rs.values()] == ["delete", "error", "unchanged"], rs
    assert task["counts"]["deleted"] == 1
    assert user(db, MAIJA) is None and user(db, MATTI).package == "webex_calling"
    assert used(db, world.raw["ca"], "webex_meetings") == meetings_used - 1


def test_location_of_existing_calling_user_cannot_change(client, world, db):
    """R27: the Location of an existing calling user cannot change by CSV; a meetings user may be
    moved to calling with a location, and a calling user's row with its own location passes."""
    r = client.post("/v1/locations", params={"orgId": world.ids["ca_org"]}, headers=world.auth("a_full"), json={
        "name": "Tampere", "timeZone": "Europe/Helsinki", "preferredLanguage": "fi_fi",
        "announcementLanguage": "fi_fi", "address": {"address1": "Hämeenkatu 1", "city": "Tampere", "country": "FI"}})
    assert r.status_code == 201, r.text
    rows_ = [
        existing(MATTI, "Webex Calling", Location="Tampere"),                                      # 2 error
        existing(MAIJA, "Webex Calling", Extension="2100", Location="Tampere"),                    # 3 modify
    ]
    task, rs = run(client, world, csv_bytes(rows_), mode="add-remove", preview=False)
    assert rs[2]["outcome"] == "error" and [e["column"] for e in errors_of(rs[2])] == ["Location"], rs[2]
    assert "Helsinki HQ" in error_text(rs[2])
    assert rs[3]["outcome"] == "modify" and {"Webex Calling", "Location", "Extension"} <= set(rs[3]["changes"])
    with db.unit_of_work(write=False) as s:
        from rtmhub.domain.locations.models import Location

        names = {loc.id: loc.name for loc in s.query(Location)}
    assert names[user(db, MATTI).location_id] == "Helsinki HQ"
    assert names[user(db, MAIJA).location_id] == "Tampere"
    # the same calling user, same location, other change: fine
    task, rs = run(client, world, csv_bytes([existing(MATTI, "Webex Calling", Location=HQ, Department="Myynti"),
                                             existing(MAIJA, "Webex Calling", Extension="2100", Location=HQ)]),
                   mode="add-remove", preview=False)
    assert rs[2]["outcome"] == "modify" and rs[2]["changes"] == ["Department"], rs[2]
    assert rs[3]["outcome"] == "error" and [e["column"] for e in errors_of(rs[3])] == ["Location"], rs[3]


def test_read_only_user_status(client, world, db):
    """R19: User Status is read-only; the exported value passes, another one is ignored with a row warning
    (issue 9: a Control Hub export carries its own statuses) and the row still applies."""
    rows_ = [
        existing(MATTI, "Webex Calling", **{"User Status": "Active", "Title": "x"}),  # 2 modify + warning
        existing(MAIJA, "Webex Meetings", **{"User Status": "provisioned"}),          # 3 as exported
        person("new.status@asiakas.example", "Webex Meetings", **{"User Status": "Verified"}),  # 4 add + warning
        person("new.nostatus@asiakas.example", "Webex Meetings"),                     # 5 add (empty status)
    ]
    task, rs = run(client, world, csv_bytes(rows_), mode="add-remove", preview=False)
    assert [r["outcome"] for r in rs.values()] == ["modify", "unchanged", "add", "add"], rs
    status_warnings = [w for w in warnings_of(rs[2]) if w["column"] == "User Status"]
    assert len(status_warnings) == 1 and "read-only" in status_warnings[0]["message"], rs[2]
    assert [w["column"] for w in warnings_of(rs[4]) if w["column"] == "User Status"] == ["User Status"]
    assert not errors_of(rs[2]) and not [w for w in warnings_of(rs[3]) if w["column"] == "User Status"]
    assert user(db, MATTI).title == "x" and user(db, MATTI).status == "provisioned"
    assert user(db, "new.status@asiakas.example").status == "provisioned"


def test_duplicate_email_two_packages_and_suspended_column(client, world, db):
    """The same e-mail twice in one file -> both rows error (case-insensitive); two packages TRUE -> error
    (R1); a TRUE in a '(Suspended)' package column -> error (R18); the passing rows of the same file apply."""
    headers = [EMAIL, "First Name", "Last Name", "Extension", "Location", "Jabber Calling", "Jabber with Webex Teams",
               "Webex Calling (Suspended)", "Webex Suite", "Webex Meetings"]

    def row(email, calling="FALSE", suite="FALSE", meetings="FALSE", ext=""):
        return {EMAIL: email, "First Name": "Testi", "Last Name": "Henkilö", "Extension": ext,
                "Location": HQ if ext else "", "Jabber Calling": "FALSE", "Jabber with Webex Teams": "FALSE",
                "Webex Calling (Suspended)": calling, "Webex Suite": suite, "Webex Meetings": meetings}

    rows_ = [
        row("twice@asiakas.example", meetings="TRUE"),                 # 2 error (duplicate)
        row("once@asiakas.example", meetings="TRUE"),                  # 3 add
        row("TWICE@Asiakas.example", meetings="TRUE"),                 # 4 error (duplicate)
        row("two.packages@asiakas.example", suite="TRUE", meetings="TRUE", ext="2200"),  # 5 error (R1)
        row("one.package@asiakas.example", suite="TRUE", ext="2201"),  # 6 add
        row("suspended@asiakas.example", calling="TRUE", ext="2202"),  # 7 error (R18)
    ]
    task, rs = run(client, world, csv_bytes(rows_, headers), mode="add-remove", preview=False)
    assert {line: r["outcome"] for line, r in rs.items()} == {
        2: "error", 3: "add", 4: "error", 5: "error", 6: "add", 7: "error"}, rs
    for line in (2, 4):
        assert [e["column"] for e in errors_of(rs[line])] == [EMAIL]
        assert "more than once" in error_text(rs[line])
    assert "exactly one package" in error_text(rs[5])
    assert [e["column"] for e in errors_of(rs[7])] == ["Webex Calling"] and "suspended" in error_text(rs[7])
    assert user(db, "twice@asiakas.example") is None and user(db, "suspended@asiakas.example") is None
    assert user(db, "two.packages@asiakas.example") is None
    assert user(db, "once@asiakas.example").package == "webex_meetings"
    assert user(db, "one.package@asiakas.example").package == "webex_suite"


def test_allocation_checked_in_file_order(client, world, db):
    """A customer with 2 units left and 4 rows asking for them: the first 2 apply, the last 2 are row
    errors naming the allocation; rows for other packages in between apply."""
    set_allocation(db, world.raw["ca"], "webex_calling", 3)  # 1 used (Matti) -> 2 left
    rows_ = [person(f"alloc{i}@asiakas.example", "Webex Calling", Extension=f"230{i}", Location=HQ) for i in range(4)]
    rows_.insert(2, person("alloc.meetings@asiakas.example", "Webex Meetings"))
    task, rs = run(client, world, csv_bytes(rows_), mode="add-remove", preview=False)
    assert [r["outcome"] for r in rs.values()] == ["add", "add", "add", "error", "error"], rs
    for line in (5, 6):
        assert "3 of 3" in error_text(rs[line]) and "Webex Calling" in error_text(rs[line]), rs[line]
    assert used(db, world.raw["ca"], "webex_calling") == 3
    assert task["allocations"]["webex_calling"] == {"used": 3, "allocation": 3}
    assert [user(db, f"alloc{i}@asiakas.example") is not None for i in range(4)] == [True, True, False, False]


def test_unknown_header_refuses_the_whole_file(client, world, db):
    content = csv_bytes([person("x.y@asiakas.example", "Webex Meetings", **{"Favourite Colour": "blue"})])
    r = upload(client, world, content)
    assert r.status_code == 400, r.text
    assert "Favourite Colour" in r.json()["message"]
    assert client.get("/v1/tasks", headers=world.auth("a_full")).json()["items"] == []
    # the same file without that column is accepted
    content = csv_bytes([person("x.y@asiakas.example", "Webex Meetings")])
    assert upload(client, world, content).status_code == 202


def test_extra_cells_are_counted_in_singular_and_plural(client, world, db):
    """A row with more cells than the header is an error that counts them, one cell or several."""
    good = csv_bytes([person("extra.one@asiakas.example", "Webex Meetings")]).decode().splitlines()
    content = "\r\n".join([good[0], good[1] + ",x", good[1].replace("extra.one", "extra.two") + ",x,y"]) + "\r\n"
    _, result = run(client, world, content.encode())
    assert "The row has 1 more cell than the header" in error_text(result[2])
    assert "The row has 2 more cells than the header" in error_text(result[3])
