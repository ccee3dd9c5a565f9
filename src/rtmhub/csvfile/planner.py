"""One CSV row -> one user change, with the CSV rules (R16-R19, R22-R27, D4) on top of the users
service, which keeps every user rule. The planner decides *what* a row asks for; the service
decides whether it is allowed.

Before any row, ``check_file`` holds the file's header against its customer (a licence column's
``[subscription id]`` must be the subscription of the customer's partner; a site licence column must name
one of the customer's meeting sites), and ``file_notices`` says which recognised columns are ignored and
whether the file was read as Windows-1252.

A row is applied either alone inside a SAVEPOINT (``apply_row``, through the single-user services) or
with its batch set-wise (``apply_batch``, through users/bulk.py, decision 12); both go through the same
``_write``, so a row's outcome and changed columns are counted one way whichever path applied it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from rtmhub.csvfile.columns import COLUMNS, Column, HeaderMap
from rtmhub.csvfile.errors import CsvFileError
from rtmhub.csvfile.reader import CP1252, LITERAL_BOOLS, CsvRow, is_literal_bool, parse_bool
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.customers.models import Customer, CustomerPackage, MeetingSite
from rtmhub.domain.directory import service as directory
from rtmhub.domain.locations.models import Location
from rtmhub.domain.packages.models import CALLING_PACKAGES, PACKAGES, USER_PACKAGES
from rtmhub.domain.packages.service import TooManyPackages, one_user_package
from rtmhub.domain.partners.models import Partner
from rtmhub.domain.tasks.models import MODES
from rtmhub.domain.users.bulk import BatchLookups, BatchWrites, BulkWriter, RowWriter, Simulation, UserWriter
from rtmhub.domain.users.models import User
from rtmhub.domain.users.service import snapshot
from rtmhub.domain.validation import EMAIL_MAX, _plausible_without_plus
from rtmhub.errors import DomainError, ErrorDetail, Message, msg, msgn

BY_FIELD = {c.field: c for c in COLUMNS if c.field}
EMAIL = BY_FIELD["email"]
STATUS = BY_FIELD["status"]
LOCATION = BY_FIELD["location"]
SITE = BY_FIELD["preferred_site_url"]
PACKAGE_COLUMNS = [c for c in COLUMNS if c.kind == "package"]
# (column, field) pairs: every one of these columns names a field of the user.
TEXT_FIELDS = [(c, c.field) for c in COLUMNS if c.field and c.kind == "text" and c.field not in ("email", "location")]
BOOL_FIELDS = [(c, c.field) for c in COLUMNS if c.field and c.kind == "bool"]
BASE_COLUMNS = [(c, c.field) for c in COLUMNS if c.field and c.kind == "base"]


def _stored(level: str, column: str | None, message: str) -> dict[str, Any]:
    """A row message as kept in the task's results: the English text, and for translation its
    template and values when it has them."""
    item: dict[str, Any] = {"level": level, "column": column or "", "message": str(message)}
    if isinstance(message, Message):
        item.update(message.as_dict())
    return item


@dataclass
class RowResult:
    line: int
    email: str | None
    outcome: str = "unchanged"
    changes: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    read_as: dict[str, bool] = field(default_factory=dict)  # boolean cells not written TRUE/FALSE, as read

    def error(self, column: str | None, message: str) -> None:
        self.outcome = "error"
        self.messages.append(_stored("error", column, message))

    def warn(self, column: str | None, message: str) -> None:
        self.messages.append(_stored("warning", column, message))

    def refused(self, exc: DomainError) -> None:
        """The service refused the row: each of its problems, on the column it concerns."""
        for e in exc.errors:
            self.error(_header_for(e.field), e.description)

    @property
    def failed(self) -> bool:
        return self.outcome == "error"


@dataclass
class ImportContext:
    """Lookups done once per task rather than once per row."""

    customer: Customer
    mode: str
    locations: dict[str, str]  # lower-cased name -> id
    location_names: dict[str, str]  # id -> name
    customer_packages: set[str]
    suspended_columns: set[Column]
    duplicate_emails: set[str]
    directory_owned: bool = False  # R12: directory sync is on, the directory owns users and their names
    # The file's columns, which every row's cells hold (CsvRow): the columns a row is read for are then chosen
    # once per file, not asked of each row. None (not known): every column is asked of every row.
    columns: frozenset[Column] | None = None
    text_fields: list[tuple[Column, str]] = field(init=False)
    number_columns: tuple[Column, ...] = field(init=False)
    package_columns: list[Column] | None = field(init=False)  # None: as each row has them

    def __post_init__(self) -> None:
        columns = self.columns
        self.text_fields = TEXT_FIELDS if columns is None else [(c, n) for c, n in TEXT_FIELDS if c in columns]
        self.number_columns = NUMBER_COLUMNS if columns is None else tuple(c for c in NUMBER_COLUMNS if c in columns)
        self.package_columns = None if columns is None else [c for c in PACKAGE_COLUMNS if c in columns]

    @classmethod
    def load(cls, session: Session, customer: Customer, mode: str, suspended: set[Column],
             duplicates: set[str], columns: frozenset[Column] | None = None) -> ImportContext:
        locs = session.execute(select(Location.id, Location.name).where(Location.customer_id == customer.id)).all()
        packages = set(session.scalars(select(CustomerPackage.package)
                                       .where(CustomerPackage.customer_id == customer.id)))
        return cls(customer, mode, {n.lower(): i for i, n in locs}, {i: n for i, n in locs}, packages,
                   suspended, duplicates, directory.sync_enabled(session, customer.id), columns)


# --- the file as a whole, against its customer -------------------------------------------------

def _site_key(url: str) -> str:
    text = url.strip().lower()
    for scheme in ("https://", "http://"):
        text = text.removeprefix(scheme)
    return text.rstrip("/")


@dataclass(frozen=True)
class FileRules:
    """What a file's header is held against: the subscription that supplies the customer (its partner's,
    R17) and the customer's meeting sites."""

    subscription_id: str | None
    sites: frozenset[str]  # _site_key of each of the customer's meeting site URLs

    @classmethod
    def load(cls, session: Session, customer: Customer) -> FileRules:
        partner = session.get(Partner, customer.partner_id)
        urls = session.scalars(select(MeetingSite.url).where(MeetingSite.customer_id == customer.id))
        return cls(partner.subscription_id if partner else None, frozenset(_site_key(u) for u in urls))


def check_file(header_map: HeaderMap, rules: FileRules) -> None:
    """Refuse the whole file (CsvFileError) when a licence column names another subscription than the one
    that supplies the customer, or a site licence column names a site that is not the customer's. The
    upload checks it in the transaction that stores the file (a refusal keeps nothing) and the runner again
    before the first row, so nothing of such a file ever applies."""
    problems: list[ErrorDetail] = []
    expected = rules.subscription_id
    named = [(e.header, e.subscription_id) for e in header_map.entries if e.column.licence]
    named += [(e.header, e.subscription_id) for e in header_map.licences]
    for header, given in named:
        if given is not None and given != expected:
            problems.append(ErrorDetail(msg(
                "The column '{header}' names the subscription '{given}', but this organisation's licences come "
                "from the subscription '{expected}' (its partner's); write '[{expected}]' in the header or leave "
                "the suffix out.", header=header, given=given, expected=expected or "-"), field=header))
    for site in header_map.licences:
        if site.site is not None and _site_key(site.site) not in rules.sites:
            problems.append(ErrorDetail(msg(
                "The column '{header}' is the licence of the meeting site '{site}', which is not a site of this "
                "organisation; delete the column.", header=site.header, site=site.site), field=site.header))
    if problems:
        raise CsvFileError("The header line of the file cannot be used. "
                           + " ".join(p.description for p in problems), problems)


def file_notices(header_map: HeaderMap, encoding: str | None = None) -> list[dict[str, Any]]:
    """The file-level notices of a recognised header: ONE notice naming every column that is ignored (the
    older service and hybrid columns and the address columns of a Control Hub export, and its licence
    columns that are no package: the customer's own site licences and IGNORED_LICENCES); and, when the
    reader chose Windows-1252 for a file that is not UTF-8 (``encoding``, decision 41), one saying so."""
    notices = []
    if encoding == CP1252:
        notices.append(_stored("notice", None, msg(
            "The file is not UTF-8, so it was read as Windows-1252 (Western European), the code page Excel's "
            "plain 'CSV' type saves in; check that letters such as ä, ö and å look right. Save the file as "
            "'CSV UTF-8 (comma delimited)' to avoid the guess.")))
    ignored = [*header_map.ignored, *(e.header for e in header_map.licences)]
    if ignored:
        notices.append(_stored("notice", None, msg(
            "These columns of the file are not used by rtmhub and were ignored: {columns}.",
            columns=", ".join(f"'{h}'" for h in ignored))))
    return notices


class Plan(NamedTuple):
    """What a checked row asks for: delete ``user``, create a user (``user`` None) or update ``user``, with
    the fields the row gives (field name -> value, as ``plan_change`` takes them)."""

    user: User | None
    fields: dict[str, Any]
    delete: bool
    calling_given: bool




def _write(writer: UserWriter, result: RowResult, plan: Plan) -> None:
    """Apply a planned row through ``writer`` and record its outcome (add, modify, unchanged, delete)
    and changed columns: the one bookkeeping of ``apply_row`` and ``apply_batch``. A refusal raises
    before anything is recorded."""
    user = plan.user
    if user is None:
        writer.create(plan.fields)
        result.outcome = "add"
        result.changes = [c.header for c in _columns_of(plan.fields)]
    elif plan.delete:
        writer.delete(user)
        result.outcome = "delete"
    else:
        before, after = writer.update(user, plan.fields, plan.calling_given)
        changed = [BY_FIELD[f].header if f in BY_FIELD else _package_header(before, after, f)
                   for f in after if after[f] != before[f]]
        result.outcome = "modify" if changed else "unchanged"
        result.changes = sorted(set(changed), key=_column_order)


def apply_row(session: Session, caller: Caller, ctx: ImportContext, row: CsvRow) -> RowResult:
    """Plan and apply one row inside a SAVEPOINT: a refused row rolls back alone."""
    email = row.cells.get(EMAIL, "").strip()
    result = RowResult(row.line, email or None)
    plan = _plan(session, ctx, row, result)
    if result.failed or plan is None:
        return result
    savepoint = session.begin_nested()
    try:
        _write(RowWriter(session, caller, ctx.customer), result, plan)
        savepoint.commit()
    except DomainError as exc:
        savepoint.rollback()
        result.refused(exc)
    return result


def apply_batch(session: Session, caller: Caller, ctx: ImportContext, rows: list[CsvRow],
                simulation: Simulation | None = None) -> list[RowResult]:
    """Plan and apply a batch with the same rules as ``apply_row``, prefetching what the rules need
    and writing set-wise (see users/bulk.py). Raises the database's error if it still refuses the
    batch; the caller then replays it with ``apply_row``. With a ``simulation`` (a preview, decision 23)
    nothing is written: the batch sees what earlier simulated batches changed and adds its own."""
    return _batch(session, caller, ctx, rows, simulation, record=False)[0]


def plan_batch(session: Session, caller: Caller, ctx: ImportContext, rows: list[CsvRow],
               simulation: Simulation) -> tuple[list[RowResult], BatchWrites]:
    """``apply_batch`` simulated, and what it would write, for a writer that writes it after the batches
    before it (an import planned ahead in a process of its own, jobs/ahead.py, decision 64)."""
    results, writes = _batch(session, caller, ctx, rows, simulation, record=True)
    assert writes is not None  # a recording writer always returns its writes
    return results, writes


def _batch(session: Session, caller: Caller, ctx: ImportContext, rows: list[CsvRow], simulation: Simulation | None,
           *, record: bool) -> tuple[list[RowResult], BatchWrites | None]:
    lookups = BatchLookups(session, ctx.customer, simulation)
    phone = BY_FIELD["phone_number"]
    extension = BY_FIELD["extension"]
    known = lookups.prefetch((r.cells.get(EMAIL, "") for r in rows), (r.cells.get(phone, "") for r in rows),
                             (r.cells.get(extension, "") for r in rows))
    writer = BulkWriter(session, caller, ctx.customer, lookups, record=record)
    results = []
    for row in rows:
        email = row.cells.get(EMAIL, "").strip()
        result = RowResult(row.line, email or None)
        results.append(result)
        plan = _plan(session, ctx, row, result, known)
        if result.failed or plan is None:
            continue
        try:
            _write(writer, result, plan)
        except DomainError as exc:  # nothing of the row was queued
            result.refused(exc)
    return results, writer.flush()


def _chosen_package(result: RowResult, chosen: list[Column]) -> str | None:
    """R1 through the domain's one rule (``one_user_package``): the package of the one TRUE package column,
    None when there is none or (with the row error on the second one) when there are more."""
    if len(chosen) < 2:  # one column or none: the rule's answer without its general case
        package = chosen[0].package if chosen else None
        return package if package in USER_PACKAGES else None
    try:
        return one_user_package(c.package for c in chosen if c.package)
    except TooManyPackages:
        result.error(chosen[1].header, msg("A user holds exactly one package; mark only one package column "
                                           "TRUE (found {columns}).", columns=", ".join(c.header for c in chosen)))
        return None


def _plan(session: Session, ctx: ImportContext, row: CsvRow, result: RowResult,
          known: dict[str, User] | None = None) -> Plan | None:
    """The row's plan; how its boolean cells in a spreadsheet's own words were read is noted on the row."""
    plan = _plan_cells(session, ctx, row, result, known)
    for value, flag in result.read_as.items():
        result.messages.append(_stored("notice", None, msg("Read '{value}' as {flag}.", value=value,
                                                            flag="TRUE" if flag else "FALSE")))
    return plan


# Number columns a spreadsheet may have turned into numbers (decision 42).
NUMBER_COLUMNS = (BY_FIELD["extension"], BY_FIELD["phone_number"], BY_FIELD["caller_id_number"])
PHONE_COLUMNS = (BY_FIELD["phone_number"], BY_FIELD["caller_id_number"])
_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$")
_DECIMAL = re.compile(r"^\d+[.,]0+$")
_DIGITS = re.compile(r"^\d{7,15}$")


def _spreadsheet_number(result: RowResult, column: Column, value: str) -> None:
    """A number cell a spreadsheet changed: scientific notation, decimals, or a phone number's lost '+'."""
    if _SCIENTIFIC.match(value):
        result.error(column.header, msg(
            "'{value}' is a number a spreadsheet turned into scientific notation, so its digits are lost. Type the "
            "number again and keep the cell as text: format the column as Text before typing or pasting the "
            "numbers, or type an apostrophe before the number.", value=value))
    elif _DECIMAL.match(value):
        result.error(column.header, msg(
            "'{value}' is a number a spreadsheet wrote with decimals; write it as '{digits}' and keep the cell as "
            "text: format the column as Text before typing or pasting the numbers, or type an apostrophe before "
            "the number.", value=value, digits=re.split(r"[.,]", value)[0]))
    elif column in PHONE_COLUMNS and _DIGITS.match(value) and _plausible_without_plus(value):
        result.error(column.header, msg(
            "'{value}' has lost its leading '+' (or '00'): a spreadsheet read it as a number. Write it as "
            "'+{value}' and keep the cell as text: format the column as Text before typing or pasting the "
            "numbers, or type an apostrophe before the number ('+{value}).", value=value))


def _plan_cells(session: Session, ctx: ImportContext, row: CsvRow, result: RowResult,
                known: dict[str, User] | None = None) -> Plan | None:
    cells = row.cells
    if row.extra_cells:
        result.error(None, msgn("The row has {count} more cell than the header; check for an unquoted delimiter "
                                "inside a value.",
                                "The row has {count} more cells than the header; check for an unquoted delimiter "
                                "inside a value.", "count", count=row.extra_cells))
    if not result.email:
        result.error(EMAIL.header, msg("{column} is empty; every row needs the user's e-mail address.",
                                       column=EMAIL.header))
        return None
    if len(result.email) > EMAIL_MAX:
        # Refused before any look-up (R35): the row's key cannot be a user, and nothing this long goes on.
        result.error(EMAIL.header, msg("{field}: '{value}…' is longer than {max} characters.", field=EMAIL.header,
                                       value=result.email[:40], max=EMAIL_MAX))
        return None
    key = result.email.lower()
    if key in ctx.duplicate_emails:
        result.error(EMAIL.header, msg("{email} appears more than once in the file; keep one row per user.",
                                       email=result.email))
    user: User | None
    if known is not None and key in known:
        user = known[key]
    elif known is not None:
        # Prefetched: no user has this e-mail. (Not updated when a row deletes a user: every row of an e-mail
        # that the file names twice is refused, ctx.duplicate_emails, so a batch never meets one again.)
        user = None
    else:
        user = session.scalar(select(User).where(User.email_key == key))
    if user is not None and user.customer_id != ctx.customer.id:
        result.error(EMAIL.header, msg("The email {email} is already associated with a user of another "
                                       "organisation.", email=result.email))
        return None
    values: dict[str, Any] = {}
    if user is None:
        values["email"] = result.email
    for column, name in ctx.text_fields:
        value = cells.get(column, "")
        if value != "":
            values[name] = value
    for column in ctx.number_columns:
        if value := cells.get(column, ""):
            _spreadsheet_number(result, column, value)
    status = cells.get(STATUS, "")
    # R19: read-only. An exported value is ignored; another one is ignored with a warning, and the row applies.
    if status and user is None:
        result.warn(STATUS.header, msg("{column} is read-only; the value '{value}' was ignored.",
                                       column=STATUS.header, value=status))
    elif status and user is not None and status.casefold() != (user.status or "").casefold():
        result.warn(STATUS.header, msg("{column} is read-only; the value '{value}' was ignored (rtmhub's value is "
                                       "'{current}').", column=STATUS.header, value=status, current=user.status))
    for column, name in BOOL_FIELDS:
        flag = _bool(result, column, cells.get(column, ""))
        if flag is not None:
            values[name] = flag
    # Packages (R1, R16, R18, R26, D4).
    marks: dict[Column, bool] = {}
    present = ctx.package_columns
    if present is None:
        present = [c for c in PACKAGE_COLUMNS if c in cells]
    for column in present:
        flag = _bool(result, column, cells.get(column, ""))
        if flag is None:
            continue
        if flag and column in ctx.suspended_columns:
            result.error(column.header, msg("{column} is suspended; it cannot be assigned (set it to FALSE or "
                                            "remove the column).", column=column.header))
        marks[column] = flag
    chosen = [c for c, v in marks.items() if v]
    package = _chosen_package(result, chosen)
    delete = False
    if chosen and package is None:
        pass  # R1 refused above
    elif package is not None:
        values["package"] = package
    elif present and len(marks) == len(present) and all(v is False for v in marks.values()):
        if ctx.mode != "add-remove":
            result.error(None, msg("Every package column is FALSE, which deletes the user; choose the import "
                                   "behaviour 'Add and remove services' to delete users."))
        elif user is None:
            result.error(EMAIL.header, msg("No user {email} to delete in this organisation.", email=result.email))
        elif missing := missing_package_columns(ctx, user, present):
            result.error(None, msg("Every package column of the row is FALSE, but the file has no column for "
                                   "{columns}, which this organisation holds; a user is deleted only when the file "
                                   "has a column for every package. Add the missing columns (FALSE to delete the "
                                   "user), or leave the package cells empty to keep the user.",
                                   columns=", ".join(f"'{c.header}'" for c in missing)))
        else:
            delete = True
    elif (ctx.mode == "add-remove" and user is not None and user.package
          and (held := _package_column(user.package)) is not None and marks.get(held) is False):
        values["package"] = None
    # Base licences: "Add services only" grants them beside the package (D4, R25).
    for column, name in BASE_COLUMNS:
        flag = _bool(result, column, cells.get(column, ""))
        if ctx.mode == "add":
            if flag or user is None:
                values[name] = True
            elif not getattr(user, name):
                values[name] = True
        elif flag is not None:
            values[name] = flag
    # Location by name (R27: an existing calling user's location does not change by CSV).
    name = cells.get(LOCATION, "")
    if name:
        location_id = ctx.locations.get(name.lower())
        if location_id is None:
            result.error(LOCATION.header,
                         msg("Location '{name}' does not exist in this organisation; use one of: "
                                                     "{names}.", name=name,
                                                     names=", ".join(sorted(ctx.location_names.values())) or "(none)"))
        elif (user is not None and user.package in CALLING_PACKAGES and user.location_id
              and user.location_id != location_id and values.get("package", user.package) in CALLING_PACKAGES):
            result.error(LOCATION.header,
                         msg("The location of an existing calling user cannot be changed by CSV "
                                                     "(now '{name}').", name=ctx.location_names.get(user.location_id)))
        else:
            values["location_id"] = location_id
    if ctx.directory_owned:  # R12: packages and calling data may change, what the directory owns may not
        if user is None:
            result.error(EMAIL.header, directory.creation_refused())
        elif changed := directory.directory_owned_changes(snapshot(user), values):
            result.error(BY_FIELD[changed[0]].header, directory.owned_message(
                changed, {f: BY_FIELD[f].header for f in changed if f in BY_FIELD}))
    if delete:
        return Plan(user, {}, True, False)
    target_package = values.get("package", user.package if user else None)
    if target_package is not None:
        for column, field_name in BOOL_FIELDS:  # R22
            if cells.get(column, "") == "" and (user is None or field_name not in values):
                if user is None:
                    result.error(column.header, msg("{column} is required (TRUE or FALSE) for users with a package.",
                                                    column=column.header))
        info = PACKAGES.get(target_package)
        if info and info.meetings and not (values.get("preferred_site_url") or (user and user.preferred_site_url)):
            result.warn(SITE.header, msg("{column} is empty; {package} users need it for their meeting site.",
                                         column=SITE.header, package=info.display_name))
    if result.failed:
        return None
    calling_given = bool(values.get("extension") or values.get("phone_number"))
    return Plan(user, values, False, calling_given)


def missing_package_columns(ctx: ImportContext, user: User, present: list[Column]) -> list[Column]:
    """R26 as the file says it (the one rule for preview and apply): an all-FALSE row deletes ``user`` only
    when the file has a column for every wholesale package the customer holds (and the user's own); these
    are the package columns it lacks. A file naming only some packages never deletes a user by omission."""
    held = {p for p in ctx.customer_packages if p in USER_PACKAGES}
    if user.package:
        held.add(user.package)
    return [c for c in PACKAGE_COLUMNS if c.package in held and c not in present]


def _bool(result: RowResult, column: Column, value: str) -> bool | None:
    if value in LITERAL_BOOLS:  # TRUE, FALSE or empty as written: read without a note (every cell, nearly)
        return LITERAL_BOOLS[value]
    try:
        flag = parse_bool(value)
    except ValueError:
        result.error(column.header, msg("{column} must be TRUE or FALSE (found '{value}').", column=column.header,
                                        value=value))
        return None
    if flag is not None and not is_literal_bool(value):
        result.read_as.setdefault(value.strip(), flag)
    return flag


_COLUMN_OF_PACKAGE = {c.package: c for c in reversed(PACKAGE_COLUMNS)}  # the first column of a package wins


def _package_column(package: str) -> Column | None:
    return _COLUMN_OF_PACKAGE.get(package)


def _package_header(before: dict[str, Any], after: dict[str, Any], field_name: str) -> str:
    if field_name == "package":
        column = _package_column(after["package"] or before["package"])
        return column.header if column else "Package"
    if field_name == "location_id":
        return LOCATION.header
    return field_name


def _columns_of(fields: dict[str, Any]) -> list[Column]:
    out: list[Column] = []
    for name, value in fields.items():
        if name == "package":
            if value and (column := _package_column(value)) is not None:
                out.append(column)
        elif name == "location_id":
            out.append(LOCATION)
        elif name in BY_FIELD and value not in (None, False):
            out.append(BY_FIELD[name])
    out.sort(key=_COLUMN_ORDER.__getitem__)
    return out


_ORDER = {c.header: i for i, c in enumerate(COLUMNS)}
_COLUMN_ORDER = {c: _ORDER[c.header] for c in COLUMNS}


def _column_order(header: str) -> int:
    return _ORDER.get(header, len(COLUMNS))


def _header_for(field_name: str | None) -> str:
    if not field_name:
        return ""
    snake = "".join("_" + ch.lower() if ch.isupper() else ch for ch in field_name)
    mapping = {"phone_number": "phone_number", "location_id": "location", "preferred_webex_site": "preferred_site_url"}
    column = BY_FIELD.get(mapping.get(snake, snake))
    return column.header if column else field_name


__all__ = ["MODES", "BatchWrites", "FileRules", "ImportContext", "Plan", "RowResult", "Simulation", "apply_batch",
           "apply_row", "check_file", "file_notices", "missing_package_columns", "plan_batch"]
