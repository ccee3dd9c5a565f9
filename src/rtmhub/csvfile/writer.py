"""Writing user CSV files (export, template, error report), streamed.

Format: UTF-8 with a BOM (so Excel opens it as UTF-8), CRLF line ends, comma delimiter, fields
quoted only when needed (QUOTE_MINIMAL).

Formula neutralisation (CSV injection): a cell that a spreadsheet would run as a formula — one
that starts with ``=``, ``+``, ``-``, ``@``, TAB or CR — is written with a leading apostrophe
``'``. A cell that already starts with apostrophes followed by one of ``= + - @`` gets one more,
so the reader's rule can be exact.

DECISION (phone numbers): an E.164 number such as ``+358401234567`` starts with ``+``, which
spreadsheets treat as a formula start; it is exported as ``'+358401234567`` like any other such
cell. The reader (``reader.unneutralise``) removes exactly one leading apostrophe when what
follows the apostrophes starts with ``= + - @``. So our own export re-imports byte-for-byte equal
values (``+358…``, ``=SUM(A1)``, ``-5``, ``@x`` and ``'=x`` alike), a spreadsheet shows the number
with its ``+`` as text instead of turning it into ``358401234567``, and a person who types
``'+358…`` in a spreadsheet gets ``+358…`` imported. The leading apostrophe is never stored.
(Cells starting with TAB/CR are neutralised too, but the reader trims surrounding whitespace,
so such values do not survive an import whatever the export does.)
"""
from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator

_FORMULA_START = frozenset("=+-@\t\r")
_GUARDED = frozenset("=+-@")  # what reader.unneutralise recognises after the apostrophes
CHUNK_CHARS = 64 * 1024


def neutralise(value: str) -> str:
    """Prefix ``'`` to a cell a spreadsheet would run as a formula (see the module docstring)."""
    if not value:
        return value
    first = value[0]
    if first in _FORMULA_START:
        return "'" + value
    if first == "'":
        rest = value.lstrip("'")
        if rest and rest[0] in _GUARDED:
            return "'" + value
    return value


def _cell(value: object) -> str:
    return neutralise("" if value is None else str(value))


def write_csv(rows: Iterable[list[str]], headers: list[str]) -> Iterator[bytes]:
    """Stream the header and rows as UTF-8 (with BOM), CRLF, comma-delimited CSV chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=",", quotechar='"', doublequote=True, quoting=csv.QUOTE_MINIMAL,
                        lineterminator="\r\n")
    writer.writerow([_cell(h) for h in headers])
    first = True
    for row in rows:
        writer.writerow([_cell(v) for v in row])
        if buffer.tell() >= CHUNK_CHARS:
            data = buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            yield (codecs.BOM_UTF8 + data) if first else data
            first = False
    data = buffer.getvalue().encode("utf-8")
    if data or first:
        yield (codecs.BOM_UTF8 + data) if first else data


__all__ = ["neutralise", "write_csv"]
