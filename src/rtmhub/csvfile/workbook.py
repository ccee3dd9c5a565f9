"""Excel workbooks (.xlsx) in and out, with openpyxl (decision 43).

In: ``workbook_to_csv`` reads one sheet in openpyxl's read-only (streaming) mode and writes it as the
CSV our reader reads (UTF-8, comma, each cell through ``writer.neutralise``, so the reader's
``unneutralise`` gives back exactly the cell's text). Sheet row N starts on physical line N of that
CSV (empty sheet rows become empty lines, which the reader skips), so row numbers in messages are the
sheet's. The planner therefore sees the rows a CSV of the same cells gives. Typed cells are read as
the person meant: a boolean as TRUE/FALSE, an integer-valued number as its digits (``2001``, never
``2001.0``; a number formatted ``0000`` keeps its leading zeros), a date as ``YYYY-MM-DD``.
Refused, with what to do: a file that is no workbook (CSV text named .xlsx, another zip archive, an
old .xls), a workbook with macros, a formula cell, several sheets that each hold a user list (name one
with ``--sheet``), a sheet name that does not exist.

Out: ``export_xlsx`` writes the export in write-only mode; every text column is a text cell formatted
as Text (``@``), so ``+358…`` numbers keep their ``+`` when the workbook is opened and saved again;
TRUE/FALSE columns are boolean cells. It imports back unchanged.
"""
from __future__ import annotations

import codecs
import csv
import io
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time
from typing import IO, Any, BinaryIO

from rtmhub.csvfile.columns import COLUMNS, known_column_count
from rtmhub.csvfile.errors import CsvFileError
from rtmhub.csvfile.writer import neutralise
from rtmhub.errors import PayloadTooLarge

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xltx", ".xltm")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SAVE_AS = "save it as 'Excel Workbook (.xlsx)' or as 'CSV UTF-8 (comma delimited)'"
_SPOOL = 8 * 1_048_576  # in memory up to this size, then a temporary file
_HEADER_SCAN = 20  # rows looked at for a sheet's header line


def is_workbook_name(name: str | None) -> bool:
    return (name or "").lower().endswith(WORKBOOK_SUFFIXES)


def _copy_seekable(stream: BinaryIO) -> IO[bytes]:
    out = tempfile.SpooledTemporaryFile(max_size=_SPOOL)
    while data := stream.read(1 << 16):
        out.write(data)
    out.seek(0)
    return out


def _refuse_non_workbook(head: bytes, name: str) -> CsvFileError:
    if head.startswith(bytes.fromhex("D0CF11E0")):
        return CsvFileError(f"'{name}' is an old-format (.xls) or password-protected Excel workbook, which cannot be "
                            f"read; remove the password if it has one, and {SAVE_AS}.")
    if not head.strip():
        return CsvFileError(f"'{name}' is empty; {SAVE_AS}.")
    return CsvFileError(f"'{name}' is not an Excel workbook: its content is not what the name .xlsx says (it looks "
                        f"like {'a zip archive' if head.startswith(b'PK') else 'text, such as a CSV file'}). "
                        "Upload a CSV file with a .csv name, or save the file from your spreadsheet program as "
                        "'Excel Workbook (.xlsx)'.")


def _cell_text(value: Any, number_format: str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return _padded(str(value), number_format)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e17:
            return _padded(str(int(value)), number_format)
        return repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value).replace("\r\n", "\n").replace("\r", "\n")


def _padded(digits: str, number_format: str | None) -> str:
    """A number shown with leading zeros (custom format ``0000``) keeps them, as the person sees it."""
    fmt = number_format or ""
    if len(fmt) > 1 and set(fmt) == {"0"} and digits.isdigit():
        return digits.zfill(len(fmt))
    return digits


def _header_of(rows: Iterable[tuple[Any, ...]]) -> list[str]:
    for n, row in enumerate(rows):
        texts = [_cell_text(v, None).strip() for v in row]
        if any(texts):
            return texts
        if n >= _HEADER_SCAN:
            break
    return []


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)


def workbook_to_csv(stream: BinaryIO, *, name: str = "users.xlsx", sheet: str | None = None,
                    max_rows: int | None = None, max_bytes: int | None = None) -> IO[bytes]:
    """The chosen sheet of the workbook ``stream`` as CSV bytes our reader reads (a seekable file at its
    start). Raises CsvFileError saying what to fix (PayloadTooLarge past ``max_bytes`` of CSV, the quota a
    stored file counts against: a small workbook can unpack to a huge sheet)."""
    from openpyxl import load_workbook

    source = _copy_seekable(stream)
    head = source.read(8)
    source.seek(0)
    if not zipfile.is_zipfile(source):
        raise _refuse_non_workbook(head, name)
    source.seek(0)
    try:
        with zipfile.ZipFile(source) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise _refuse_non_workbook(head, name) from None
    if "xl/workbook.xml" not in names:
        raise CsvFileError(f"'{name}' is a zip archive but not an Excel workbook (.xlsx). {SAVE_AS[0].upper()}"
                           f"{SAVE_AS[1:]} in your spreadsheet program and upload that.")
    if "xl/vbaProject.bin" in names or name.lower().endswith((".xlsm", ".xltm")):
        raise CsvFileError(f"'{name}' is a workbook with macros, which rtmhub does not open. Save it as 'Excel "
                           "Workbook (.xlsx)' (without macros) or as 'CSV UTF-8 (comma delimited)' and upload that.")
    source.seek(0)
    try:
        book = load_workbook(source, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many kinds for a damaged or foreign file
        raise CsvFileError(f"'{name}' cannot be read as an Excel workbook ({type(exc).__name__}); open it in your "
                           f"spreadsheet program and {SAVE_AS}.") from None
    try:
        return _sheet_to_csv(book, name, sheet, max_rows, max_bytes)
    except (CsvFileError, PayloadTooLarge):
        raise
    except Exception as exc:  # a damaged sheet part: still a clear refusal, never a crash
        raise CsvFileError(f"'{name}' cannot be read as an Excel workbook ({type(exc).__name__}); open it in your "
                           f"spreadsheet program and {SAVE_AS}.") from None
    finally:
        book.close()


def _sheet_to_csv(book: Any, name: str, sheet: str | None, max_rows: int | None,
                  max_bytes: int | None) -> IO[bytes]:
    sheets = [ws for ws in book.worksheets if getattr(ws, "sheet_state", "visible") == "visible"]
    if sheet is not None:
        chosen = next((ws for ws in book.worksheets if ws.title == sheet), None)
        if chosen is None:
            raise CsvFileError(f"The workbook has no sheet '{sheet}'; its sheets are: "
                               + ", ".join(f"'{ws.title}'" for ws in book.worksheets) + ".")
    else:
        if not sheets:
            raise CsvFileError(f"'{name}' has no visible worksheet to read; {SAVE_AS}.")
        candidates = [ws for ws in sheets if known_column_count(_header_of(ws.iter_rows(values_only=True)))[0] > 0]
        if len(candidates) > 1:
            raise CsvFileError("The workbook has more than one sheet with user columns ("
                               + ", ".join(f"'{ws.title}'" for ws in candidates)
                               + "); name the sheet to import (the option --sheet, or the field 'Sheet'), or "
                                 "delete the other sheets.")
        chosen = candidates[0] if candidates else sheets[0]
    chosen.reset_dimensions()  # some writers record a wrong size: read what is there
    out = tempfile.SpooledTemporaryFile(max_size=_SPOOL)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
    text.write(codecs.BOM_UTF8.decode("utf-8"))
    writer = csv.writer(text, lineterminator="\r\n")
    line = 1  # the physical line the next CSV row starts on
    data_rows = 0
    header_seen = False
    for row in chosen.iter_rows():
        number = next((c.row for c in row if getattr(c, "row", None)), None)
        if number is None:
            continue  # an empty row: the padding below keeps the numbering
        values: list[str] = []
        for c in row:
            kind = getattr(c, "data_type", None)
            value = getattr(c, "value", None)
            if kind == "f" or (isinstance(value, str) and kind != "s" and value.startswith("=")):
                where = f"{_column_letter(c.column)}{c.row}"
                raise CsvFileError(f"Cell {where} of the sheet '{chosen.title}' holds a formula ({str(value)[:40]}); "
                                   "rtmhub reads values, not formulas. Copy the cells and paste them as values "
                                   "(Paste Special > Values), then save and upload the workbook again.", line=c.row)
            values.append(neutralise(_cell_text(value, getattr(c, "number_format", None))))
        while values and values[-1] == "":
            values.pop()
        if not values:
            continue
        if header_seen:
            data_rows += 1
            if max_rows is not None and data_rows > max_rows:
                raise CsvFileError(f"The file has more than {max_rows:,} rows, the limit set on this server. Split "
                                   "it into smaller files, or raise the limit with the setting "
                                   "RTMHUB_CSV_MAX_ROWS (0 = no limit).", line=number)
        header_seen = True
        if number > line:
            text.write("\r\n" * (number - line))
            line = number
        writer.writerow(values)
        line += 1 + sum(v.count("\n") for v in values)
        if max_bytes is not None and data_rows % 1000 == 0 and out.tell() > max_bytes:
            raise PayloadTooLarge(f"The sheet '{chosen.title}' is larger than {max_bytes} bytes as CSV, more than "
                                  "this organisation may store; split it into smaller workbooks.")
    text.flush()
    text.detach()
    out.seek(0)
    return out


# --- out ----------------------------------------------------------------------------------------

def export_xlsx(rows: Iterable[list[str]], headers: list[str]) -> Iterator[bytes]:
    """The export (``export.export_row`` rows) as a workbook: text columns as text cells formatted Text,
    TRUE/FALSE columns as boolean cells. Written in write-only mode to a temporary file, then streamed."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    ws = book.create_sheet("Users")
    flags = [c.kind in ("bool", "base", "package") for c in COLUMNS]

    def text_cell(value: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(ws, value=None)
        cell.number_format = "@"
        if value != "":
            cell.value = value
            cell.data_type = "s"  # never a formula, whatever the text starts with
        return cell

    ws.append([text_cell(h) for h in headers])
    for row in rows:
        cells: list[Any] = []
        for value, flag in zip(row, flags, strict=False):
            if flag and value in ("TRUE", "FALSE"):
                cells.append(value == "TRUE")
            else:
                cells.append(text_cell(value))
        ws.append(cells)
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL) as out:
        book.save(out)
        out.seek(0)
        while data := out.read(1 << 16):
            yield data


__all__ = ["WORKBOOK_SUFFIXES", "XLSX_TYPE", "export_xlsx", "is_workbook_name", "workbook_to_csv"]
