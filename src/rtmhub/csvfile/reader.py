"""Reading user CSV files as people really make them, streamed.

- Encoding: UTF-8 with or without BOM; UTF-16 LE/BE with BOM; without a BOM, the first non-ASCII
  byte decides: when it starts a valid UTF-8 sequence the file is UTF-8, else it is Windows-1252, the
  code page of Excel's plain "CSV" in Western European locales (``encoding == "cp1252"``; the runner
  notes it on the task). ASCII reads the same in both, so nothing before that byte was read wrong, and
  the file is read once. A file that starts as valid UTF-8 and has invalid bytes later, and the five
  bytes Windows-1252 leaves undefined, are refused with a message that says to save the file as
  "CSV UTF-8".
- Line ends: CRLF, LF or CR (mixed too). Quoted fields may hold delimiters, quotes and line
  breaks; ``CsvRow.line`` is still the physical line the row starts on (header = line 1 unless
  blank lines precede it).
- Delimiter: ``,`` ``;`` or TAB, sniffed from the header line: the candidate whose header cells
  all name known columns wins; when several do (a one-column header) ``,`` is preferred; when two
  candidates each find more than one known column the file is refused as ambiguous.
- Cells are trimmed; blank rows are skipped anywhere; a leading apostrophe before ``= + - @``
  (our export's formula neutralisation, see ``writer``) is removed.
- Memory is flat in the row count: the file is decoded incrementally and rows are yielded one by
  one; nothing holds the whole file.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import BinaryIO

from rtmhub.csvfile.columns import Column, HeaderMap, known_column_count, resolve_headers
from rtmhub.csvfile.errors import CsvFileError

DELIMITERS: tuple[str, ...] = (",", ";", "\t")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
MAX_LINE_CHARS = 1_000_000  # one physical line; a longer one is not a CSV a person made
MAX_HEADER_LINES = 20  # a header with an unclosed quote must not swallow the file
_FORMULA_START = frozenset("=+-@")
SAVE_AS_UTF8 = "save it as 'CSV UTF-8 (comma delimited)' from your spreadsheet program"
CP1252 = "cp1252"


@dataclass
class CsvRow:
    line: int  # physical line where the row starts (the header is line 1)
    cells: dict[Column, str]  # every column of the header map; trimmed; absent/empty cells -> ""
    extra_cells: int = 0  # cells after the last header column (trailing empty ones not counted)


# The spellings nearly every cell has, answered without normalising (a file has ten or more flags a row).
LITERAL_BOOLS: dict[str, bool | None] = {"TRUE": True, "FALSE": False, "true": True, "false": False,
                                         "True": True, "False": False, "": None}
# The words spreadsheet programs write for TRUE/FALSE in the locales our users work in (Excel and LibreOffice
# alike), and 1/0; compared case-folded. Decision 41: read as TRUE/FALSE, and the row says how it was read.
LOCALE_BOOLS: dict[str, bool] = {
    "tosi": True, "epätosi": False,  # Finnish
    "sant": True, "falskt": False,  # Swedish
    "wahr": True, "falsch": False,  # German
    "1": True, "0": False,
}


def parse_bool(value: str) -> bool | None:
    """TRUE/FALSE in any case -> bool; the locale words of ``LOCALE_BOOLS`` and 1/0 too; empty -> None;
    anything else -> ValueError."""
    if value in LITERAL_BOOLS:
        return LITERAL_BOOLS[value]
    text = value.strip().casefold()
    if text == "":
        return None
    if text == "true":
        return True
    if text == "false":
        return False
    flag = LOCALE_BOOLS.get(text)
    if flag is not None:
        return flag
    raise ValueError(f"expected TRUE or FALSE, got {value!r}")


def is_literal_bool(value: str) -> bool:
    """True when ``value`` is TRUE/FALSE (any case) or empty: read without a word on how it was read."""
    return value in LITERAL_BOOLS or value.strip().casefold() in ("", "true", "false")


def unneutralise(value: str) -> str:
    """Undo ``writer.neutralise``: drop one leading apostrophe that guards a formula start."""
    if value[:1] == "'":
        rest = value.lstrip("'")
        if rest[:1] in _FORMULA_START:
            return value[1:]
    return value


def _read_prefix(stream: BinaryIO, size: int) -> bytes:
    out = b""
    while len(out) < size:
        data = stream.read(size - len(out))
        if not data:
            break
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("open_csv needs a binary stream (open the file with 'rb')")
        out += bytes(data)
    return out


_UNDECIDED = "undecided"
_NON_ASCII = re.compile(rb"[\x80-\xff]")


def _starts_utf8(sequence: bytes) -> bool:
    """True when ``sequence`` (a non-ASCII byte and the up to 3 bytes after it) starts with one whole, valid
    UTF-8 character."""
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(sequence[:4], final=False) != ""
    except UnicodeDecodeError as exc:
        return exc.start > 0  # the first character is whole; what follows it is judged when it is read


class _DecidingRaw(io.RawIOBase):
    """The caller's binary stream, served to the text layer as the bytes of ``text_encoding``.

    A file with a BOM passes through (``encoding`` is the BOM's). Without one, bytes pass through while they
    are ASCII, which reads the same in UTF-8 and Windows-1252; the first non-ASCII byte decides (decision 41):
    when it starts a valid UTF-8 sequence the file is UTF-8 and passes through from then on, else it is
    Windows-1252 from that byte on and is transcoded to UTF-8 here. The five bytes Windows-1252 leaves
    undefined come out as themselves, which no UTF-8 text has at that place, so the text layer's decoder stops
    at the first of them and ``exc.object[exc.start]`` is that byte. Memory: one read's bytes (three times that
    transcoded), and up to 3 bytes read ahead at the deciding byte."""

    def __init__(self, prefix: bytes, stream: BinaryIO, encoding: str):
        self._pending = prefix  # read from the stream, not served yet
        self._out = b""  # transcoded, not served yet
        self._stream = stream
        self.encoding = encoding  # _UNDECIDED until the first non-ASCII byte of a file without a BOM

    @property
    def text_encoding(self) -> str:
        return self.encoding if self.encoding in ("utf-8-sig", "utf-16") else "utf-8"

    def readable(self) -> bool:
        return True

    def _read(self, size: int) -> bytes:
        """Up to ``size`` bytes: the pending ones, and the rest from one read of the stream."""
        pending, self._pending = self._pending[:size], self._pending[size:]
        if len(pending) == size:
            return pending
        data = self._stream.read(size - len(pending))
        if data and not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("open_csv needs a binary stream (open the file with 'rb')")
        return pending + bytes(data) if data else pending

    def _decide(self, data: bytes) -> bytes:
        """Serve ASCII as it is; at the first non-ASCII byte choose the encoding (reading up to 3 bytes
        ahead when ``data`` ends sooner; at the end of the file what there is decides)."""
        found = None if data.isascii() else _NON_ASCII.search(data)
        if found is None:
            return data
        at = found.start()
        if len(data) - at < 4:
            data += self._pending + _read_prefix(self._stream, max(0, 4 - (len(data) - at) - len(self._pending)))
            self._pending = b""
        self.encoding = "utf-8-sig" if _starts_utf8(data[at:at + 4]) else CP1252
        if self.encoding == CP1252:
            return data[:at] + _cp1252_to_utf8(data[at:])
        return data

    def readinto(self, buffer) -> int:  # type: ignore[override]
        size = len(buffer)
        if not self._out:
            data = self._read(size)
            if not data:
                return 0
            if self.encoding == _UNDECIDED:
                self._out = self._decide(data)
            elif self.encoding == CP1252:
                self._out = _cp1252_to_utf8(data)
            else:
                self._out = data
        n = min(size, len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n


def _cp1252_to_utf8(data: bytes) -> bytes:
    # the undefined bytes (0x81 0x8D 0x8F 0x90 0x9D) stay as they are: invalid UTF-8, refused by the text layer
    return data.decode(CP1252, "surrogateescape").encode("utf-8", "surrogateescape")


_ZIP = b"PK\x03\x04"
_OLE = bytes.fromhex("D0CF11E0")
_SEP_HINT = re.compile(r'^"?sep=(\\t|.)"?[,;\t]*$', re.IGNORECASE)


def _not_text(prefix: bytes) -> CsvFileError | None:
    """A workbook (or other zip archive) or an old binary Excel file given as CSV: refused by what it is."""
    if prefix.startswith(_ZIP):
        return CsvFileError("The file is an Excel workbook (or another zip archive), not CSV text. Upload a workbook "
                            "with its .xlsx name, or " + SAVE_AS_UTF8 + ".", line=1)
    if prefix.startswith(_OLE):
        return CsvFileError("The file is an old-format (.xls) or password-protected Excel workbook, which cannot be "
                            "read; remove the password if it has one, and save it as an Excel workbook (.xlsx) or "
                            + SAVE_AS_UTF8 + ".", line=1)
    return None


def _bom_encoding(prefix: bytes) -> str:
    """The encoding a file's BOM names; ``_UNDECIDED`` without one."""
    if prefix.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if prefix.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # the codec reads the BOM and picks the byte order
    return _UNDECIDED


def _decode_error(exc: UnicodeDecodeError, encoding: str) -> CsvFileError:
    bad = exc.object[exc.start:exc.start + 1].hex().upper() if isinstance(exc.object, (bytes, bytearray)) else ""
    if encoding == CP1252:
        return CsvFileError(f"The file is not UTF-8 text, and it is not Windows-1252 (Western European) text either: "
                            f"byte 0x{bad} is not a character in that code page, so the file is in another code page "
                            f"or is not text; {SAVE_AS_UTF8}.")
    what = "UTF-16" if encoding == "utf-16" else "UTF-8"
    hint = f" (byte 0x{bad}; letters like ä, ö, å saved in a Windows or Mac code page look like this)" \
        if bad and what == "UTF-8" else ""
    return CsvFileError(f"The file is not UTF-8/UTF-16 text: it is not valid {what}{hint}; {SAVE_AS_UTF8}.")


def _hinted_delimiter(named: str, line: int) -> str:
    delimiter = "\t" if named == "\\t" else named
    if delimiter not in DELIMITERS:
        raise CsvFileError(f"Line {line}: the line 'sep={named}' names the delimiter '{named}', which is not accepted; "
                           "use a comma, a semicolon or a tab (or delete the line and save the file as 'CSV UTF-8 "
                           "(comma delimited)').", line=line)
    return delimiter


class CsvReader:
    """An opened CSV file: ``header_map`` at once, rows lazily by iterating (single pass)."""

    header_map: HeaderMap
    delimiter: str
    header_line: int
    hinted: bool  # the delimiter was named by a "sep=" line before the header
    rows_read: int

    def __init__(self, stream: BinaryIO, max_rows: int | None = None):
        if isinstance(stream, (bytes, bytearray)):
            stream = io.BytesIO(stream)
        prefix = _read_prefix(stream, 4)
        refused = _not_text(prefix)
        if refused is not None:
            raise refused
        self._raw = raw = _DecidingRaw(prefix, stream, _bom_encoding(prefix))
        self._text = io.TextIOWrapper(io.BufferedReader(raw, 65536), encoding=raw.text_encoding, errors="strict",
                                      newline="")
        self._max_rows = max_rows if max_rows and max_rows > 0 else None
        self._line_no = 0
        self._eof = False
        self.rows_read = 0
        self._lines = self._physical_lines()
        self._read_header()
        self._started = False

    @property
    def encoding(self) -> str:
        """``utf-8-sig`` (UTF-8, with or without a BOM), ``utf-16`` or ``cp1252``: as far as the file has been
        read, since the first non-ASCII byte decides (a file read so far only in ASCII is UTF-8)."""
        encoding = self._raw.encoding
        return "utf-8-sig" if encoding == _UNDECIDED else encoding

    # --- physical lines -------------------------------------------------------------------
    def _physical_lines(self) -> Iterator[str]:
        text = self._text
        while True:
            try:
                line = text.readline(MAX_LINE_CHARS)
            except UnicodeDecodeError as exc:
                raise _decode_error(exc, self.encoding) from None
            if not line:
                self._eof = True
                return
            self._line_no += 1
            if len(line) >= MAX_LINE_CHARS:
                raise CsvFileError(f"Line {self._line_no} is longer than {MAX_LINE_CHARS:,} characters; this is "
                                   f"not a user CSV file (or its line ends are lost). Check the file and "
                                   f"{SAVE_AS_UTF8}.", line=self._line_no)
            if "\x00" in line:
                raise CsvFileError(f"Line {self._line_no} contains NUL bytes, so the file is not plain text (or is "
                                   f"UTF-16/UTF-32 without a byte order mark); {SAVE_AS_UTF8}.", line=self._line_no)
            yield line

    # --- header and delimiter -------------------------------------------------------------
    def _read_header(self) -> None:
        lines: list[str] = []
        hint: str | None = None
        for line in self._lines:
            if not lines and line.strip(" \t\r\n,;\ufeff") == "":
                continue  # blank lines before the header
            if not lines and hint is None and (m := _SEP_HINT.match(line.strip(" \r\n\ufeff"))):
                hint = _hinted_delimiter(m.group(1), self._line_no)  # Excel's "sep=;" line before the header
                continue
            lines.append(line)
            if "".join(lines).count('"') % 2 == 0 or len(lines) >= MAX_HEADER_LINES:
                break
        if not lines:
            raise CsvFileError("The file is empty. The first line must be the header, with at least the column "
                               "'User ID/Email (Required)'; download the template to start from.", line=1)
        self.header_line = self._line_no - len(lines) + 1
        self.hinted = hint is not None
        if hint is not None:  # the file names its delimiter: no sniffing, no ambiguity
            self.delimiter = hint
            try:
                self.header_map = resolve_headers(self._parse_header(lines, hint))
            except CsvFileError as exc:
                exc.line = self.header_line
                raise
            return
        candidates = []
        for order, delimiter in enumerate(DELIMITERS):
            cells = self._parse_header(lines, delimiter)
            known, total = known_column_count(cells)
            candidates.append((delimiter, cells, known, total, order))
        multi = [c for c in candidates if c[2] > 1]
        if len(multi) > 1:
            names = " and ".join(_DELIMITER_NAMES[c[0]] for c in multi)
            raise CsvFileError(f"The header line can be read with more than one delimiter ({names}), so the columns "
                               f"are ambiguous. Save the file with commas as the delimiter ('CSV UTF-8 (comma "
                               f"delimited)') and upload it again.", line=self.header_line)
        complete = [c for c in candidates if c[3] > 0 and c[2] == c[3]]
        if complete:  # the reading that splits more (trailing delimiters count), then comma first
            chosen = min(complete, key=lambda c: (-len(c[1]), c[4]))
        else:  # nothing fits: report the unknown headers of the most plausible reading
            chosen = max(candidates, key=lambda c: (c[2], c[3], -c[4]))
        self.delimiter = chosen[0]
        try:
            self.header_map = resolve_headers(chosen[1])
        except CsvFileError as exc:
            exc.line = self.header_line
            raise

    def _dialect(self, delimiter: str) -> dict:
        return {"delimiter": delimiter, "quotechar": '"', "doublequote": True, "skipinitialspace": True,
                "strict": False}

    def _parse_header(self, lines: list[str], delimiter: str) -> list[str]:
        try:
            return next(csv.reader(iter(lines), **self._dialect(delimiter)), [])
        except csv.Error:
            return []

    # --- rows -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[CsvRow]:
        if self._started:
            raise RuntimeError("a CsvReader can be iterated once; open the file again")
        self._started = True
        return self._rows()

    def only(self, *columns: Column) -> Iterator[CsvRow]:
        """The rows with only ``columns``' cells, every check of the file made as when iterating it: what a
        pass over the whole file that needs one or two columns (a task's row count and duplicate e-mails)
        reads, without building each row's other cells."""
        if self._started:
            raise RuntimeError("a CsvReader can be iterated once; open the file again")
        self._started = True
        return self._rows(set(columns))

    def _rows(self, columns: set[Column] | None = None) -> Iterator[CsvRow]:
        reader = csv.reader(self._lines, **self._dialect(self.delimiter))
        entries = [(e.index, e.column) for e in self.header_map.entries if columns is None or e.column in columns]
        width = self.header_map.width
        # Nearly every row has a cell for each column and none with an apostrophe: its cells are taken by one
        # C-level getter instead of one step per column.
        order = [column for _, column in entries]
        reach = max((index for index, _ in entries), default=-1) + 1
        take = _taker([index for index, _ in entries])
        max_rows = self._max_rows
        while True:
            start = self._line_no + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise CsvFileError(f"Line {start}: {exc}. A quoted value is probably not closed; check the quotes "
                                   "(a quote inside a quoted value is written twice: \"\").", line=start) from None
            if self._eof:
                raise CsvFileError(f"Line {start}: a quoted value that starts on this row is never closed, so the "
                                   "rest of the file would be read as one cell. Close the quote (a quote inside a "
                                   "quoted value is written twice: \"\").", line=start)
            values = list(map(str.strip, fields))
            if not any(values):
                continue  # blank row (empty line, only delimiters or spaces)
            self.rows_read += 1
            if max_rows is not None and self.rows_read > max_rows:
                raise CsvFileError(f"The file has more than {max_rows:,} rows, the limit set on this server. Split "
                                   "it into smaller files, or raise the limit with the setting "
                                   "RTMHUB_CSV_MAX_ROWS (0 = no limit).", line=start)
            n = len(values)
            extra = 0
            if n > width:
                last = n
                while last > width and values[last - 1] == "":
                    last -= 1
                extra = last - width
            if n >= reach:
                taken = take(values)
                if "'" not in "".join(taken):
                    yield CsvRow(start, dict(zip(order, taken, strict=True)), extra)
                    continue
            cells: dict[Column, str] = {}
            for index, column in entries:
                if index < n:
                    value = values[index]
                    if value[:1] == "'":
                        value = unneutralise(value)
                    cells[column] = value
                else:
                    cells[column] = ""
            yield CsvRow(start, cells, extra)


def _taker(indexes: list[int]) -> Callable[[list[str]], tuple[str, ...]]:
    """The values at ``indexes``, in that order, as a tuple (itemgetter answers one index with a bare value)."""
    if len(indexes) == 1:
        index = indexes[0]
        return lambda values: (values[index],)
    if not indexes:
        return lambda values: ()
    return itemgetter(*indexes)


def open_csv(stream: BinaryIO, *, max_rows: int | None = None) -> CsvReader:
    """Open a user CSV: the header is read and checked now (CsvFileError), rows stream on iteration.

    ``max_rows`` (None or 0 = no cap) is checked while iterating: the row after the cap raises
    CsvFileError naming the cap and the ``RTMHUB_CSV_MAX_ROWS`` setting.
    """
    return CsvReader(stream, max_rows=max_rows)


__all__ = ["CP1252", "DELIMITERS", "LOCALE_BOOLS", "CsvFileError", "CsvReader", "CsvRow", "is_literal_bool", "open_csv",
           "parse_bool", "unneutralise"]
