"""Helpers shared by the API robustness tests: the upstream error shape and a whole-database snapshot."""
from __future__ import annotations

from typing import Any

import rtmhub.models  # noqa: F401 - every table in Base.metadata
from rtmhub.db import Base, Database


# Bookkeeping, not data: a token's last use is recorded for every authenticated request, refused or
# not (decision 20), at most once a minute.
BOOKKEEPING = {("api_tokens", "last_used")}


def table_snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (bookkeeping columns left out), ordered by primary key: equal snapshots
    mean nothing was written."""
    snap: dict[str, list[tuple[Any, ...]]] = {}
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.c)
            columns = [c for c in table.c if (table.name, c.name) not in BOOKKEEPING]
            snap[table.name] = [tuple(r) for r in conn.execute(table.select().with_only_columns(*columns)
                                                               .order_by(*order)).all()]
    return snap


def diff(before: dict, after: dict) -> str:
    lines = []
    for name in before:
        if before[name] != after.get(name):
            lines.append(f"{name}: -{[r for r in before[name] if r not in after[name]]} "
                         f"+{[r for r in after[name] if r not in before[name]]}")
    return "; ".join(lines)


def assert_error_shape(resp, status: int | None = None, context: str = "") -> dict:
    """``{message, errors:[{description, errorCode}], trackingId}`` served as application/json."""
    where = f"{context}: {resp.request.method} {resp.request.url} -> {resp.status_code} {resp.text[:300]}"
    if status is not None:
        assert resp.status_code == status, where
    assert 400 <= resp.status_code < 500, where
    assert resp.headers.get("content-type", "").split(";")[0].strip() == "application/json", where
    body = resp.json()
    assert isinstance(body, dict) and set(body) == {"message", "errors", "trackingId"}, where
    assert isinstance(body["message"], str) and body["message"].strip(), where
    assert isinstance(body["errors"], list) and body["errors"], where
    for item in body["errors"]:
        assert isinstance(item, dict) and {"description", "errorCode"} <= set(item), where
        assert isinstance(item["description"], str) and item["description"], where
        assert isinstance(item["errorCode"], int) and not isinstance(item["errorCode"], bool), where
    assert isinstance(body["trackingId"], str) and body["trackingId"], where
    return body
