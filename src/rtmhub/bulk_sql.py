"""Bulk statements handed to the DBAPI's ``executemany`` as plain tuples (decision 37): for set-wise writes
of thousands of rows, SQLAlchemy's per-parameter bookkeeping cost more than the database's own work. On
PostgreSQL an INSERT goes in by ``COPY … FROM STDIN`` instead (decision 55): one statement for the batch
instead of one execution per row, the server's dearest part of a bulk import."""
from __future__ import annotations

from collections.abc import Callable, Hashable
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import JSON, DateTime, Insert, Update
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import CallableColumnDefault, ScalarElementColumnDefault
from sqlalchemy.types import TypeEngine


class _Plain(NamedTuple):
    """A compiled executemany: its SQL; the parameters (in the SQL's order) the rows give, read together;
    those a column default fills, by position; each value's bind processor, by position, with its answer
    for None worked out once and how its values may share a conversion (``_memo``); and the parameter names
    when the DBAPI takes dicts."""

    sql: str
    given: Callable[[dict[str, Any]], Any]
    defaults: list[tuple[int, Any, bool]]
    processors: list[tuple[int, Callable[[Any], Any], Any, tuple[str, str] | None]]
    names: list[str] | None
    copy: str | None  # PostgreSQL: the COPY statement that takes the rows as tuples in the SQL's order


_PLAIN: dict[tuple[Any, ...], _Plain | None] = {}
PLAIN_FROM_ROWS = 8  # fewer rows go through SQLAlchemy's executemany


class Prepared(NamedTuple):
    """A bulk statement with its rows already converted for the DBAPI (``prepare_many``): run by ``run_prepared``,
    in this process or another that has the same database (an import planned ahead, decision 64)."""

    sql: str
    copy: str | None
    rows: list[Any]


def execute_many(session: Session, stmt: Insert | Update, rows: list[dict[str, Any]]) -> None:
    """``session.execute(stmt, rows)`` with each value converted once by its column type's own bind
    processor (so the SQL and the stored values are SQLAlchemy's) and the rows handed to the DBAPI's
    ``executemany`` as plain tuples: SQLAlchemy's per-parameter bookkeeping cost a bulk import more than
    the database's own work. Every row has the keys of the first; a column left out gets its default
    (a value, or a function of no argument, as every default of these tables is). A statement with other
    defaults goes through SQLAlchemy as before."""
    if not rows:
        return
    if len(rows) < PLAIN_FROM_ROWS:
        # A handful of rows (one request's ledger change): compiling the statement for its cache key would
        # cost more than SQLAlchemy's own processing of them.
        session.execute(stmt, rows)
        return
    prepared = prepare_many(session.connection().dialect, stmt, rows)
    if prepared is None:
        session.execute(stmt, rows)
        return
    run_prepared(session, prepared)


def prepare_many(dialect: Dialect, stmt: Insert | Update, rows: list[dict[str, Any]]) -> Prepared | None:
    """``rows`` converted as ``execute_many`` converts them, for ``run_prepared``; None when the statement has no
    plain form (``execute_many`` hands such a one to SQLAlchemy)."""
    keys = tuple(rows[0])
    cache_key = (dialect.name, dialect.driver, _structure(stmt, dialect), keys)
    if cache_key not in _PLAIN:
        _PLAIN[cache_key] = _compile_plain(stmt, dialect, keys)
    plain = _PLAIN[cache_key]
    if plain is None:
        return None
    given, defaults, processors, names = plain.given, plain.defaults, plain.processors, plain.names
    # A value written many times in one call is converted once: a JSON list of strings (a task row's changed
    # columns) by its value, a time by its object (a new user's created, last_modified and package_assigned are
    # one instant; a batch's ledger intervals share one). A time's entry keeps the object alive, so that its id
    # cannot be another object's within the call.
    converted: dict[tuple[str, Any], tuple[Any, Any]] = {}
    out: list[Any] = []
    for row in rows:
        values = list(given(row))
        for index, default, per_row in defaults:
            values.insert(index, default(None) if per_row else default)
        for index, proc, for_none, memo in processors:
            value = values[index]
            if value is None:
                values[index] = for_none
                continue
            if memo is None:
                values[index] = proc(value)
                continue
            kind, family = memo
            if kind == "time":
                key: tuple[str, Any] = (family, id(value))
            elif type(value) is list and all(type(item) is str for item in value):
                # Only strings: equal lists of other items (1 and True) need not encode alike.
                key = (family, tuple(value))
            else:
                values[index] = proc(value)
                continue
            if key not in converted:
                converted[key] = (value, proc(value))
            values[index] = converted[key][1]
        out.append(tuple(values) if names is None or plain.copy else dict(zip(names, values, strict=True)))
    return Prepared(plain.sql, plain.copy, out)


def run_prepared(session: Session, prepared: Prepared) -> None:
    """A ``prepare_many`` statement on the session's connection, in its transaction."""
    conn = session.connection()
    if prepared.copy:
        _copy(conn, prepared.copy, prepared.rows)
    else:
        conn.exec_driver_sql(prepared.sql, prepared.rows)


def _structure(stmt: Insert | Update, dialect: Dialect) -> Hashable:
    """What a statement's plain form is cached under: SQLAlchemy's own cache key of its structure, which names
    its table, columns and binds (two statements differing only in a bind's name differ) but not the values bound
    in it, which a plain form never holds (``_compile_plain`` leaves such a statement to SQLAlchemy). It costs a
    tenth or less of compiling the statement, which each batch's statements, built anew, would otherwise be. A
    statement without a cache key is known by its compiled text and binds."""
    generate = getattr(stmt, "_generate_cache_key", None)
    structure = generate() if generate is not None else None
    if structure is not None:
        try:
            hash(structure.key)
        except TypeError:
            pass
        else:
            return "key", structure.key
    compiled = stmt.compile(dialect=dialect)
    return "sql", compiled.string, tuple(compiled.positiontup or compiled.binds)


def _copy(conn: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """``rows`` through COPY on the session's own connection (its transaction and SAVEPOINTs); a refusal is
    raised as SQLAlchemy's error of its kind, as ``executemany``'s is (an IntegrityError makes a batch fall
    back to row by row)."""
    driver = conn.connection.driver_connection
    assert driver is not None  # a live connection: the session holds it for its transaction
    try:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, None, exc, conn.dialect.loaded_dbapi.Error) from exc


def _compile_plain(stmt: Insert | Update, dialect: Dialect, keys: tuple[str, ...]) -> _Plain | None:
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
    if dialect.paramstyle not in ("qmark", "format", "pyformat", "named") or compiled.post_compile_params:
        return None
    prefetch = {c.key: c for c in (*compiled.insert_prefetch, *compiled.update_prefetch)}
    positional = compiled.positiontup is not None
    names = list(compiled.positiontup) if compiled.positiontup is not None else list(compiled.binds)
    given: list[str] = []
    defaults: list[tuple[int, Any, bool]] = []
    processors: list[tuple[int, Callable[[Any], Any], Any, tuple[str, str] | None]] = []
    for index, name in enumerate(names):
        if name in prefetch:
            column = prefetch[name]
            spec = column.default if isinstance(stmt, Insert) else column.onupdate
            if isinstance(spec, CallableColumnDefault):
                defaults.append((index, spec.arg, True))
            elif isinstance(spec, ScalarElementColumnDefault):
                defaults.append((index, spec.arg, False))
            else:
                return None
        elif name in keys:
            given.append(name)
        else:
            return None
        bind_type = compiled.binds[name].type
        proc = bind_type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            processors.append((index, proc, proc(None), _memo(bind_type)))
    if not given:
        return None
    getter = itemgetter(*given)
    return _Plain(compiled.string, getter if len(given) > 1 else lambda row: (getter(row),), defaults,
                  processors, None if positional else names, _copy_sql(stmt, dialect, names))


def _memo(bind_type: TypeEngine[Any]) -> tuple[str, str] | None:
    """How a column's values may share their conversion within a call: ("json", family) by value for JSON
    lists of strings, ("time", family) by object for times, None not at all. The family is the type as
    configured (its repr): columns of one family convert a value alike."""
    if isinstance(bind_type, JSON):
        return "json", repr(bind_type)
    if isinstance(getattr(bind_type, "impl_instance", bind_type), DateTime):
        return "time", repr(bind_type)
    return None


def _copy_sql(stmt: Insert | Update, dialect: Dialect, names: list[str]) -> str | None:
    """COPY for a plain INSERT into one table on PostgreSQL (no RETURNING, no ON CONFLICT), its columns in
    the order of ``names``; None otherwise."""
    if dialect.name != "postgresql" or not isinstance(stmt, Insert) or stmt._returning or stmt._post_values_clause:
        return None
    table = stmt.table
    columns = getattr(table, "c", None)
    if columns is None or any(name not in columns for name in names):
        return None
    quote = dialect.identifier_preparer
    return (f"COPY {quote.format_table(table)} ({', '.join(quote.format_column(columns[n]) for n in names)}) "
            "FROM STDIN")
