"""User CSV files (Control Hub format): columns, streamed reader and writer, the row planner. Framework-free.

- ``columns``: the one column definition driving template, import and export; header resolution.
- ``reader``: ``open_csv`` (encodings, delimiters, quoting, blank rows, caps) -> ``CsvRow``s.
- ``writer``: ``write_csv`` (UTF-8 BOM, CRLF, formula neutralisation) and ``neutralise``.
- ``planner``: one CSV row -> one user change through the domain's rules (``apply_row``, ``apply_batch``).
- ``export``: the export, template and error-report files, from rows to bytes.
This package builds on the domain; the domain never imports it. See docs/csv-format.md.
"""
from rtmhub.csvfile.columns import COLUMNS, Column, HeaderEntry, HeaderMap, resolve_headers, template_headers
from rtmhub.csvfile.errors import CsvFileError
from rtmhub.csvfile.reader import CsvReader, CsvRow, open_csv, parse_bool
from rtmhub.csvfile.writer import neutralise, write_csv

__all__ = ["COLUMNS", "Column", "CsvFileError", "CsvReader", "CsvRow", "HeaderEntry", "HeaderMap", "neutralise",
           "open_csv", "parse_bool", "resolve_headers", "template_headers", "write_csv"]
