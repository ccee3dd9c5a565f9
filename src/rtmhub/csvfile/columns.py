"""The user CSV columns: ONE definition that drives the template, the import and the export (D8).

Headers are the Control Hub ones (facts sheet section 4); the Finnish names of the seed (and a
few sensible Finnish names for the other columns) are accepted as aliases. Headers match
case-insensitively after trimming and collapsing whitespace. A package or base-licence header may
end in `` [subscription id]`` (R17) and/or ``(Suspended)`` (R18); both are parsed off and kept on
the header map. A Control Hub export also carries columns rtmhub does not use (facts sheet 4a/4b: the
older service and hybrid columns, the address columns) and licence columns that are no package (one per
meeting site, ``<site url> - WebEx Enterprise Edition [<subscription id>]``, and IGNORED_LICENCES): these
are recognised and kept apart on the header map (``ignored``, ``licences``) so the rows never see them.
Any other header is an error that names it and suggests the closest known header (no silent ignoring).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Literal

from rtmhub.csvfile.errors import CsvFileError
from rtmhub.domain.packages.models import BASE_LICENCES, PACKAGES, USER_PACKAGES
from rtmhub.errors import ErrorDetail, msg

Kind = Literal["text", "bool", "package", "base", "readonly"]


@dataclass(frozen=True, eq=False)
class Column:
    """Columns are the singletons in COLUMNS, so identity is equality (and the cheapest hash: every
    cell of every row is looked up by its column)."""

    header: str
    field: str | None
    kind: Kind
    package: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def licence(self) -> bool:
        """A package or base-licence column: TRUE/FALSE, may carry [subscription id] / (Suspended)."""
        return self.kind in ("package", "base")


# Finnish names of the package columns (brand names stay English, as in the seed).
_PACKAGE_ALIASES: dict[str, tuple[str, ...]] = {
    "webex_voice": ("Webex-ääni",),
    "cx_essentials": ("Customer Experience Essentials",),  # R32: the old name of Customer Assist
}
_BASE_FIELDS: dict[str, tuple[str, ...]] = {
    "basic_messaging": ("Perusviestintä",),
    "basic_space_meetings": ("Perustilakokoukset",),
    "call_on_webex": ("Soita Webexin kautta", "Call on Webex"),
}

COLUMNS: tuple[Column, ...] = (
    Column("First Name", "first_name", "text", aliases=("Etunimi",)),
    Column("Last Name", "last_name", "text", aliases=("Sukunimi",)),
    Column("Display Name", "display_name", "text", aliases=("Näyttönimi",)),
    Column("User ID/Email (Required)", "email", "text",
           aliases=("User ID/Email", "Käyttäjätunnus/sähköposti (pakollinen)", "Käyttäjätunnus/sähköposti")),
    Column("User Status", "status", "readonly", aliases=("Käyttäjän tila",)),
    # Read-only, and rtmhub keeps no sign-in times: exported empty, ignored whatever they hold on import.
    Column("Last Service Accessed Time", "last_service_accessed", "readonly"),
    Column("Days since Last Service Accessed", "days_since_last_service", "readonly"),
    Column("Extension", "extension", "text", aliases=("Jatkonumero", "Alanumero")),
    Column("Phone Number", "phone_number", "text", aliases=("Puhelinnumero",)),
    Column("Caller ID Number", "caller_id_number", "text", aliases=("Soittajan tunnuksen numero",)),
    Column("Caller ID First Name", "caller_id_first_name", "text", aliases=("Soittajan tunnuksen etunimi",)),
    Column("Caller ID Last Name", "caller_id_last_name", "text", aliases=("Soittajan tunnuksen sukunimi",)),
    Column("Location", "location", "text", aliases=("Sijainti",)),
    Column("Title", "title", "text", aliases=("Titteli", "Tehtävänimike")),
    Column("Department", "department", "text", aliases=("Osasto",)),
    Column("Manager", "manager", "text", aliases=("Esihenkilö", "Esimies")),
    Column("Preferred Language", "language", "text", aliases=("Ensisijainen kieli", "Kieli")),
    Column("Time zone", "timezone", "text", aliases=("Timezone", "Aikavyöhyke")),
    Column("Jabber Calling", "jabber_calling", "bool", aliases=("Jabber-kutsu",)),
    Column("Jabber with Webex Teams", "jabber_with_teams", "bool", aliases=("Jabber Webex Teamsin kanssa",)),
    Column("Preferred Webex Site", "preferred_site_url", "text", aliases=("Ensisijainen Webex-sivusto",)),
    *(Column(PACKAGES[p].display_name, None, "package", p, _PACKAGE_ALIASES.get(p, ())) for p in USER_PACKAGES),
    *(Column(PACKAGES[b].display_name, b, "base", b, _BASE_FIELDS.get(b, ())) for b in BASE_LICENCES),
)


# Columns of Control Hub exports that rtmhub does not use (facts sheet 4a: the address columns; 4b: the older
# service and hybrid columns, R31). A file may carry them; they are ignored with one notice on the task.
IGNORED_HEADERS: tuple[str, ...] = (
    "Address type", "Address country",
    "Hybrid Calendar Service Resource Group", "Hybrid Call Service Resource Group", "UC Manager Profile",
    "Contact Migration Required", "Upgrade Profile", "Calling Behavior", "Calling Behavior UC Manager Profile",
    "Call Service Aware", "Call Service Connect", "Enterprise Content Management",
    "Hybrid Calendar Service (Exchange)", "Hybrid Calendar Service (Google)", "Hybrid Message Service",
    "Webex Meeting Assistant",
)
# Licence columns of Control Hub exports that are no wholesale package (4b's example); like a meeting site's
# licence column ("<site url> - WebEx Enterprise Edition [<subscription id>]") they are informational.
IGNORED_LICENCES: tuple[str, ...] = ("Webex Calling SP Enterprise",)
_SITE_HEADER = re.compile(r"^(?P<site>\S+)\s+-\s+webex enterprise edition$", re.IGNORECASE)


def normalise_header(text: str) -> str:
    """The comparison key of a header: trimmed, inner whitespace collapsed, case-folded."""
    return " ".join(text.replace("\ufeff", "").split()).casefold()


_BY_KEY: dict[str, Column] = {}
for _c in COLUMNS:
    for _name in (_c.header, *_c.aliases):
        _key = normalise_header(_name)
        assert _BY_KEY.get(_key, _c) is _c, f"header {_name!r} defined twice"
        _BY_KEY[_key] = _c
EMAIL_COLUMN: Column = next(c for c in COLUMNS if c.field == "email")
_IGNORED: dict[str, str] = {normalise_header(h): h for h in IGNORED_HEADERS}
_IGNORED_LICENCES: frozenset[str] = frozenset(normalise_header(h) for h in IGNORED_LICENCES)
assert not set(_IGNORED) & set(_BY_KEY), "a header is both used and ignored"
# What a misspelt header is compared with: every header and alias, as written.
_SUGGESTIONS: dict[str, str] = {normalise_header(n): n for c in COLUMNS for n in (c.header, *c.aliases)}
_SUGGESTIONS.update(_IGNORED)

_SUBSCRIPTION = re.compile(r"\[([^\[\]]*)\]\s*$")
_SUSPENDED = re.compile(r"\(\s*suspended\s*\)\s*$", re.IGNORECASE)


def find_column(header: str) -> Column | None:
    """The column a bare header (no suffixes) names, or None."""
    return _BY_KEY.get(normalise_header(header))


@dataclass(frozen=True)
class HeaderEntry:
    index: int  # 0-based position of the column in the file
    header: str  # the header text as written in the file (trimmed)
    column: Column
    subscription_id: str | None = None
    suspended: bool = False


@dataclass(frozen=True)
class LicenceEntry:
    """A licence column of a Control Hub export that is no package: a meeting site's licence (``site`` set;
    informational for the customer's own site) or one of IGNORED_LICENCES. Its subscription is checked."""

    index: int
    header: str
    subscription_id: str | None = None
    site: str | None = None  # the site URL as written, for a site licence column


@dataclass(frozen=True)
class HeaderMap:
    """Per file column index, the Column it holds (plus subscription id and suspended flag); apart, the
    recognised columns that rows do not use (``ignored`` headers as written, other ``licences``)."""

    entries: tuple[HeaderEntry, ...]
    width: int  # header cells in the file (trailing empty header cells not counted)
    ignored: tuple[str, ...] = ()
    licences: tuple[LicenceEntry, ...] = ()
    by_index: dict[int, HeaderEntry] = dc_field(init=False, repr=False, compare=False)
    by_column: dict[Column, HeaderEntry] = dc_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_index", {e.index: e for e in self.entries})
        object.__setattr__(self, "by_column", {e.column: e for e in self.entries})

    def __getitem__(self, index: int) -> HeaderEntry:
        return self.by_index[index]

    def __iter__(self):
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, column: object) -> bool:
        return column in self.by_column

    @property
    def columns(self) -> tuple[Column, ...]:
        return tuple(e.column for e in self.entries)

    def entry(self, column: Column) -> HeaderEntry | None:
        return self.by_column.get(column)

    @property
    def suspended_columns(self) -> frozenset[Column]:
        return frozenset(e.column for e in self.entries if e.suspended)


def _split_suffixes(text: str) -> tuple[str, str | None, bool, bool]:
    """``Webex Calling (Suspended) [Sub123]`` -> ("Webex Calling", "Sub123", True, had_suffix)."""
    name, subscription, suspended, had = text.strip(), None, False, False
    while True:
        m = _SUBSCRIPTION.search(name)
        if m and subscription is None:
            subscription = m.group(1).strip() or None
            name, had = name[:m.start()].rstrip(), True
            continue
        m = _SUSPENDED.search(name)
        if m and not suspended:
            suspended, had = True, True
            name = name[:m.start()].rstrip()
            continue
        return name, subscription, suspended, had


def site_of(name: str) -> str | None:
    """``https://x.webex.com - WebEx Enterprise Edition`` (suffixes already off) -> the site URL, else None."""
    m = _SITE_HEADER.match(" ".join(name.split()))
    return m.group("site") if m else None


def suggestion(text: str) -> str | None:
    """The known header closest to a misspelt one (suffixes kept aside), or None when nothing is close."""
    name, subscription, suspended, _ = _split_suffixes(text)
    close = difflib.get_close_matches(normalise_header(name), list(_SUGGESTIONS), n=1, cutoff=0.75)
    if not close:
        return None
    return _SUGGESTIONS[close[0]] + (f" [{subscription}]" if subscription else "") + (
        " (Suspended)" if suspended else "")


def _unknown_text(text: str) -> str:
    near = suggestion(text)
    return f"'{text}' (did you mean '{near}'?)" if near else f"'{text}'"


def _quote_list(items: list[str], limit: int = 12, *, quoted: bool = False) -> str:
    shown = ", ".join(i if quoted else f"'{i}'" for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def accepted_headers_text() -> str:
    return (", ".join(c.header for c in COLUMNS)
            + " (Finnish names such as 'Sijainti' or 'Jatkonumero' are accepted too; a package or licence "
              "header may end in ' [subscription id]'; the other columns of a Control Hub export are "
              "recognised and ignored)")


def resolve_headers(headers: list[str]) -> HeaderMap:
    """Map the file's header cells to columns, or raise CsvFileError naming every problem."""
    cells = [h.replace("\ufeff", "").strip() for h in headers]
    while cells and cells[-1] == "":
        cells.pop()  # spreadsheets often save empty columns after the last one
    entries: list[HeaderEntry] = []
    ignored: list[str] = []
    licences: list[LicenceEntry] = []
    unknown: list[str] = []
    misplaced: list[str] = []
    empty: list[int] = []
    seen: dict[Column, HeaderEntry] = {}
    duplicates: list[str] = []
    for index, text in enumerate(cells):
        if text == "":
            empty.append(index + 1)
            continue
        if index == len(cells) - 1 and index > 0 and normalise_header(text) == "error":
            continue  # the error report's last column (export.error_report_csv): its fixed file re-uploads as is
        column = find_column(text)
        subscription, suspended = None, False
        if column is None and normalise_header(text) in _IGNORED:
            ignored.append(text)
            continue
        if column is None:
            name, subscription, suspended, had = _split_suffixes(text)
            column = find_column(name) if had else None
            if column is not None and not column.licence:
                misplaced.append(text)
                continue
            site = site_of(name) if column is None else None
            if site is not None or (column is None and normalise_header(name) in _IGNORED_LICENCES):
                licences.append(LicenceEntry(index, text, subscription, site))
                continue
        if column is None:
            unknown.append(text)
            continue
        entry = HeaderEntry(index, text, column, subscription, suspended)
        if column in seen:
            duplicates.append(f"'{column.header}' (columns {seen[column].index + 1} and {index + 1}: "
                              f"'{seen[column].header}' and '{text}')")
            continue
        seen[column] = entry
        entries.append(entry)
    problems: list[ErrorDetail] = []
    if unknown:
        problems.append(ErrorDetail(msg(
            "Unknown column headers: {columns}. Rename or delete them; accepted headers are: {accepted}.",
            columns=_quote_list([_unknown_text(u) for u in unknown], quoted=True), accepted=accepted_headers_text())))
    if misplaced:
        problems.append(ErrorDetail(msg(
            "Only package and licence columns may carry ' [subscription id]' or '(Suspended)': {columns}; "
            "remove the suffix.", columns=_quote_list(misplaced))))
    if empty:
        problems.append(ErrorDetail(msg(
            "Column {columns} has no header; give each column a header or delete it.",
            columns=", ".join(map(str, empty[:12])))))
    if duplicates:
        problems.append(ErrorDetail(
            msg("A column appears twice: {columns}; keep one of each.", columns="; ".join(duplicates[:12])),
            field=duplicates[0].split("'")[1]))
    if EMAIL_COLUMN not in seen:
        problems.append(ErrorDetail(msg(
            "The column '{column}' is missing; it is the one column every file needs (the user's e-mail "
            "address). Add it to the header line (download the template to start from).",
            column=EMAIL_COLUMN.header), field=EMAIL_COLUMN.header))
    if problems:
        raise CsvFileError("The header line of the file cannot be used. "
                           + " ".join(p.description for p in problems), problems, line=None)
    return HeaderMap(tuple(entries), len(cells), tuple(ignored), tuple(licences))


def known_column_count(headers: list[str]) -> tuple[int, int]:
    """(header cells that name a column, non-empty header cells) — used to sniff the delimiter."""
    known = total = 0
    for text in headers:
        text = text.replace("\ufeff", "").strip()
        if not text:
            continue
        total += 1
        if find_column(text) is not None or normalise_header(text) in _IGNORED:
            known += 1
        else:
            name, _, _, had = _split_suffixes(text)
            column = find_column(name) if had else None
            if (column is not None and column.licence) or (column is None and (
                    site_of(name) is not None or normalise_header(name) in _IGNORED_LICENCES)):
                known += 1
    return known, total


def template_headers() -> list[str]:
    """Headers of the downloadable template: every writable column, in export order."""
    return [c.header for c in COLUMNS if c.kind != "readonly"]


__all__ = ["COLUMNS", "EMAIL_COLUMN", "IGNORED_HEADERS", "IGNORED_LICENCES", "Column", "CsvFileError",
           "HeaderEntry", "HeaderMap", "Kind", "LicenceEntry", "find_column", "known_column_count", "normalise_header",
           "resolve_headers", "site_of", "suggestion", "template_headers"]
