"""The CSV reader/writer (rtmhub.csvfile): every file oddity of issue 3 point 3, round trips, streaming.

Pure tests: no database, no app.
"""
from __future__ import annotations

import codecs
import csv
import io
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtmhub.csvfile import (COLUMNS, Column, CsvFileError, CsvRow, neutralise, open_csv, parse_bool,
                            resolve_headers, template_headers, write_csv)
from rtmhub.csvfile.columns import EMAIL_COLUMN, find_column
from rtmhub.errors import ValidationFailed

DATA = Path(__file__).parent / "data" / "csv"
BY_HEADER = {c.header: c for c in COLUMNS}
EMAIL = "User ID/Email (Required)"


def col(header: str) -> Column:
    return BY_HEADER[header]


def read(data: bytes | str, **kw) -> list[CsvRow]:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return list(open_csv(io.BytesIO(data), **kw))


def plain(rows: list[CsvRow]) -> list[tuple[int, dict[str, str]]]:
    return [(r.line, {c.header: v for c, v in r.cells.items()}) for r in rows]


def file_error(data: bytes | str, **kw) -> CsvFileError:
    with pytest.raises(CsvFileError) as info:
        read(data, **kw)
    return info.value


SIMPLE = "First Name,User ID/Email (Required),Webex Calling\nAnna,anna@example.fi,TRUE\nBo,bo@example.fi,false\n"
SIMPLE_ROWS = [(2, {"First Name": "Anna", EMAIL: "anna@example.fi", "Webex Calling": "TRUE"}),
               (3, {"First Name": "Bo", EMAIL: "bo@example.fi", "Webex Calling": "false"})]


# --- columns ---------------------------------------------------------------------------------

def test_columns_in_export_order():
    assert [c.header for c in COLUMNS] == [
        "First Name", "Last Name", "Display Name", "User ID/Email (Required)", "User Status",
        "Last Service Accessed Time", "Days since Last Service Accessed", "Extension", "Phone Number", "Caller ID Number", "Caller ID First Name", "Caller ID Last Name", "Location", "Title",
        "Department", "Manager", "Preferred Language", "Time zone", "Jabber Calling", "Jabber with Webex Teams",
        "Preferred Webex Site", "Webex Calling", "Webex Calling Standard", "Webex Suite", "Webex Voice",
        "Webex Meetings", "Customer Assist", "Basic Messaging", "Basic Space Meetings",
        "Call on Webex (1:1 call, non-PSTN)"]
    assert col("User Status").kind == "readonly" and col("User Status").field == "status"
    assert col("Location").field == "location"
    assert (col("Jabber Calling").kind, col("Jabber with Webex Teams").field) == ("bool", "jabber_with_teams")
    assert col("Customer Assist").package == "cx_essentials" and col("Customer Assist").kind == "package"
    assert [c.field for c in COLUMNS if c.kind == "base"] == ["basic_messaging", "basic_space_meetings",
                                                               "call_on_webex"]
    assert "User Status" not in template_headers() and template_headers()[3] == EMAIL


@pytest.mark.parametrize("alias, header", [
    ("Sijainti", "Location"), ("Jatkonumero", "Extension"), ("Puhelinnumero", "Phone Number"),
    ("Ensisijainen Webex-sivusto", "Preferred Webex Site"), ("Jabber-kutsu", "Jabber Calling"),
    ("Jabber Webex Teamsin kanssa", "Jabber with Webex Teams"), ("Perusviestintä", "Basic Messaging"),
    ("Perustilakokoukset", "Basic Space Meetings"), ("Soita Webexin kautta", "Call on Webex (1:1 call, non-PSTN)"),
    ("Webex-ääni", "Webex Voice"), ("Etunimi", "First Name"), ("Sukunimi", "Last Name"),
    ("Näyttönimi", "Display Name"), ("Käyttäjätunnus/sähköposti (pakollinen)", EMAIL),
    ("Käyttäjän tila", "User Status"), ("Customer Experience Essentials", "Customer Assist"),
    ("  user   id/EMAIL (required) ", EMAIL), ("TIME ZONE", "Time zone"), ("sijainti", "Location"),
])
def test_aliases_and_case_insensitive_headers(alias, header):
    assert find_column(alias) is col(header)


def test_resolve_headers_suffixes():
    hm = resolve_headers([EMAIL, "Webex Calling [Sub123]", "Webex Suite (Suspended)",
                          "Basic Messaging (Suspended) [Sub 9]", ""])
    assert hm.width == 4 and [e.index for e in hm.entries] == [0, 1, 2, 3]
    assert (hm[1].column, hm[1].subscription_id, hm[1].suspended) == (col("Webex Calling"), "Sub123", False)
    assert (hm[2].column, hm[2].subscription_id, hm[2].suspended) == (col("Webex Suite"), None, True)
    assert (hm[3].column, hm[3].subscription_id, hm[3].suspended) == (col("Basic Messaging"), "Sub 9", True)
    assert hm.suspended_columns == {col("Webex Suite"), col("Basic Messaging")}
    assert col("Webex Calling") in hm and col("Location") not in hm


def test_suffix_only_on_licence_columns():
    with pytest.raises(CsvFileError) as info:
        resolve_headers([EMAIL, "First Name [Sub1]"])
    assert "First Name [Sub1]" in info.value.message


def test_csv_file_error_is_a_validation_error():
    assert issubclass(CsvFileError, ValidationFailed) and CsvFileError.status == 400


# --- encodings ---------------------------------------------------------------------------------

@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF8], ids=["no-bom", "bom"])
def test_utf8_with_and_without_bom(bom):
    text = "First Name,User ID/Email (Required)\nÄijä Åström-Öberg,aija@example.fi\n"
    rows = read(bom + text.encode("utf-8"))
    assert plain(rows) == [(2, {"First Name": "Äijä Åström-Öberg", EMAIL: "aija@example.fi"})]


@pytest.mark.parametrize("codec, bom", [("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE)])
@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_utf16_with_bom(codec, bom, delimiter):
    text = SIMPLE.replace(",", delimiter).replace("\n", "\r\n")
    reader = open_csv(io.BytesIO(bom + text.encode(codec)))
    assert reader.delimiter == delimiter
    assert plain(list(reader)) == SIMPLE_ROWS


def test_stored_utf16le_unicode_text_file():
    reader = open_csv(io.BytesIO((DATA / "excel_unicode_text_utf16le.txt").read_bytes()))
    assert reader.delimiter == "\t"
    entries = {e.column.header: e for e in reader.header_map}
    assert entries["Webex Calling"].subscription_id == "Sub123" and entries["Webex Suite"].suspended
    rows = list(reader)
    assert [(r.line, r.cells[col("Last Name")], r.cells[col("Webex Calling")]) for r in rows] == [
        (2, "Mäkelä", "TRUE"), (4, "Niemi", "FALSE")]


def test_windows_1252_without_bom_is_read_as_windows_1252():
    # Excel's plain "CSV" in a Finnish, Swedish or German locale: the ANSI code page, no BOM
    data = "First Name;User ID/Email (Required);Last Name\r\nÄijä;a@example.fi;Strauß – Åberg €\r\n".encode("cp1252")
    reader = open_csv(io.BytesIO(data))
    assert reader.encoding == "cp1252" and reader.delimiter == ";"
    assert [(r.cells[col("First Name")], r.cells[col("Last Name")]) for r in reader] == [
        ("Äijä", "Strauß – Åberg €")]
    # UTF-8 without a BOM is still UTF-8, whatever its letters would be in the code page
    reader = open_csv(io.BytesIO(data.decode("cp1252").encode("utf-8")))
    assert reader.encoding == "utf-8-sig" and [r.cells[col("First Name")] for r in reader] == ["Äijä"]


@pytest.mark.parametrize("undefined", [0x81, 0x8D, 0x8F, 0x90, 0x9D])
def test_bytes_windows_1252_leaves_undefined_are_refused(undefined):
    data = "First Name,User ID/Email (Required)\nÄijä,a@example.fi\n".encode("cp1252")
    data += bytes([undefined]) + b",b@example.fi\n"
    err = file_error(data)
    assert "not Windows-1252 (Western European) text either" in err.message and f"0x{undefined:02X}" in err.message
    assert "CSV UTF-8" in err.message


ASCII_ROW = "x,y@example.fi,TRUE\n"
PAST_A_BLOCK = 70_000 // len(ASCII_ROW)  # ASCII rows before the first letter: more than 64 KiB, beyond a read


def test_utf8_first_then_invalid_is_refused():
    # the first non-ASCII byte starts a valid UTF-8 letter: an invalid byte after it is refused, not read as cp1252
    for rows in ("Äijä,x@example.fi,TRUE\n" * 5000, "Äijä,x@example.fi,TRUE\n",
                 ASCII_ROW * PAST_A_BLOCK + "Ä,x@example.fi\n"):
        data = (SIMPLE + rows).encode() + "Mäki,z@example.fi,TRUE\n".encode("cp1252")
        err = file_error(data)
        assert "not UTF-8/UTF-16 text" in err.message and "0xE4" in err.message and "CSV UTF-8" in err.message
    # the first non-ASCII byte is not UTF-8: the file is Windows-1252, and UTF-8 letters after it read as such
    data = (SIMPLE + ASCII_ROW * 10).encode() + "Mäki,z@example.fi,TRUE\n".encode("cp1252") + "Äijä,x@f.fi\n".encode()
    reader = open_csv(io.BytesIO(data))
    assert [r.cells[col("First Name")] for r in reader][-2:] == ["Mäki", "Ã„ijÃ¤"]
    assert reader.encoding == "cp1252"


def test_windows_1252_after_more_than_a_block_of_ascii_is_windows_1252():
    # a Finnish Excel "CSV" whose first 500 and more rows are ASCII: the name on row 3700 decides
    head = "sep=;\r\nFirst Name;User ID/Email (Required);Last Name\r\n"
    ascii_rows = "".join(f"Aino;a{n}@example.fi;Virtanen\r\n" for n in range(3700))
    tail = "Matti;m@example.fi;Mäkinen\r\nÅsa;a@example.se;Öberg – Straße €\r\n"
    data = (head + ascii_rows + tail).encode("cp1252")
    assert data.index(b"\xe4") > 65536 and all(b < 0x80 for b in data[:data.index(b"\xe4")])
    reader = open_csv(io.BytesIO(data))
    rows = list(reader)
    assert reader.encoding == "cp1252"
    twin = list(open_csv(io.BytesIO((head + ascii_rows + tail).encode("utf-8"))))
    assert [(r.line, r.cells) for r in rows] == [(r.line, r.cells) for r in twin]
    assert [(r.line, r.cells[col("Last Name")]) for r in rows[-2:]] == [(3703, "Mäkinen"), (3704, "Öberg – Straße €")]


def test_utf8_after_more_than_a_block_of_ascii_stays_utf8():
    data = (SIMPLE + ASCII_ROW * PAST_A_BLOCK + "Mäkinen,m@example.fi,TRUE\n").encode()
    assert data.index("ä".encode()) > 65536
    reader = open_csv(io.BytesIO(data))
    rows = list(reader)
    assert reader.encoding == "utf-8-sig" and rows[-1].cells[col("First Name")] == "Mäkinen"
    assert rows[-1].line == 4 + PAST_A_BLOCK


def test_all_ascii_file_is_utf8():
    reader = open_csv(io.BytesIO((SIMPLE + ASCII_ROW * PAST_A_BLOCK).encode()))
    assert len(list(reader)) == 2 + PAST_A_BLOCK and reader.encoding == "utf-8-sig"


@pytest.mark.parametrize("undefined", [0x81, 0x8D, 0x8F, 0x90, 0x9D])
def test_undefined_byte_after_a_windows_1252_letter_far_in_is_refused(undefined):
    data = (SIMPLE + ASCII_ROW * PAST_A_BLOCK).encode() + "Mäki,m@example.fi,TRUE\n".encode("cp1252")
    data += (ASCII_ROW * 3000).encode() + b"P" + bytes([undefined]) + b"kka,p@example.fi,TRUE\n" + ASCII_ROW.encode()
    err = file_error(data)
    assert "not Windows-1252 (Western European) text either" in err.message and f"0x{undefined:02X}" in err.message
    assert "CSV UTF-8" in err.message
    assert len(read(data.replace(bytes([undefined]), b"\xe4"))) == 5 + PAST_A_BLOCK + 3000  # the same file, defined


def test_invalid_utf8_late_in_a_big_file_is_refused():
    data = (SIMPLE + "x,y@example.fi,TRUE\n" * 5000).encode() + "ä".encode() + b"\xff\xfe,z@example.fi,TRUE\n"
    with pytest.raises(CsvFileError, match="not valid UTF-8.*CSV UTF-8"):
        read(data)


@pytest.mark.parametrize("letter", ["ä", "€", "😀"])
def test_first_letter_cut_at_a_read_is_decided_by_its_whole_sequence(letter):
    # the first non-ASCII byte is the last byte of the reader's first 64 KiB read: the bytes after it decide
    head = SIMPLE.encode()
    body = head + ASCII_ROW.encode() * ((65536 - len(head)) // len(ASCII_ROW))
    body += b"z" * (65536 - 1 - len(body))
    utf8 = body + f"{letter},w@example.fi,TRUE\n".encode()
    assert utf8[65535:65536] == letter.encode()[:1]  # cut after its first byte
    reader = open_csv(io.BytesIO(utf8))
    assert list(reader)[-1].cells[col("First Name")].endswith("z" + letter) and reader.encoding == "utf-8-sig"
    if letter != "😀":
        cp1252 = body + f"{letter},w@example.fi,TRUE\n".encode("cp1252")
        reader = open_csv(io.BytesIO(cp1252))
        assert list(reader)[-1].cells[col("First Name")].endswith("z" + letter) and reader.encoding == "cp1252"


@pytest.mark.parametrize("end", [b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98"])
def test_utf8_letter_cut_by_the_end_of_the_file_is_windows_1252(end):
    reader = open_csv(io.BytesIO(SIMPLE.encode() + b"Z" + end))
    assert list(reader)[-1].cells[col("First Name")] == "Z" + end.decode("cp1252") and reader.encoding == "cp1252"


def test_truncated_utf16_is_refused():
    data = codecs.BOM_UTF16_LE + SIMPLE.encode("utf-16-le") + b"A"
    with pytest.raises(CsvFileError, match="UTF-8/UTF-16"):
        read(data)


@pytest.mark.parametrize("data", [
    b"First Name,User ID/Email (Required)\nA\x00nna,a@example.fi\n",
    SIMPLE.encode("utf-16-le"),  # UTF-16 without a BOM is full of NUL bytes as UTF-8
])
def test_nul_bytes_are_refused(data):
    err = file_error(data)
    assert "NUL" in err.message and "CSV UTF-8" in err.message


# --- line ends, delimiters ---------------------------------------------------------------------

@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"], ids=["CRLF", "LF", "CR"])
def test_line_ends(newline):
    assert plain(read(SIMPLE.replace("\n", newline))) == SIMPLE_ROWS


def test_mixed_line_ends():
    text = "First Name,User ID/Email (Required)\r\nA,a@example.fi\rB,b@example.fi\nC,c@example.fi\r\n"
    assert [(r.line, r.cells[EMAIL_COLUMN]) for r in read(text)] == [
        (2, "a@example.fi"), (3, "b@example.fi"), (4, "c@example.fi")]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"], ids=["comma", "semicolon", "tab"])
def test_each_delimiter(delimiter):
    text = SIMPLE.replace(",", delimiter) + f"\"Cé{delimiter}x\"{delimiter}c@example.fi{delimiter}\n"
    reader = open_csv(io.BytesIO(text.encode()))
    assert reader.delimiter == delimiter
    rows = plain(list(reader))
    assert rows[:2] == SIMPLE_ROWS
    assert rows[2] == (4, {"First Name": f"Cé{delimiter}x", EMAIL: "c@example.fi", "Webex Calling": ""})


def test_semicolon_header_with_comma_inside_a_header_name():
    text = "User ID/Email (Required);Call on Webex (1:1 call, non-PSTN);Title\na@example.fi;TRUE;Boss, big\n"
    reader = open_csv(io.BytesIO(text.encode()))
    assert reader.delimiter == ";"
    assert plain(list(reader)) == [(2, {EMAIL: "a@example.fi", "Call on Webex (1:1 call, non-PSTN)": "TRUE",
                                        "Title": "Boss, big"})]


def test_single_column_header_prefers_comma():
    reader = open_csv(io.BytesIO(b"User ID/Email (Required)\na@example.fi\n"))
    assert reader.delimiter == ","
    assert plain(list(reader)) == [(2, {EMAIL: "a@example.fi"})]


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_single_column_header_with_trailing_delimiter_picks_that_delimiter(delimiter):
    reader = open_csv(io.BytesIO(f"User ID/Email (Required){delimiter}\na@example.fi{delimiter}x\n".encode()))
    assert reader.delimiter == delimiter
    assert [(r.cells[EMAIL_COLUMN], r.extra_cells) for r in reader] == [("a@example.fi", 1)]


def test_ambiguous_delimiter_is_refused():
    # Read with commas: First Name, Last Name + junk; with semicolons: Department, Manager + junk.
    text = "First Name,Last Name,Title;Department;Manager;User ID/Email (Required)\nA,B,C;D;E;f@example.fi\n"
    err = file_error(text)
    assert "ambiguous" in err.message and "commas" in err.message and err.line == 1


# --- quoting, blank rows, trimming -------------------------------------------------------------

@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"], ids=["CRLF", "LF", "CR"])
def test_embedded_delimiters_quotes_newlines_keep_line_numbers(newline):
    text = (DATA / "embedded_quotes_newlines.csv").read_text("utf-8")
    if newline != "\n":  # the line ends of the file and those inside the values change together
        text = text.replace("\n", newline)
    rows = plain(read(text))
    assert rows == [
        (2, {"First Name": "Anna, the first", EMAIL: "anna@example.fi", "Title": 'She said "hi"',
             "Department": "Sales"}),
        (3, {"First Name": f"Multi{newline}line{newline}name", EMAIL: "multi@example.fi", "Title": "a,b;c\td",
             "Department": ""}),
        (8, {"First Name": "Last", EMAIL: "last@example.fi", "Title": "ends with newline", "Department": "IT"}),
    ]


def test_embedded_lf_in_a_crlf_file_counts_as_a_line():
    text = 'User ID/Email (Required),Title\r\na@example.fi,"two\nlines"\r\nb@example.fi,x\r\n'
    assert [(r.line, r.cells[col("Title")]) for r in read(text)] == [(2, "two\nlines"), (4, "x")]


def test_blank_rows_anywhere_and_trailing():
    text = ("\n  \n,,\n" "First Name,User ID/Email (Required),Webex Calling\n" "\n" "A,a@example.fi,TRUE\n"
            ",,\n" " , ,  \n" "\t\n" "B,b@example.fi,FALSE\n" "\n\n,,\n\r\n")
    reader = open_csv(io.BytesIO(text.encode()))
    assert reader.header_line == 4
    assert [(r.line, r.cells[EMAIL_COLUMN]) for r in reader] == [(6, "a@example.fi"), (10, "b@example.fi")]


def test_header_only_gives_zero_rows():
    assert read("User ID/Email (Required),First Name\n") == []
    assert read("User ID/Email (Required),First Name") == []
    assert read(codecs.BOM_UTF8 + b"User ID/Email (Required)\r\n\r\n\r\n") == []


@pytest.mark.parametrize("data", [b"", codecs.BOM_UTF8, b"\n\r\n  \n", codecs.BOM_UTF16_LE])
def test_empty_file_is_refused(data):
    err = file_error(data)
    assert "empty" in err.message and EMAIL in err.message


def test_surrounding_spaces_trimmed():
    text = ("  First Name , User ID/Email (Required)\t,Title \n"
            '  Anna  ,  anna@example.fi ,  "  quoted, spaced  "  \n')
    assert plain(read(text)) == [(2, {"First Name": "Anna", EMAIL: "anna@example.fi", "Title": "quoted, spaced"})]


@pytest.mark.parametrize("value", ["TRUE", "true", "True", "tRuE", " TRUE "])
def test_true_any_case(value):
    assert parse_bool(value) is True
    rows = read(f"User ID/Email (Required),Webex Calling,Jabber Calling\na@example.fi,{value},{value.lower()}\n")
    assert rows[0].cells[col("Webex Calling")] == value.strip()  # left as written, parsed by parse_bool


@pytest.mark.parametrize("value", ["FALSE", "false", "False", "fAlSe"])
def test_false_any_case(value):
    assert parse_bool(value) is False


@pytest.mark.parametrize("value", ["yes", "no", "T", "F", "TRUEISH", "x", "2", "kyllä"])
def test_parse_bool_rejects_other_values(value):
    with pytest.raises(ValueError):
        parse_bool(value)


def test_parse_bool_empty_is_none():
    assert parse_bool("") is None and parse_bool("   ") is None


def test_cells_hold_every_header_column_and_only_those():
    rows = read("User ID/Email (Required),Webex Calling,Location\na@example.fi\nb@example.fi,TRUE\n")
    assert [set(c.header for c in r.cells) for r in rows] == [{EMAIL, "Webex Calling", "Location"}] * 2
    assert rows[0].cells[col("Location")] == "" and rows[1].cells[col("Webex Calling")] == "TRUE"


def test_extra_cells_are_kept_and_counted():
    text = ("User ID/Email (Required),First Name\n"
            "a@example.fi,A,unexpected,more\n" "b@example.fi,B,,,\n" "c@example.fi,C,,x,\n")
    rows = read(text)
    assert [(r.cells[EMAIL_COLUMN], r.extra_cells) for r in rows] == [
        ("a@example.fi", 2), ("b@example.fi", 0), ("c@example.fi", 2)]


def test_leading_apostrophe_before_formula_characters_is_stripped():
    text = ("User ID/Email (Required),Phone Number,Title,Department,Manager,Location\n"
            "a@example.fi,'+358401234567,'=SUM(A1),'-5,'@x,'plain\n"
            "b@example.fi,''=x,',''," "'''+1,x'=y\n")
    rows = plain(read(text))
    assert rows[0][1] == {EMAIL: "a@example.fi", "Phone Number": "+358401234567", "Title": "=SUM(A1)",
                          "Department": "-5", "Manager": "@x", "Location": "'plain"}
    assert rows[1][1] == {EMAIL: "b@example.fi", "Phone Number": "'=x", "Title": "'", "Department": "''",
                          "Manager": "''+1", "Location": "x'=y"}


def test_unclosed_quote_is_a_file_error():
    text = 'User ID/Email (Required),Title\na@example.fi,ok\nb@example.fi,"never closed\nc@example.fi,x\n'
    err = file_error(text)
    assert err.line == 3 and "never closed" in err.message


def test_overlong_field_is_a_file_error():
    text = 'User ID/Email (Required),Title\na@example.fi,"' + ("x" * 100 + "\n") * 2000 + '"\n'
    with pytest.raises(CsvFileError, match="Line 2"):
        read(text)


# --- headers -------------------------------------------------------------------------------------

def test_finnish_headers_stored_file():
    reader = open_csv(io.BytesIO((DATA / "finnish_semicolon_crlf_bom.csv").read_bytes()))
    assert reader.delimiter == ";" and reader.encoding == "utf-8-sig"
    rows = list(reader)
    first = {c.header: v for c, v in rows[0].cells.items()}
    assert first == {
        "First Name": "Äijä", "Last Name": "Öhman", EMAIL: "aija.ohman@example.fi", "Extension": "1001",
        "Phone Number": "+358401234567", "Location": "Helsinki", "Jabber Calling": "TRUE",
        "Jabber with Webex Teams": "false", "Preferred Webex Site": "", "Webex Voice": "TRUE",
        "Webex Calling": "FALSE", "Basic Messaging": "true", "Basic Space Meetings": "TRUE",
        "Call on Webex (1:1 call, non-PSTN)": "False"}
    assert (rows[1].line, rows[1].cells[EMAIL_COLUMN], rows[1].cells[col("Location")]) == (
        3, "asa;gronlund@example.fi", "Turku")


def test_subscription_suffix_and_suspended_header():
    text = "User ID/Email (Required),Webex Calling [Sub123],Webex Suite (Suspended)\na@example.fi,TRUE,FALSE\n"
    reader = open_csv(io.BytesIO(text.encode()))
    entries = list(reader.header_map.entries)
    assert [(e.header, e.column.header, e.subscription_id, e.suspended) for e in entries] == [
        (EMAIL, EMAIL, None, False), ("Webex Calling [Sub123]", "Webex Calling", "Sub123", False),
        ("Webex Suite (Suspended)", "Webex Suite", None, True)]
    assert {e.column for e in reader.header_map.entries if e.suspended} == {col("Webex Suite")}
    assert plain(list(reader)) == [(2, {EMAIL: "a@example.fi", "Webex Calling": "TRUE", "Webex Suite": "FALSE"})]


def test_unknown_headers_are_all_named():
    text = "First Name,User ID/Email (Required),Colour,Favourite Food,Last Service Time\nA,a@x.fi,,,\n"
    err = file_error(text)
    for name in ("'Colour'", "'Favourite Food'", "'Last Service Time'"):
        assert name in err.message
    assert "First Name, Last Name" in err.message  # the accepted headers are listed
    assert "'First Name'" not in err.message and err.line == 1


def test_duplicate_header_is_refused():
    err = file_error("User ID/Email (Required),Location,Sijainti\na@example.fi,HQ,HQ\n")
    assert "appears twice" in err.message and "'Location'" in err.message
    err = file_error("User ID/Email (Required),Title,title\na@example.fi,x,y\n")
    assert "appears twice" in err.message


def test_missing_email_header_is_refused():
    err = file_error("First Name,Last Name\nA,B\n")
    assert EMAIL in err.message and "missing" in err.message


def test_empty_header_in_the_middle_is_refused_trailing_ones_ignored():
    err = file_error("User ID/Email (Required),,Title\na@example.fi,x,y\n")
    assert "Column 2 has no header" in err.message
    assert plain(read("User ID/Email (Required),Title,,\na@example.fi,y,,\n")) == [
        (2, {EMAIL: "a@example.fi", "Title": "y"})]


def test_all_header_problems_reported_at_once():
    err = file_error("Colour,Title,Title\nx,y,z\n")
    assert "'Colour'" in err.message and "appears twice" in err.message and "missing" in err.message
    assert len(err.errors) == 3


# --- caps ---------------------------------------------------------------------------------------

def test_max_rows_cap():
    body = "User ID/Email (Required)\n" + "".join(f"u{i}@example.fi\n\n" for i in range(5))
    assert len(read(body, max_rows=5)) == 5  # blank rows are not counted
    assert len(read(body, max_rows=None)) == len(read(body, max_rows=0)) == 5
    reader = open_csv(io.BytesIO(body.encode()), max_rows=4)
    got = []
    with pytest.raises(CsvFileError) as info:
        for row in reader:
            got.append(row)
    assert len(got) == 4
    assert "4" in info.value.message and "RTMHUB_CSV_MAX_ROWS" in info.value.message and info.value.line == 10


def test_reader_is_single_pass():
    reader = open_csv(io.BytesIO(SIMPLE.encode()))
    assert len(list(reader)) == 2
    with pytest.raises(RuntimeError):
        iter(reader)


# --- streams ---------------------------------------------------------------------------------------

class GeneratorStream(io.RawIOBase):
    """A binary stream fed by a generator of byte chunks (nothing is held but the current chunk)."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def test_trickle_stream_one_byte_at_a_time_keeps_crlf_and_lines():
    text = codecs.BOM_UTF8 + ('User ID/Email (Required),Title\r\n' + 'a@example.fi,"x\r\ny"\r\n' * 50 +
                              'b@example.fi,ä\r').encode()
    rows = list(open_csv(GeneratorStream(bytes([b]) for b in text)))
    assert [r.line for r in rows] == [2 + 2 * i for i in range(50)] + [102]
    assert {r.cells[col("Title")] for r in rows} == {"x\r\ny", "ä"}


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252"])
def test_memory_is_flat_in_the_row_count(encoding):
    # Windows-1252: its first half ASCII, so the first letter decides far in and the rest is transcoded
    rows_total = 50_000  # a 2 MB file: a reader holding it, or half of it, goes over the bound below
    codec = "utf-8" if encoding == "utf-8-sig" else encoding

    def chunks():
        yield (codecs.BOM_UTF8 if codec == "utf-8" else b"") + b"User ID/Email (Required),First Name,Webex Calling\r\n"
        for start in range(0, rows_total, 1000):
            name = "Aino" if encoding == "cp1252" and start < rows_total // 2 else "Äijä"
            yield "".join(f"user{i}@example.fi,{name} {i},TRUE\r\n" for i in range(start, start + 1000)).encode(codec)

    tracemalloc.start()
    try:
        count = last = 0
        reader = open_csv(GeneratorStream(chunks()))
        for row in reader:
            count += 1
            last = row.line
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (count, last) == (rows_total, rows_total + 1)
    assert peak < 1024 * 1024, f"peak {peak / 1e6:.1f} MB"  # measured: 0.3 MB at 50,000 rows and at 200,000
    assert reader.encoding == encoding and row.cells[col("First Name")] == f"Äijä {rows_total - 1}"
    assert row.cells[EMAIL_COLUMN] == f"user{rows_total - 1}@example.fi"


# --- writer ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, out", [
    ("=SUM(A1)", "'=SUM(A1)"), ("+358401234567", "'+358401234567"), ("-5", "'-5"), ("@x", "'@x"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("plain", "plain"), ("", ""), ("'", "'"), ("'abc", "'abc"),
    ("'=x", "''=x"), ("a=b", "a=b"), ("Äijä", "Äijä"),
])
def test_neutralise(value, out):
    assert neutralise(value) == out


def test_write_csv_format():
    data = b"".join(write_csv([["a@example.fi", "+358401234567", 'say "hi", ok'], ["b", None, "x\ny"]],
                              [EMAIL, "Phone Number", "Title"]))
    assert data.startswith(codecs.BOM_UTF8)
    assert data[3:].decode() == ('User ID/Email (Required),Phone Number,Title\r\n'
                                 'a@example.fi,\'+358401234567,"say ""hi"", ok"\r\n'
                                 'b,,"x\ny"\r\n')


def test_write_csv_streams_in_chunks_with_one_bom():
    chunks = list(write_csv(([f"u{i}@example.fi", "x" * 50] for i in range(10_000)), [EMAIL, "Title"]))
    assert len(chunks) > 5 and all(len(c) < 200_000 for c in chunks)
    assert chunks[0].startswith(codecs.BOM_UTF8) and not any(c.startswith(codecs.BOM_UTF8) for c in chunks[1:])
    assert len(read(b"".join(chunks))) == 10_000


def test_template_is_a_header_only_file():
    data = b"".join(write_csv(iter(()), template_headers()))
    reader = open_csv(io.BytesIO(data))
    assert [e.column.header for e in reader.header_map] == template_headers() and list(reader) == []


def test_round_trip_writer_to_reader_keeps_values_exactly():
    headers = [c.header for c in COLUMNS]
    values = {"First Name": "Äijä", "Last Name": "Öhman-Åberg", "Display Name": "Äijä \"Ä\" Öhman",
              EMAIL: "aija@example.fi", "Extension": "-5", "Phone Number": "+358401234567",
              "Caller ID Number": "+358 40 123 4567", "Title": "=SUM(A1)", "Department": "@x",
              "Manager": "line one\nline two\r\nline three", "Location": "Helsinki, HQ; 2", "Time zone": "'=x",
              "Preferred Webex Site": "'plain", "Webex Calling": "TRUE", "Webex Suite": "FALSE"}
    row = [values.get(h, "") for h in headers]
    second = ["", "", "", "b@example.fi"] + ["-"] * (len(headers) - 4)
    data = b"".join(write_csv([row, second], headers))
    rows = read(data)
    assert [r.line for r in rows] == [2, 5]
    assert {c.header: v for c, v in rows[0].cells.items()} == {h: values.get(h, "") for h in headers}
    assert [rows[1].cells[c] for c in COLUMNS] == second


def test_export_reimports_byte_for_byte_after_rewriting():
    headers = [c.header for c in COLUMNS]
    rows = [[f"Ä{i}", "Ö", "", f"u{i}@example.fi", "Active", "", "", str(1000 + i), f"+35840{i:07d}", "", "", "",
             "HQ", "=1+1", "", "", "fi_FI", "Europe/Helsinki", "TRUE", "FALSE", "x.webex.com"]
            + ["FALSE"] * 9 for i in range(20)]
    first = b"".join(write_csv(rows, headers))
    again = b"".join(write_csv(([r.cells[c] for c in COLUMNS] for r in read(first)), headers))
    assert again == first


# --- properties -----------------------------------------------------------------------------------

KNOWN_HEADERS = [h for c in COLUMNS for h in (c.header, *c.aliases)]
HEADER_CHOICES = st.one_of(
    st.sampled_from(KNOWN_HEADERS),
    st.sampled_from([c.header for c in COLUMNS]),
    st.sampled_from([c.header for c in COLUMNS if c.kind in ("package", "base")]).flatmap(
        lambda h: st.sampled_from([f"{h} [Sub1]", f"{h} (Suspended)", f"{h} (Suspended) [S 2]"])),
    st.sampled_from(["Colour", "Last Service Accessed Time", "", " ", "Email", "a;b", "x,y", '"q"']),
    st.text(max_size=12),
)
CELL = st.one_of(st.sampled_from(["TRUE", "false", "", " ", "'+358401234567", "=1", "a,b", "a;b", 'q"q', "x\ny",
                                  "\r", "\t", "ä ö å", "'"]),
                 st.text(max_size=15))


def assert_well_formed(rows: list[CsvRow], reader) -> None:
    previous = 0
    allowed = {e.column for e in reader.header_map.entries}
    for row in rows:
        assert isinstance(row, CsvRow) and isinstance(row.line, int) and row.line > previous
        previous = row.line
        assert set(row.cells) == allowed and row.extra_cells >= 0
        for column, value in row.cells.items():
            assert isinstance(column, Column) and isinstance(value, str) and value == value.strip()


def consume(data: bytes, max_rows: int | None = None) -> None:
    try:
        reader = open_csv(io.BytesIO(data), max_rows=max_rows)
        rows = list(reader)
    except CsvFileError as exc:
        assert exc.message and isinstance(exc.message, str)
        return
    assert_well_formed(rows, reader)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from([b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE,
                               b"User ID/Email (Required),Title\n", b"User ID/Email (Required);Webex Calling\r"]),
       data=st.binary(max_size=600), max_rows=st.sampled_from([None, 0, 1, 3]))
def test_random_bytes_give_rows_or_a_file_error(prefix, data, max_rows):
    consume(prefix + data, max_rows)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(headers=st.lists(HEADER_CHOICES, min_size=0, max_size=6),
       with_email=st.booleans(),
       rows=st.lists(st.lists(CELL, max_size=8), max_size=6),
       delimiter=st.sampled_from([",", ";", "\t", "|"]),
       quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, "raw"]),
       newline=st.sampled_from(["\r\n", "\n", "\r"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le-bom", "utf-16-be-bom", "cp1252"]),
       blank_lines=st.integers(0, 2))
def test_random_csv_shapes_give_rows_or_a_file_error(headers, with_email, rows, delimiter, quoting, newline,
                                                     encoding, blank_lines):
    if with_email:
        headers = [EMAIL, *headers]
    consume(written_file(headers, rows, delimiter, quoting, newline, encoding, blank_lines, lenient=True))


def written_file(headers, rows, delimiter, quoting, newline, encoding, blank_lines, *, lenient=False) -> bytes:
    """The bytes of a CSV file as a spreadsheet program or a script writes it (``quoting="raw"``: cells joined
    as they are); ``blank_lines`` empty lines after each row. ``lenient``: characters the encoding cannot hold
    are replaced (cp1252) or kept as surrogates, as a careless writer would."""
    buffer = io.StringIO()
    if quoting == "raw":
        for line in [headers, *rows]:
            buffer.write(delimiter.join(line) + newline)
    else:
        writer = csv.writer(buffer, delimiter=delimiter, quoting=quoting, lineterminator=newline)
        writer.writerow(headers)
        for row in rows:
            writer.writerow(row)
            buffer.write(newline * blank_lines)
    text = buffer.getvalue()
    errors = ("replace" if encoding == "cp1252" else "surrogatepass") if lenient else "strict"
    if encoding == "utf-16-le-bom":
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le", errors)
    if encoding == "utf-16-be-bom":
        return codecs.BOM_UTF16_BE + text.encode("utf-16-be", errors)
    return text.encode(encoding, errors)


# Cell pieces: ASCII letters, UTF-8 letters, and single bytes 0x80-0xFF (Windows-1252 letters and its five
# undefined bytes, and bytes that start or continue UTF-8 sequences).
PIECE = st.one_of(st.sampled_from([b"a", b"Z", b"x y"]), st.sampled_from("äöåÄÖÅß€–…").map(str.encode),
                  st.integers(0x80, 0xFF).map(lambda b: bytes([b])))


def expected_encoding(data: bytes) -> str:
    """The rule, as decision 41 states it: without a BOM, the first non-ASCII byte decides; UTF-8 when the
    bytes from it on start with a whole, valid UTF-8 character (a lead byte and its 1-3 continuation bytes),
    else Windows-1252. A file without non-ASCII bytes is UTF-8."""
    first = next((i for i, b in enumerate(data) if b >= 0x80), None)
    if first is None:
        return "utf-8"
    for length in (2, 3, 4):
        try:
            data[first:first + length].decode("utf-8")
        except UnicodeDecodeError:
            continue
        if len(data[first:first + length]) == length:
            return "utf-8"
    return "cp1252"


class Trickle(io.BytesIO):
    """A stream that hands out at most ``step`` bytes a read, as a socket or a slow disk may."""

    def __init__(self, data: bytes, step: int):
        super().__init__(data)
        self.step = step

    def read(self, size: int | None = -1) -> bytes:
        return super().read(self.step if size is None or size < 0 else min(size, self.step))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells=st.lists(st.lists(PIECE, max_size=6).map(b"".join), min_size=1, max_size=12),
       step=st.integers(1, 120))
def test_encoding_is_chosen_by_the_first_non_ascii_byte_exactly(cells, step):
    data = b"User ID/Email (Required),First Name\n" + b"".join(
        b"u%d@example.fi,%s\n" % (n, cell) for n, cell in enumerate(cells))
    encoding = expected_encoding(data)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        text = None
    try:  # reads of any size, so the deciding byte falls at every place of a read, and at the file's end
        reader = open_csv(Trickle(data, step))
        rows = [r.cells[col("First Name")] for r in reader]
    except CsvFileError as exc:
        assert text is None, (encoding, exc.message)  # refused only when the chosen encoding cannot read it
        what = "not Windows-1252 (Western European) text either" if encoding == "cp1252" else "not valid UTF-8"
        assert what in exc.message and "CSV UTF-8" in exc.message
        return
    assert text is not None, f"read although it is not {encoding}"
    assert reader.encoding == ("cp1252" if encoding == "cp1252" else "utf-8-sig")
    assert rows == [line.split(",", 1)[1].strip() for line in text.split("\n")[1:-1]]


SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20).map(
    str.strip)


@settings(max_examples=200, deadline=None)
@given(columns=st.lists(st.sampled_from(COLUMNS), unique=True, max_size=6),
       values=st.lists(st.lists(SAFE_TEXT, min_size=7, max_size=7), max_size=5))
def test_round_trip_property(columns, values):
    columns = [EMAIL_COLUMN, *[c for c in columns if c is not EMAIL_COLUMN]]
    rows = [v[:len(columns)] for v in values]
    data = b"".join(write_csv(rows, [c.header for c in columns]))
    expected = [r for r in rows if any(r)]
    got = read(data)
    assert [[row.cells[c] for c in columns] for row in got] == expected


# A valid file, generated: every fuzz test above would also pass with a reader that refuses every file, so this
# one holds the reader to the rows that were written, whatever the encoding, delimiter, quoting and line ends.
PLAIN_CELL = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
                                   blacklist_characters=",;\t|\"'=+-@\u0085"), max_size=12).map(str.strip)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(columns=st.lists(st.sampled_from([c for c in COLUMNS if c is not EMAIL_COLUMN]), unique=True, max_size=5),
       values=st.lists(st.lists(PLAIN_CELL, min_size=6, max_size=6), max_size=6),
       delimiter=st.sampled_from([",", ";", "\t"]),
       quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
       newline=st.sampled_from(["\r\n", "\n", "\r"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le-bom", "utf-16-be-bom"]),
       blank_lines=st.integers(0, 2))
def test_valid_generated_file_parses_to_the_rows_written(columns, values, delimiter, quoting, newline, encoding,
                                                        blank_lines):
    headers = [EMAIL, *(c.header for c in columns)]
    rows = [v[:len(headers)] for v in values]
    data = written_file(headers, rows, delimiter, quoting, newline, encoding, blank_lines)
    reader = open_csv(io.BytesIO(data))
    got = list(reader)
    assert_well_formed(got, reader)
    expected = [r for r in rows if any(r)]
    assert [[row.cells[find_column(h)] for h in headers] for row in got] == expected
    # Line numbers count every line written: the header, the rows and the blank lines after each row.
    lines, line = [], 2
    for row in rows:
        if any(row):
            lines.append(line)
        line += 1 + blank_lines
    assert [row.line for row in got] == lines
