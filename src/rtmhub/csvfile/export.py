"""The user CSV files rtmhub writes: the export, the empty template and a task's error report.

Pure functions from rows to CSV bytes (see ``writer`` for the format); reading the rows from the
database is the caller's (rtmhub.jobs.exports), in its own units of work.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from rtmhub.csvfile.columns import COLUMNS, template_headers
from rtmhub.csvfile.writer import write_csv
from rtmhub.domain.users.models import User

ERROR_HEADER = "Error"  # the error report's last column; the reader skips it, so a fixed report re-uploads as is


def export_row(user: User, location_names: dict[str, str]) -> list[str]:
    """A user as a CSV row in COLUMNS order; importing it again changes nothing (D8)."""
    out = []
    for column in COLUMNS:
        if column.kind == "package":
            # A user holding no package leaves the package cells empty ("no change"): all FALSE would delete the
            # user when the file is imported again in "Add and remove services" (R26).
            out.append("" if user.package is None else "TRUE" if user.package == column.package else "FALSE")
        elif column.kind in ("base", "bool"):
            out.append("TRUE" if column.field and getattr(user, column.field) else "FALSE")
        elif column.field == "location":
            out.append(location_names.get(user.location_id or "", ""))
        elif column.field:
            value = getattr(user, column.field, None)
            out.append("" if value is None else str(value))
        else:
            out.append("")
    return out


def export_headers(subscription_id: str | None = None) -> list[str]:
    """Every column's header; with the customer's subscription, package and licence columns carry it as
    Control Hub writes them (``Webex Calling [Sub123]``, R17), so the file imports back unchanged."""
    return [f"{c.header} [{subscription_id}]" if subscription_id and c.licence else c.header for c in COLUMNS]


def export_csv(rows: Iterable[list[str]], subscription_id: str | None = None) -> Iterator[bytes]:
    """The export file: every column, the rows of ``export_row``."""
    return write_csv(rows, export_headers(subscription_id))


def template() -> Iterator[bytes]:
    """The downloadable template: the header line of every writable column."""
    return write_csv(iter(()), template_headers())


def error_report_csv(failed: list[tuple[dict[str, str] | None, list[dict[str, Any]] | None]]) -> Iterator[bytes]:
    """The failed rows (their cells as uploaded, their messages) with an added Error column, ready to fix
    and upload again. Only the columns the failed rows had are written, in export order."""
    headers = [c.header for c in COLUMNS]
    used = [h for h in headers if any(h in (cells or {}) for cells, _ in failed)] or headers

    def rows() -> Iterator[list[str]]:
        for cells, messages in failed:
            text = "; ".join(f"{m['column']}: {m['message']}" if m.get("column") else m["message"]
                             for m in messages or [] if m.get("level") == "error")
            yield [(cells or {}).get(h, "") for h in used] + [text]

    return write_csv(rows(), used + [ERROR_HEADER])


__all__ = ["ERROR_HEADER", "error_report_csv", "export_csv", "export_headers", "export_row", "template"]
