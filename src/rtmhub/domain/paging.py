"""Offset pages read by seeking: the `offset`/`max` contract of the API and pages, at the cost of a keyset.

A deep ``OFFSET`` makes the database fetch and throw away every row before the page: every heap row, and
for a joined query every join, on each request. ``fetch_page`` finds the page's first key instead (the
sort key and the unique id of the row at ``offset``) with a query that selects only those columns, which
an index holding the filter and sort columns answers without touching the table (an index-only scan),
then reads the page from that key on (``key >= first``), which the same index finds directly. The rows
are the ones ``OFFSET`` would give: the same filter, the same total order (the last key is unique), and
the first row is the one at ``offset``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, String, and_, or_, type_coerce
from sqlalchemy.orm import Session

# Below this offset, skipping the rows costs less than the extra query for the first key.
SEEK_FROM = 500

Key = tuple[Any, bool]  # (column, descending); the last key must be unique and never NULL


def fetch_page(session: Session, stmt: Select, keys: Sequence[Key], offset: int, limit: int | None,
               *, boundary: Select | None = None) -> list[Row]:
    """The rows of ``stmt`` ordered by ``keys``, ``limit`` of them from ``offset``. ``boundary``: a query
    that selects the same rows more cheaply (without a join that cannot drop any), used to find the
    first key; it must select exactly the rows ``stmt`` selects."""
    order = [c.desc() if desc else c.asc() for c, desc in keys]
    if offset < SEEK_FROM or limit is None:
        return list(session.execute(stmt.order_by(*order).offset(offset).limit(limit)).all())
    dialect = session.get_bind().dialect.name
    # SQLite keeps timestamps as text: compare the stored text itself, so the key read back matches the
    # row whatever format wrote it (a parsed and re-formatted timestamp need not be the same text).
    raw = [type_coerce(c, String()) if dialect == "sqlite" else c for c, _ in keys]
    first = session.execute((boundary if boundary is not None else stmt).with_only_columns(*raw)
                            .order_by(*order).offset(offset).limit(1)).first()
    if first is None:
        return []
    if first[0] is None:  # inside a run of rows without a sort key: no key to seek to
        return list(session.execute(stmt.order_by(*order).offset(offset).limit(limit)).all())
    rows = list(session.execute(stmt.where(_from_key(raw, [d for _, d in keys], list(first)))
                                .order_by(*order).limit(limit)).all())
    lead, descending = keys[0]
    # Rows without a first sort key compare as nothing, so the seek skips them; they sort after every
    # key on PostgreSQL ascending (SQLite: descending) and finish the page when it reaches them.
    nulls_after = (dialect == "postgresql") != descending
    if len(rows) < limit and nulls_after and getattr(lead.expression, "nullable", True):
        rows += session.execute(stmt.where(lead.is_(None)).order_by(*order).limit(limit - len(rows))).all()
    return rows


def _from_key(columns: list[ColumnElement], descending: list[bool], values: list[Any]) -> ColumnElement[bool]:
    """Rows at or after ``values`` in the order: (a, b) >= (x, y) written as a >= x AND (a > x OR b >= y),
    which needs no row-value support and lets an index on (a, b) start at x."""
    column, value, desc = columns[0], values[0], descending[0]
    if len(columns) == 1:
        return column <= value if desc else column >= value
    rest = _from_key(columns[1:], descending[1:], values[1:])
    return and_(column <= value if desc else column >= value, or_(column < value if desc else column > value, rest))
