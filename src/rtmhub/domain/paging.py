"""Offset pages read by seeking: the `offset`/`max` contract of the API and pages, at the cost of a keyset.

A deep ``OFFSET`` makes the database fetch and throw away every row before the page: every heap row, and
for a joined query every join, on each request. ``fetch_page`` finds the page's first key instead (the
sort key and the unique id of the row at ``offset``) with a query that selects only those columns, which
an index holding the filter and sort columns answers without touching the table (an index-only scan),
then reads the page from that key on (``key >= first``), which the same index finds directly. The rows
are the ones ``OFFSET`` would give: the same filter, the same total order (the last key is unique), and
the first row is the one at ``offset``.

A page can also tell where the next one starts (``fetch_cursor_page``): the key of its last row, which the API
hands on as an opaque ``cursor`` in the ``Link`` header's next address (``encode_cursor``). A client that follows
the header then reads each next page from that key, at the cost of a first page whatever its offset; a client that
writes its own offset is served by the seek as before (decision 62).
"""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, DateTime, Row, Select, String, and_, or_, type_coerce
from sqlalchemy.orm import Session

from rtmhub.errors import ValidationFailed

# Below this offset, skipping the rows costs less than the extra query for the first key.
SEEK_FROM = 500

Key = tuple[Any, bool]  # (column, descending); the last key must be unique and never NULL


class KeyedPage(NamedTuple):
    rows: list[Row]
    last_key: tuple[Any, ...] | None  # the key of the last row read, as compared; None: no row, or no key


def fetch_page(session: Session, stmt: Select, keys: Sequence[Key], offset: int, limit: int | None,
               *, boundary: Select | None = None) -> list[Row]:
    """The rows of ``stmt`` ordered by ``keys``, ``limit`` of them from ``offset``. ``boundary``: a query
    that selects the same rows more cheaply (without a join that cannot drop any), used to find the
    first key; it must select exactly the rows ``stmt`` selects."""
    return _read(session, stmt, keys, offset, limit, boundary, None, keyed=False).rows


def fetch_cursor_page(session: Session, stmt: Select, keys: Sequence[Key], offset: int, limit: int,
                      cursor: str | None, *, boundary: Select | None = None) -> tuple[list[Row], str | None]:
    """``fetch_page``, and where the next page starts (decision 62): read from ``cursor`` (``decode_cursor``) when
    one is given, without walking ``offset``, else from ``offset``; returns the rows, each with the key's columns
    after its own, and the cursor of the last of them (None when it has no key)."""
    after = decode_cursor(keys, cursor) if cursor else None
    page = _read(session, stmt, keys, offset, limit, boundary, after, keyed=True)
    return page.rows, encode_cursor(keys, page.last_key) if page.last_key else None


def _read(session: Session, stmt: Select, keys: Sequence[Key], offset: int, limit: int | None,
          boundary: Select | None, after: tuple[Any, ...] | None, *, keyed: bool) -> KeyedPage:
    order = [c.desc() if desc else c.asc() for c, desc in keys]
    dialect = session.get_bind().dialect.name
    # SQLite keeps timestamps as text: compare the stored text itself, so the key read back matches the
    # row whatever format wrote it (a parsed and re-formatted timestamp need not be the same text).
    raw = [type_coerce(c, String()) if dialect == "sqlite" else c for c, _ in keys]
    page = stmt.add_columns(*(c.label(f"page_key_{i}") for i, c in enumerate(raw))) if keyed else stmt

    def done(rows: list[Row]) -> KeyedPage:
        if not keyed or not rows:
            return KeyedPage(rows, None)
        last = tuple(rows[-1][-len(raw):])
        return KeyedPage(rows, None if last[0] is None else last)

    if after is None and (offset < SEEK_FROM or limit is None):
        return done(list(session.execute(page.order_by(*order).offset(offset).limit(limit)).all()))
    if after is not None:
        _check_key(after, keys, dialect)
    first: Any = after
    if first is None:
        first = session.execute((boundary if boundary is not None else stmt).with_only_columns(*raw)
                                .order_by(*order).offset(offset).limit(1)).first()
        if first is None:
            return KeyedPage([], None)
        if first[0] is None:  # inside a run of rows without a sort key: no key to seek to
            return done(list(session.execute(page.order_by(*order).offset(offset).limit(limit)).all()))
    rows = list(session.execute(page.where(_from_key(raw, [d for _, d in keys], list(first)))
                                .order_by(*order).limit(limit)).all())
    lead, descending = keys[0]
    # Rows without a first sort key compare as nothing, so the seek skips them; they sort after every
    # key on PostgreSQL ascending (SQLite: descending) and finish the page when it reaches them.
    nulls_after = (dialect == "postgresql") != descending
    if limit is not None and len(rows) < limit and nulls_after and getattr(lead.expression, "nullable", True):
        rows += session.execute(page.where(lead.is_(None)).order_by(*order).limit(limit - len(rows))).all()
    return done(rows)


# --- cursors: a page's last key, handed on in the next page's address --------------------------------

_BAD_CURSOR = ("The cursor is not one this list gave, or belongs to another order of it. Follow the Link "
               "header's next address as given, or leave the cursor out and page by offset alone.")


def _order_tag(keys: Sequence[Key]) -> str:
    """The list's order, named in a cursor so that a cursor of one order is never read as another's."""
    return ",".join(f"{getattr(c, 'key', c)}:{'d' if desc else 'a'}" for c, desc in keys)


def encode_cursor(keys: Sequence[Key], key: tuple[Any, ...]) -> str:
    """``key`` (a ``KeyedPage.last_key`` of a list in the order ``keys``) as an opaque, URL-safe text."""
    values = [{"t": v.isoformat()} if isinstance(v, datetime) else v for v in key]
    text = json.dumps([_order_tag(keys), values], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(keys: Sequence[Key], cursor: str) -> tuple[Any, ...]:
    """The key ``encode_cursor`` wrote for a list in the order ``keys``; a cursor that is not such a key, or is of
    another order, is refused (ValidationFailed) with what to do instead."""
    try:
        tag, values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key = tuple(datetime.fromisoformat(v["t"]) if isinstance(v, dict) else v for v in values)
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed(_BAD_CURSOR) from None
    if tag != _order_tag(keys) or len(key) != len(keys) or key[0] is None or not all(
            isinstance(v, (str, datetime)) for v in key):
        raise ValidationFailed(_BAD_CURSOR)
    return key


def _check_key(key: tuple[Any, ...], keys: Sequence[Key], dialect: str) -> None:
    """A cursor's values as the database compares them (SQLite: the stored text of each; PostgreSQL: a time for a
    time column, a text for a text one, with no NUL, which PostgreSQL's text refuses); anything else is not a cursor
    this list gave, and must not reach the query (a text PostgreSQL cannot read as a time would fail it)."""
    for value, (column, _) in zip(key, keys, strict=True):
        kind = getattr(column, "type", None)
        wants_time = dialect != "sqlite" and isinstance(getattr(kind, "impl_instance", kind), DateTime)
        if isinstance(value, datetime) != wants_time or (isinstance(value, str) and "\x00" in value):
            raise ValidationFailed(_BAD_CURSOR)


def _from_key(columns: list[ColumnElement], descending: list[bool], values: list[Any]) -> ColumnElement[bool]:
    """Rows at or after ``values`` in the order: (a, b) >= (x, y) written as a >= x AND (a > x OR b >= y),
    which needs no row-value support and lets an index on (a, b) start at x."""
    column, value, desc = columns[0], values[0], descending[0]
    if len(columns) == 1:
        return column <= value if desc else column >= value
    rest = _from_key(columns[1:], descending[1:], values[1:])
    return and_(column <= value if desc else column >= value, or_(column < value if desc else column > value, rest))
