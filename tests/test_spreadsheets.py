"""Issue 13 parts 1-2: files as spreadsheet programs save them. CSV files saved in Finnish, Swedish and German
locales (the sep= line, semicolons or tabs, the locale's TRUE/FALSE words, UTF-8 with BOM, UTF-16, or Excel's
plain "CSV" in Windows-1252) apply as their TRUE/FALSE twins; number cells a spreadsheet changed are row errors;
an .xlsx workbook with typed cells imports as the equivalent CSV; the Excel export re-imports unchanged and keeps
+358 numbers as text; misused files get their messages through the API, the CLI and the page. On SQLite and
PostgreSQL."""
from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from datetime import datetime

from openpyxl import Workbook, load_workbook
from tests.bulk_support import (
    EMAIL,
    PACKAGE_HEADERS,
    errors_of,
    run,
    site_url,
    state,
    upload,
)
from tests.conftest import OPERATOR
from typer.testing import CliRunner

from rtmhub import ids
from rtmhub.cli.main import app as cli_app
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.users import service as users_service
from rtmhub.domain.users.schemas import UserFields
from rtmhub.settings import get_settings

HQ = "Helsinki HQ"
PASSWORD = "correct horse battery"
HEADERS = [EMAIL, "First Name", "Last Name", "Extension", "Phone Number", "Location", "Jabber Calling",
           "Jabber with Webex Teams", *PACKAGE_HEADERS, "Basic Messaging", "Basic Space Meetings",
           "Preferred Webex Site"]


TAGS = "en fi sv de x c n m h t r s fw sw dw fp ea".split()


def people(tag: str, site: str) -> list[list[object]]:
    """Three new users, with True/False (Python) where a TRUE/FALSE cell goes; ``tag`` makes the e-mails,
    extensions and phone numbers unique per variant."""
    i = TAGS.index(tag)

    def pkg(name: str) -> list[object]:
        return [h == name for h in PACKAGE_HEADERS]
    return [
        [f"kalle.{tag}@asiakas.example", "Väinö", "Mäkelä", f"26{i:02}", f"+3584012346{i:02}", HQ, True, False,
         *pkg("Webex Calling"), True, False, ""],
        [f"liisa.{tag}@asiakas.example", "Åsa", "Åström", "", "", "", False, False,
         *pkg("Webex Meetings"), False, True, site],
        [f"olli.{tag}@asiakas.example", "Jörg", "Strauß", f"27{i:02}", "", HQ, False, True,
         *pkg("Webex Suite"), True, True, site],
    ]


def csv_file(rows: list[list[object]], words: tuple[str, str] = ("TRUE", "FALSE"), *, delimiter: str = ",",
             hint: bool = False, encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    if hint:
        out.write(f"sep={delimiter}\r\n")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(HEADERS)
    for n, row in enumerate(rows):
        # the locale words in varying case: as Excel writes them, lower case and capitalised
        cased = [str.upper, str.lower, str.capitalize][n % 3]
        writer.writerow([cased(words[0] if v else words[1]) if isinstance(v, bool) else v for v in row])
    return out.getvalue().encode(encoding)


def comparable(db, world, tag: str) -> list[tuple]:
    """The users one variant made, e-mail tags removed, with the package use."""
    users = [(u[0].replace(f".{tag}@", "@"), u[1], u[2] and u[2][:2], u[3] and u[3][:-2], *u[4:])
             for u in state(db, world.raw["ca"])["users"] if f".{tag}@" in u[0]]
    return sorted(users)


def results(rs: dict) -> list[tuple]:
    return [(r["outcome"], r["changes"], [m for m in r["messages"] if m["level"] != "notice"]) for r in rs.values()]


def test_locale_files_apply_as_their_true_false_twins(client, world, db):
    site = site_url(db, world.raw["ca"])
    variants = {
        "en": csv_file(people("en", site)),
        # Finnish Excel: "CSV UTF-8" with its BOM, semicolons and the sep= line
        "fi": codecs.BOM_UTF8 + csv_file(people("fi", site), ("TOSI", "EPÄTOSI"), delimiter=";", hint=True),
        # Swedish Excel: "Unicode text" (UTF-16 LE with BOM, tabs), with the sep= line
        "sv": csv_file(people("sv", site), ("SANT", "FALSKT"), delimiter="\t", hint=True, encoding="utf-16"),
        # German Excel: semicolons and the sep= line; 1/0 in LibreOffice's way beside WAHR/FALSCH
        "de": codecs.BOM_UTF8 + csv_file(people("de", site)[:2], ("WAHR", "FALSCH"), delimiter=";", hint=True)
        .rstrip(b"\r\n") + b"\r\n" + csv_file(people("de", site)[2:], ("1", "0"), delimiter=";").split(b"\r\n", 1)[1],
        # Excel's plain "CSV" in each locale: the ANSI code page Windows-1252, no BOM, semicolons, the sep= line
        "fw": csv_file(people("fw", site), ("TOSI", "EPÄTOSI"), delimiter=";", hint=True, encoding="cp1252"),
        "sw": csv_file(people("sw", site), ("SANT", "FALSKT"), delimiter=";", hint=True, encoding="cp1252"),
        "dw": csv_file(people("dw", site), ("WAHR", "FALSCH"), delimiter=";", hint=True, encoding="cp1252"),
    }
    # the Finnish one with more than 64 KiB of ASCII before its first letter ä: the empty rows Excel writes as
    # bare delimiters, as many as a sheet of 500 and more users takes up
    sep_line, header_line, body = csv_file(people("fp", site), ("TOSI", "EPÄTOSI"), delimiter=";", hint=True,
                                           encoding="cp1252").split(b"\r\n", 2)
    variants["fp"] = b"\r\n".join([sep_line, header_line, *[b";" * (len(HEADERS) - 1)] * 4000, body])
    first = min(i for i, b in enumerate(variants["fp"]) if b >= 0x80)
    assert first > 65536 and variants["fp"][first:first + 1] == "ä".encode("cp1252")
    for tag in ("fw", "sw", "dw", "fp"):  # not UTF-8: the names' ä, å, ß are single bytes
        content = variants[tag]
        assert not content.startswith(codecs.BOM_UTF8) and "Åström".encode("cp1252") in content, tag
        try:
            content.decode("utf-8")
            raise AssertionError(f"{tag} is valid UTF-8")
        except UnicodeDecodeError:
            pass
    outcome = {}
    for tag, content in variants.items():
        task, rs = run(client, world, content, mode="add-remove", preview=False)
        assert task["status"] == "completed" and task["counts"]["added"] == 3, (tag, rs)
        outcome[tag] = (comparable(db, world, tag), results(rs))
        notices = [m["message"] for r in rs.values() for m in r["messages"] if m["level"] == "notice"]
        if tag == "en":
            assert notices == []
        else:
            assert notices and all(n.startswith("Read '") for n in notices), notices
        # the task (not each row) says once that the file was read as Windows-1252, and only then
        read_as = [n for n in task["notices"] if "Windows-1252" in n["message"]]
        assert len(read_as) == (1 if tag in ("fw", "sw", "dw", "fp") else 0), (tag, task["notices"])
        if read_as:
            assert read_as[0]["level"] == "notice" and "'CSV UTF-8 (comma delimited)'" in read_as[0]["message"]
    assert outcome["en"][0] and len(outcome["en"][0]) == 3
    assert {u[5] for u in outcome["en"][0]} == {"Väinö", "Åsa", "Jörg"}
    for tag in ("fi", "sv", "de", "fw", "sw", "dw", "fp"):
        assert outcome[tag] == outcome["en"], tag
    # a file all in ASCII is UTF-8 (and Windows-1252) alike: read, and no notice of Windows-1252
    ascii_names = {"Väinö": "Vaino", "Mäkelä": "Makela", "Åsa": "Asa", "Åström": "Astrom", "Jörg": "Jorg",
                   "Strauß": "Strauss"}
    plain_people = [[ascii_names.get(v, v) if isinstance(v, str) else v for v in p] for p in people("ea", site)]
    content = csv_file(plain_people, delimiter=";", hint=True)
    assert content.isascii()
    task, _ = run(client, world, content, mode="add-remove", preview=False)
    assert task["status"] == "completed" and task["counts"]["added"] == 3, task
    assert not [n for n in task["notices"] or [] if "Windows-1252" in n["message"]], task["notices"]
    # a byte Windows-1252 leaves undefined: neither UTF-8 nor Windows-1252, refused with what to save instead
    undefined = variants["fw"].replace(b".fw@", b".fx@").replace("Åström".encode("cp1252"), b"\x81str\xf6m")
    r = upload(client, world, undefined)
    assert r.status_code == 400, r.text
    assert "not Windows-1252 (Western European) text either: byte 0x81" in r.json()["message"], r.text
    assert "save it as 'CSV UTF-8" in r.json()["message"], r.text
    _, rs = run(client, world, variants["fi"].replace(b".fi@", b".fi2@"), mode="add-remove")
    assert {"Read 'TOSI' as TRUE.", "Read 'EPÄTOSI' as FALSE."} <= {
        m["message"] for m in rs[3]["messages"]}, rs[3]  # line 3: the sep= line is line 1


def test_numbers_a_spreadsheet_changed_are_row_errors(client, world, db):
    site = site_url(db, world.raw["ca"])
    rows = people("n", site)
    bad = [dict(zip(HEADERS, r, strict=True)) for r in (rows[0], rows[0], rows[0], rows[2])]
    bad[0]["Phone Number"] = "3.58401E+11"
    bad[1]["Phone Number"], bad[1][EMAIL] = "358401234602", "b@asiakas.example"
    bad[2]["Extension"], bad[2][EMAIL] = "2603.0", "c@asiakas.example"
    bad[3]["Extension"] = "2.6E+03"
    content = csv_file([list(b.values()) for b in bad])
    task, rs = run(client, world, content, mode="add-remove")
    assert task["counts"]["failed"] == 4, rs
    texts = {line: " ".join(m["message"] for m in errors_of(r)) for line, r in rs.items()}
    assert "'3.58401E+11' is a number a spreadsheet turned into scientific notation" in texts[2]
    assert "'358401234602' has lost its leading '+'" in texts[3] and "'+358401234602" in texts[3]
    assert "'2603.0' is a number a spreadsheet wrote with decimals; write it as '2603'" in texts[4]
    assert "scientific notation" in texts[5]
    assert all("format the column as Text" in t and "apostrophe" in t for t in texts.values()), texts
    assert [m["column"] for m in errors_of(rs[2])] == ["Phone Number"]


def workbook_bytes(rows: list[list[object]], headers: list[str] = HEADERS, *, title: str = "Users",
                   extra: Workbook | None = None) -> bytes:
    book = extra or Workbook()
    ws = book.active if extra is None else book.create_sheet(title)
    ws.title = title
    ws.append(headers)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_with_typed_cells_imports_as_the_csv(client, world, db):
    site = site_url(db, world.raw["ca"])
    typed = people("x", site)
    typed[0][3] = int(typed[0][3])  # an integer cell; the phone a text cell keeping its +
    typed[2][3] = float(typed[2][3])  # a whole number stored as a float: its digits, never 2602.0
    typed[1][2] = datetime(2024, 5, 1)  # a date (as a last name, for want of a date column)
    content = workbook_bytes(typed)
    # as some programs store a whole number: 2.7E3 in the sheet's XML, a float when read
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    whole = str(typed[2][3]).removesuffix(".0").encode()
    assert b"<v>" + whole + b"</v>" in parts["xl/worksheets/sheet1.xml"]
    parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"].replace(
        b"<v>" + whole + b"</v>", b"<v>" + whole[:1] + b"." + whole[1:] + b"E3</v>")
    content = _zip(parts)
    task, rs = run(client, world, content, mode="add-remove", preview=False, name="users.xlsx")
    assert task["status"] == "completed" and task["counts"]["added"] == 3 and task["fileName"] == "users.xlsx", rs
    twin = people("c", site)
    twin[1][2] = "2024-05-01"
    task, twin_rs = run(client, world, csv_file(twin), mode="add-remove", preview=False)
    assert comparable(db, world, "x") == comparable(db, world, "c") and len(comparable(db, world, "x")) == 3
    assert results(rs) == results(twin_rs)
    assert not [m for r in rs.values() for m in r["messages"] if m["level"] == "notice"]  # typed booleans


def test_excel_export_reimports_unchanged_and_keeps_plus(client, world, db):
    with db.unit_of_work() as s:
        users_service.create_user(s, OPERATOR, s.get(Customer, world.raw["ca"]), UserFields(
            email="puhelin@asiakas.example", first_name="Pia", last_name="Puhelin", package="webex_calling",
            extension="0042", phone_number="+358401234699", location_id=world.raw["loc_ca"], jabber_calling=True,
            jabber_with_teams=False, title="=SUM(A1)", preferred_site_url=site_url(db, world.raw["ca"])))
    r = client.get("/v1/userExport", params={"orgId": world.ids["ca_org"], "format": "xlsx"},
                   headers=world.auth("a_full"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats"), r.text
    sheet = load_workbook(io.BytesIO(r.content)).active
    header = [c.value for c in sheet[1]]
    row = next(cells for cells in sheet.iter_rows(min_row=2) if cells[header.index(EMAIL)].value.startswith("puh"))
    phone, ext, title = (row[header.index(h)] for h in ("Phone Number", "Extension", "Title"))
    assert (phone.value, phone.data_type, phone.number_format) == ("+358401234699", "s", "@")
    assert (ext.value, ext.data_type) == ("0042", "s") and (title.value, title.data_type) == ("=SUM(A1)", "s")
    assert row[header.index("Jabber Calling")].value is True
    before = state(db, world.raw["ca"])
    task, rs = run(client, world, r.content, mode="add-remove", preview=False, name="rtmhub-users.xlsx")
    assert task["status"] == "completed" and {x["outcome"] for x in rs.values()} == {"unchanged"}, rs
    assert not [m for x in rs.values() for m in x["messages"] if m["level"] != "warning"], rs
    as_csv = client.get("/v1/userExport", params={"orgId": world.ids["ca_org"]}, headers=world.auth("a_full"))
    _, csv_rs = run(client, world, as_csv.content, mode="add-remove")
    assert results(rs) == results(csv_rs)  # the same rows, outcomes and (warning) messages as the CSV export
    after = state(db, world.raw["ca"])
    assert after["users"] == before["users"] and after["used"] == before["used"]


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def misuses(site: str) -> dict[str, tuple[str, bytes, str]]:
    rows = people("m", site)
    good = workbook_bytes(rows)
    formula = Workbook()
    formula.active.append(HEADERS)
    formula.active.append(["f@asiakas.example", "=UPPER(\"x\")"])
    formula_bytes = io.BytesIO()
    formula.save(formula_bytes)
    two = Workbook()
    two.active.title = "Helsinki"
    two.active.append(HEADERS)
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        macro = _zip({**{n: z.read(n) for n in z.namelist()}, "xl/vbaProject.bin": b"\x00" * 16})
    return {
        "csv named xlsx": ("users.xlsx", csv_file(rows), "is not an Excel workbook"),
        "zip not a workbook": ("users.xlsx", _zip({"a.txt": b"hello"}), "a zip archive but not an Excel workbook"),
        "xlsx as csv": ("users.csv", good, "is an Excel workbook (or another zip archive), not CSV text"),
        "formula": ("users.xlsx", formula_bytes.getvalue(), "Cell B2 of the sheet 'Sheet' holds a formula"),
        "macros": ("users.xlsm", macro, "a workbook with macros"),
        "two sheets": ("users.xlsx", workbook_bytes(rows, title="Tampere", extra=two),
                       "more than one sheet with user columns ('Helsinki', 'Tampere')"),
        "broken workbook": ("users.xlsx", _zip({"xl/workbook.xml": b"<not", "[Content_Types].xml": b"x"}),
                            "cannot be read as an Excel workbook"),
    }


def test_misused_files_are_refused_through_the_api(client, world, db):
    for case, (name, content, message) in misuses(site_url(db, world.raw["ca"])).items():
        r = upload(client, world, content, name=name)
        assert r.status_code == 400, (case, r.status_code, r.text)
        assert message in r.json()["message"], (case, r.json())
    r = client.post("/v1/userImports", headers=world.auth("a_full"),
                    data={"orgId": world.ids["ca_org"], "sheet": "Puuttuu"},
                    files={"file": ("users.xlsx", workbook_bytes(people("s", "x")), "application/octet-stream")})
    assert r.status_code == 400 and "The workbook has no sheet 'Puuttuu'; its sheets are: 'Users'" in r.json()[
        "message"], r.text


def test_cli_imports_and_exports_workbooks_and_refuses_misuse(db, world, monkeypatch, tmp_path):
    monkeypatch.setenv("RTMHUB_DATABASE_URL", db.url)
    get_settings.cache_clear()
    cli = CliRunner()
    org = world.ids["ca_org"]
    try:
        two = Workbook()
        two.active.title = "Helsinki"
        two.active.append(HEADERS)
        two.active.append(people("h", "x")[1][:3])
        book = tmp_path / "two.xlsx"
        book.write_bytes(workbook_bytes(people("t", "x"), title="Tampere", extra=two))
        result = cli.invoke(cli_app, ["users", "import", str(book), "--customer", org, "--dry-run"])
        assert result.exit_code == 1 and "more than one sheet" in result.output and "--sheet" in result.output
        assert "Traceback" not in result.output and isinstance(result.exception, SystemExit), result.output
        result = cli.invoke(cli_app, ["users", "import", str(book), "--customer", org, "--sheet", "Helsinki"])
        assert result.exit_code == 0, result.output
        renamed = tmp_path / "renamed.xlsx"
        renamed.write_bytes(csv_file(people("r", "x")))
        result = cli.invoke(cli_app, ["users", "import", str(renamed), "--customer", org, "--dry-run"])
        assert result.exit_code == 1 and "is not an Excel workbook" in result.output, result.output
        exported = tmp_path / "export.xlsx"
        result = cli.invoke(cli_app, ["users", "export", "--customer", org, "-o", str(exported)])
        assert result.exit_code == 0 and zipfile.is_zipfile(exported), result.output
        before = state(db, world.raw["ca"])
        result = cli.invoke(cli_app, ["users", "import", str(exported), "--customer", org, "--mode", "add-remove"])
        assert result.exit_code == 0, result.output
        assert state(db, world.raw["ca"])["users"] == before["users"]
    finally:
        get_settings.cache_clear()


def test_page_offers_excel_export_and_refuses_misuse(client, world, db):
    page = client.get("/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/signin", data={"csrf_token": token, "email": "full@a.example", "password": PASSWORD, "next": "/"})
    cid = world.raw["ca"]
    page = client.get(f"/customers/{cid}/hub/users/csv", params={"lang": "en"})
    assert f'href="/customers/{cid}/hub/users/export.xlsx"' in page.text and "TOSI" in page.text
    assert "or Windows-1252 as Excel&#39;s plain CSV type saves it" in page.text
    # the Manage users page has its Export Excel link next to Export CSV, and it downloads a workbook
    manage = client.get(f"/customers/{cid}/hub/users/manage", params={"lang": "fi"}).text
    link = re.search(r'<a href="([^"]+)" id="export-xlsx"><strong>Vie Excel</strong>', manage)
    assert link and manage.index('id="export-csv"') < link.start(), manage
    exported = client.get(link.group(1))
    assert exported.status_code == 200 and zipfile.is_zipfile(io.BytesIO(exported.content))
    assert EMAIL in [c.value for c in next(load_workbook(io.BytesIO(exported.content), read_only=True).active.rows)]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    cases = misuses(site_url(db, cid))
    for case in ("csv named xlsx", "xlsx as csv", "formula"):
        name, content, message = cases[case]
        r = client.post(f"/customers/{cid}/hub/users/csv", data={"csrf_token": token, "mode": "add"},
                        files={"file": (name, content, "application/octet-stream")}, params={"lang": "en"})
        assert r.status_code == 400 and message in r.text.replace("&#39;", "'"), (case, r.status_code)
    r = client.post(f"/customers/{cid}/hub/users/csv", data={"csrf_token": token, "mode": "add"},
                    files={"file": ("export.xlsx", exported.content, "application/octet-stream")},
                    follow_redirects=False)
    assert r.status_code == 303 and "/tasks/" in r.headers["location"], r.text
    # Excel's plain "CSV" of a Finnish locale (Windows-1252) previewed: the page says how it was read, in Finnish
    task, _ = run(client, world, csv_file(people("s", site_url(db, cid)), ("TOSI", "EPÄTOSI"), delimiter=";",
                                          hint=True, encoding="cp1252"))
    assert task["type"] == "csv_preview" and task["status"] == "completed", task
    html = client.get(f"/tasks/{ids.raw('TASK', task['id'])}", params={"lang": "fi"}).text
    assert "Arvo &#39;TOSI&#39; luettiin arvoksi TRUE." in html, "the row's notice, in Finnish"
    assert html.count("luettiin Windows-1252-merkistöllä") == 1, "the task's notice, once, in Finnish"
