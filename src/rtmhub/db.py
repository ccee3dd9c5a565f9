"""Engine and unit of work. Services receive a Session and never commit; the edge does."""
from __future__ import annotations

import copy
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, cast

from sqlalchemy import DateTime, MetaData, Select, create_engine, event, make_url
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapper, Session, make_transient_to_detached, sessionmaker
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeDecorator

from rtmhub.checkpoints import WRITER_AUTOCHECKPOINT_PAGES, WalCheckpointer
from rtmhub.errors import Unavailable

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Timestamps are stored and returned as aware UTC datetimes on both databases."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Plan(NamedTuple):
    sql: str
    names: tuple[str, ...]  # the parameters in the SQL's order
    processors: tuple[Callable[[Any], Any] | None, ...]  # each one's bind processor, in the same order
    positional: bool  # the DBAPI takes a sequence (else a dict by name)
    constants: dict[str, Any]  # the values of parameters the statement holds itself (a caller's scope)


def run_driver_sql(conn: Connection, sql: str, values: Any) -> int:
    """Runs SQL on the connection's driver connection as a ``DriverStatement`` does (its cursor events, errors
    and echo); the number of rows it changed."""
    if conn._echo:
        return conn.exec_driver_sql(sql, values).rowcount
    cursor = DriverStatement._run(conn, sql, values)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


class DriverStatement:
    """A prebuilt one-row statement run on the session's own DBAPI connection (decision 57). It is compiled once
    per dialect and set of parameter names, and its values go through their columns' own bind processors, so the
    SQL and what is stored are SQLAlchemy's; what is left out is SQLAlchemy's execution around each call (its
    context, cache look-up and result set-up), which costs a statement of one row more than the database's own
    work. In the session's transaction and SAVEPOINTs, without an autoflush unless asked for (``flush``; as
    ``session.connection().execute`` otherwise); a refusal is raised as SQLAlchemy's error of its kind
    (``IntegrityError``, ``OperationalError``), and
    ``before_cursor_execute``/``after_cursor_execute`` listeners see the statement as any other (with the SQL
    echo on, the same SQL and values go through SQLAlchemy's ``exec_driver_sql``, which logs them). Rows come
    back as the driver gives them (no result processing): for columns of plain strings and numbers."""

    def __init__(self, statement: ClauseElement):
        self.statement = statement
        self._plans: dict[tuple[Dialect, tuple[str, ...]], _Plan] = {}

    def execute(self, session: Session, params: Mapping[str, Any], *, flush: bool = False) -> int:
        """Runs the statement; the number of rows it changed. ``flush``: pending changes are written first, as
        the session's own execution would (an allocation or a site set earlier in the transaction counts)."""
        if flush:
            session.flush()
        conn = session.connection()
        return run_driver_sql(conn, *self._prepare(conn, params))

    def rows(self, session: Session, params: Mapping[str, Any], *, flush: bool = False) -> list[tuple[Any, ...]]:
        """Runs the query; its rows as the driver's tuples. ``flush`` as for ``execute``."""
        if flush:
            session.flush()
        conn = session.connection()
        sql, values = self._prepare(conn, params)
        if conn._echo:
            return [tuple(row) for row in conn.exec_driver_sql(sql, values)]
        cursor = self._run(conn, sql, values)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    def _prepare(self, conn: Connection, params: Mapping[str, Any]) -> tuple[str, Any]:
        """The SQL and the driver's parameters for ``params``."""
        dialect = conn.dialect
        key = (dialect, tuple(params))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan(dialect, key[1])
        if plan.constants:
            params = {**plan.constants, **params}
        values: Any = [params[name] if proc is None else proc(params[name])
                       for name, proc in zip(plan.names, plan.processors, strict=True)]
        return plan.sql, (tuple(values) if plan.positional else dict(zip(plan.names, values, strict=True)))

    @staticmethod
    def _run(conn: Connection, sql: str, values: Any) -> Any:
        dialect = conn.dialect
        dispatch = conn.dispatch
        driver = conn.connection.driver_connection
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            if dispatch.before_cursor_execute:
                for listener in dispatch.before_cursor_execute:
                    sql, values = listener(conn, cursor, sql, values, None, False)
            cursor.execute(sql, values)
            if dispatch.after_cursor_execute:
                for listener in dispatch.after_cursor_execute:
                    listener(conn, cursor, sql, values, None, False)
        except dialect.loaded_dbapi.Error as exc:
            cursor.close()
            raise DBAPIError.instance(sql, values, exc, dialect.loaded_dbapi.Error) from exc
        return cursor

    def _plan(self, dialect: Dialect, keys: tuple[str, ...]) -> _Plan:
        # for_executemany: no implicit RETURNING of an INSERT's generated key (nothing reads it back).
        compiled = cast(SQLCompiler, self.statement.compile(dialect=dialect, column_keys=list(keys),
                                                            for_executemany=True))
        if compiled.insert_prefetch or compiled.update_prefetch or compiled.post_compile_params or \
                compiled.returning:
            raise ValueError("a DriverStatement takes every value from its parameters and returns no rows")
        positional = compiled.positiontup is not None
        names = tuple(compiled.positiontup if compiled.positiontup is not None else compiled.binds)
        constants = {name: compiled.binds[name].effective_value for name in names
                     if name not in keys and not compiled.binds[name].required}
        unknown = [name for name in names if name not in keys and name not in constants]
        if unknown:
            raise ValueError(f"no value given for {', '.join(unknown)}")
        processors = tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
        sql = compiled.string
        if not positional and compiled.escaped_bind_names:
            raise ValueError("bind names that need escaping are not supported")
        return _Plan(sql, names, processors, positional, constants)


class DriverEntities:
    """A query of whole mapped objects (``select(A, B)``, B perhaps outer-joined) run as a ``DriverStatement``, its
    row turned into the session's objects as the ORM's loader turns it (decision 68): each column through its
    type's result processor; an object already in the session's identity map returned as it is (the loader does
    not overwrite one either); a new one made persistent as loaded, with nothing pending, so no flush writes it
    back; an outer join's missing entity as None. Pending changes are flushed first unless autoflush is off, as
    the session's own execution does. What is left out is the ORM's execution around the one row (its compile
    cache look-up, context and result set-up), which cost a customer's look-up over ten times the statement."""

    def __init__(self, statement: Select, *entities: type):
        self._mappers = [cast(Mapper, sa_inspect(entity)) for entity in entities]
        self._attributes = [[(prop.key, prop.columns[0]) for prop in mapper.column_attrs] for mapper in self._mappers]
        # Where each entity's primary key lies among its columns, in the mapper's key order (a composite key's too).
        self._keys = [[[column for _key, column in attributes].index(column) for column in mapper.primary_key]
                      for mapper, attributes in zip(self._mappers, self._attributes, strict=True)]
        columns = [column for attributes in self._attributes for _key, column in attributes]
        self._statement = DriverStatement(statement.with_only_columns(*columns))
        self._processors: dict[Dialect, list[list[Callable[[Any], Any] | None]]] = {}

    def first(self, session: Session, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row's objects (a tuple, one per entity), or None when the query finds nothing."""
        rows = self._statement.rows(session, params, flush=session.autoflush)
        if not rows:
            return None
        dialect = session.get_bind().dialect
        processors = self._processors.get(dialect)
        if processors is None:
            processors = self._processors[dialect] = [
                [column.type.dialect_impl(dialect).result_processor(dialect, None) for _key, column in attributes]
                for attributes in self._attributes]
        row, start, objects = rows[0], 0, []
        for mapper, attributes, keys, procs in zip(self._mappers, self._attributes, self._keys, processors,
                                                   strict=True):
            values = [value if proc is None or value is None else proc(value)
                      for proc, value in zip(procs, row[start:start + len(attributes)], strict=True)]
            start += len(attributes)
            objects.append(self._object(session, mapper, attributes, values, tuple(values[i] for i in keys)))
        return tuple(objects)

    @staticmethod
    def _object(session: Session, mapper: Mapper, attributes: list, values: list, identity: tuple) -> Any:
        if any(value is None for value in identity):
            return None  # the outer join found none
        known = session.identity_map.get(mapper.identity_key_from_primary_key(identity))
        if known is not None:
            return known
        instance = mapper.class_manager.new_instance()
        instance.__dict__.update(zip((key for key, _column in attributes), values, strict=True))
        make_transient_to_detached(instance)
        session.add(instance)
        return instance


# anyio's default limit of worker threads, which run FastAPI's sync endpoints and dependencies.
SQLITE_POOL_SIZE = 40


def sqlite_file(url: str) -> str | None:
    """The file of a SQLite database URL; None for PostgreSQL and for an in-memory SQLite database."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    return None if not database or database == ":memory:" or "mode=memory" in url else database


def make_engine(url: str, echo: bool = False, busy_timeout: float = 5.0, gate: WriteGate | None = None,
                background_checkpoints: bool = False) -> Engine:
    """``gate``: the queue of SQLite's writers in this process (made here when not given).
    ``background_checkpoints``: a thread checkpoints the WAL, so its writers need not (decision 68)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # As many connections as the threads that may ask for one at once (the request threadpool and the
        # in-process worker): a request then never queues for a connection behind a reader, and a
        # connection costs SQLite a file handle and a page cache, not a server process (decision 38).
        # (An in-memory database has one connection per thread and no pool to size.)
        in_memory = sqlite_file(url) is None
        # Last in, first out: a writer, which takes its connection only once the gate is its own
        # (Database.unit_of_work), gets the one the writer before it has just given back. That connection's
        # page cache holds the pages the last commit wrote; any other's SQLite empties when it begins (the
        # database changed since its last transaction) and reads them again (decision 57).
        pool = {} if in_memory else {"pool_size": SQLITE_POOL_SIZE, "max_overflow": 10, "pool_use_lifo": True}
        engine = create_engine(url, echo=echo, connect_args={"timeout": busy_timeout, "check_same_thread": False},
                               **pool)
        _tune_sqlite(engine, busy_timeout, gate or WriteGate(), background_checkpoints)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _tune_sqlite(engine: Engine, busy_timeout: float, gate: WriteGate, background_checkpoints: bool) -> None:
    default_ms = int(busy_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy, not the driver, decide when a transaction starts (see _on_begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={default_ms}")
        cur.execute("PRAGMA synchronous=NORMAL")
        if background_checkpoints:
            # The WAL is checkpointed by a thread of its own (checkpoints.py); a writer's commit only past this.
            cur.execute(f"PRAGMA wal_autocheckpoint={WRITER_AUTOCHECKPOINT_PAGES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # A writing transaction takes the write lock up front: a deferred one that reads first
        # fails with "database is locked" instead of waiting when another writer got in between.
        options = conn.get_execution_options()
        wait_ms = options.get("rtmhub_busy_ms", default_ms)
        if options.get("rtmhub_write"):
            _begin_gated(conn, gate, wait_ms, default_ms)
        else:
            conn.exec_driver_sql("BEGIN")

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn, record):
        _release_gate(record.info)

    # The reset event's current signature (with the reset state): the two-argument form is SQLAlchemy's
    # deprecated one, which it serves through a wrapper that issues a deprecation warning on every return.
    @event.listens_for(engine, "reset")
    def _on_reset(_dbapi_conn, record, _reset_state):
        _release_gate(record.info)

    @event.listens_for(engine, "invalidate")
    def _on_invalidate(_dbapi_conn, record, _exc):
        _release_gate(record.info)


GATE_HELD = "rtmhub_write_gate"


# Readers of one SQLite database at a time in a process (see Database.__init__).
SQLITE_READERS = 4


class WriteGate:
    """A lock that hands itself to its waiters in arrival order. A plain lock lets a newly arrived thread
    take it again and again ahead of one that has waited for seconds (measured: requests answered 503 after
    the whole busy timeout while others got through in milliseconds).

    Taken either by a connection as its writing transaction begins (``_begin_gated``; given back when the
    connection returns to the pool) or, before it has a connection, by a thread's writing unit of work
    (``hold``/``let_go``): the connections that thread's transactions then begin on go straight to SQLite."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()
        # The threads whose unit of work holds the gate, each with the deadline of its first BEGIN (None once
        # asked). By thread id, not thread-local: a unit of work that ends on another thread still lets go.
        self._holders: dict[int, float | None] = {}

    def hold(self, timeout: float) -> int | None:
        """Take the gate for this thread's unit of work, waiting up to ``timeout`` seconds: the holder to give
        ``let_go``, or None when an outer unit of work of this thread holds it already (nothing to let go).
        Raises ``Unavailable`` when the wait runs out, as a transaction that did not get the lock in time does."""
        if self.held_here():
            return None
        deadline = time.monotonic() + max(timeout, 0)
        if not self.acquire(timeout=max(timeout, 0)):
            raise unavailable(_gate_not_got())
        holder = threading.get_ident()
        self._holders[holder] = deadline
        return holder

    def held_here(self) -> bool:
        return threading.get_ident() in self._holders

    def begin_deadline(self) -> float | None:
        """When this thread's first BEGIN IMMEDIATE under its hold must have got SQLite's lock: the wait for the
        gate and for SQLite together keep to the unit of work's one timeout. None: not held by this thread, or
        asked already (a later transaction of the hold waits its own timeout)."""
        me = threading.get_ident()
        deadline = self._holders.get(me)
        if deadline is not None:
            self._holders[me] = None
        return deadline

    def let_go(self, holder: int) -> None:
        del self._holders[holder]
        self.release()

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            waiter = threading.Lock()
            waiter.acquire()
            self._waiters.append(waiter)
        if waiter.acquire(timeout=timeout):
            return True  # handed over by release()
        with self._mutex:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                return False
        return True  # handed over just as the wait ran out: ours now

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # stays held, by the next in line
            else:
                self._held = False


def _begin_gated(conn, gate: WriteGate, wait_ms: float, default_ms: int) -> None:
    """The process's writers queue on ``gate`` and only its holder polls SQLite for the lock (decision 38).
    Dozens of request threads each polling every 2 ms kept the GIL from the one thread that held the lock,
    and so stretched every write transaction. The wait for the gate counts against the same ``wait_ms``;
    the gate is held until the connection goes back to the pool, after the commit or rollback. A unit of
    work's connection finds the gate held by its thread already (``WriteGate.hold``), which lets it go."""
    info = conn.info
    deadline = time.monotonic() + wait_ms / 1000
    if gate.held_here():  # the thread's unit of work queued for it before it took this connection
        deadline = gate.begin_deadline() or deadline
    elif GATE_HELD not in info:
        if not gate.acquire(timeout=max(wait_ms / 1000, 0)):
            raise _gate_not_got()
        info[GATE_HELD] = gate
    try:
        _begin_immediate(conn, max((deadline - time.monotonic()) * 1000, 0), default_ms)
    except BaseException:
        _release_gate(info)
        raise


def _release_gate(info: dict) -> None:
    gate: WriteGate | None = info.pop(GATE_HELD, None)
    if gate is not None:
        gate.release()


LOCK_POLL_SECONDS = 0.002


def _begin_immediate(conn, wait_ms: float, default_ms: int) -> None:
    """BEGIN IMMEDIATE, waiting up to ``wait_ms`` for the write lock (a request briefly, then 503; a worker
    longer: decision 23). Polled every 2 ms by us rather than by SQLite's busy handler, which sleeps up to
    100 ms between tries: a writer waiting behind an import's batches would mostly wake while the next
    batch already holds the lock, and wait many batches. Other statements keep the connection's timeout."""
    deadline = time.monotonic() + wait_ms / 1000
    # The two PRAGMAs go to the driver's connection: through SQLAlchemy each cost what a query's events,
    # logging and result set-up cost, on every writing transaction. BEGIN goes as a DriverStatement's SQL does:
    # SQLAlchemy's errors and cursor events, without its execution context.
    driver = conn.connection.dbapi_connection
    driver.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                run_driver_sql(conn, "BEGIN IMMEDIATE", ())
                return
            except OperationalError as exc:
                if not is_locked(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(LOCK_POLL_SECONDS)
    finally:
        driver.execute(f"PRAGMA busy_timeout={int(default_ms)}")


LOCKED = ("database is locked", "database is busy", "database table is locked")


def is_locked(exc: BaseException) -> bool:
    """SQLite gave up waiting for a lock (busy timeout)."""
    return isinstance(exc, OperationalError) and any(text in str(exc.orig).lower() for text in LOCKED)


def _gate_not_got() -> OperationalError:
    """The write gate not got in time, told as SQLite tells a lock it did not get (unit_of_work's 503)."""
    return OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))


def unavailable(exc: BaseException) -> Unavailable:
    return Unavailable("The database is busy with another change; try again in a few seconds.", retry_after=2)


class Database:
    """``busy_timeout``/``worker_busy_timeout``: seconds a request / a task worker waits for SQLite's write
    lock (default: the settings ``RTMHUB_SQLITE_BUSY_TIMEOUT_SECONDS`` and
    ``RTMHUB_SQLITE_WORKER_BUSY_TIMEOUT_SECONDS``). ``for_workers()`` is the same database whose units of
    work wait the workers' time."""

    def __init__(self, url: str, echo: bool = False, busy_timeout: float | None = None,
                 worker_busy_timeout: float | None = None, background_checkpoints: bool = False):
        if busy_timeout is None or worker_busy_timeout is None:
            from rtmhub.settings import get_settings  # here: settings are read only when not given

            settings = get_settings()
            busy_timeout = busy_timeout or settings.sqlite_busy_timeout_seconds
            worker_busy_timeout = worker_busy_timeout or settings.sqlite_worker_busy_timeout_seconds
        self.url = url
        self.busy_timeout, self.worker_busy_timeout = busy_timeout, worker_busy_timeout
        gate = WriteGate()
        file = sqlite_file(url) if background_checkpoints else None
        # A file of a server process's (decision 68); not a CLI command's or a task worker's, which commit in large
        # batches and fork their planners only while they run one thread (jobs/ahead.py).
        self._checkpointer = WalCheckpointer(file) if file is not None else None
        self.engine = make_engine(url, echo=echo, busy_timeout=busy_timeout, gate=gate,
                                  background_checkpoints=self._checkpointer is not None)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        # A writing unit of work queues at the gate before it takes a connection (decision 57).
        self._gate = gate if self.is_sqlite else None
        # SQLite gives up the GIL on every row it steps; with the threadpool's 40 threads reading at once,
        # each row waits for the GIL again and a 1 ms page takes tens (measured: 59 req/s for a 100-item
        # page at 32 connections; 117 with 4 readers, 134 with 2). A few readers at a time keep that convoy
        # short while one long read (an export) still leaves the others room. Writers queue at the gate.
        self._readers = threading.BoundedSemaphore(SQLITE_READERS) if self.is_sqlite else None
        self._read_holders: set[int] = set()  # threads inside a limited read: a nested read does not wait
        # A request's wait for the write gate or a reader's place; the workers' view waits longer.
        self._wait = busy_timeout
        self._bind(self.engine)
        self._workers: Database | None = None

    def _bind(self, engine: Engine) -> None:
        self._read = sessionmaker(bind=engine, expire_on_commit=False)
        self._write = sessionmaker(bind=engine.execution_options(rtmhub_write=True), expire_on_commit=False)

    def for_workers(self) -> Database:
        """The same engine and pool, with the workers' longer wait for the write lock."""
        if self._workers is None:
            view = copy.copy(self)
            view._bind(self.engine.execution_options(rtmhub_busy_ms=int(self.worker_busy_timeout * 1000)))
            view._wait = self.worker_busy_timeout
            view._workers = view
            self._workers = view
        return self._workers

    @contextmanager
    def unit_of_work(self, write: bool = True) -> Iterator[Session]:
        """One transaction: committed when the block ends normally, rolled back otherwise. SQLite's
        "database is locked" (the busy timeout ran out) becomes ``Unavailable``: 503 with Retry-After."""
        reader = self._enter_read() if not write else None
        # SQLite: a writer queues for the write gate first and only then takes a connection from the pool, the
        # one the last writer gave back (LIFO, see make_engine): while it waits it holds none, and it begins on
        # a connection whose page cache is current, not on one of 30 others whose cache SQLite empties and
        # fills again (under load that doubled the CPU of a provisioning's statements; decision 57).
        holder = self._gate.hold(self._wait) if write and self._gate is not None else None
        session = (self._write if write else self._read)()
        try:
            yield session
            if write:
                session.commit()
                if self._checkpointer is not None:
                    self._checkpointer.committed()
            # A read ends with close() below, which rolls the connection's transaction back without the
            # session's rollback, which first expires every row it loaded (a tenth of a 100-item page's time).
        except OperationalError as exc:
            session.rollback()
            if is_locked(exc):
                raise unavailable(exc) from exc
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            try:
                session.close()  # the connection goes back to the pool: the next writer's, LIFO
            finally:
                if holder is not None:
                    self._gate.let_go(holder)  # type: ignore[union-attr]
                if reader is not None:
                    self._read_holders.discard(reader)  # by id: a streamed read may end on another thread
                    self._readers.release()  # type: ignore[union-attr]

    def _enter_read(self) -> int | None:
        """Take a reader's place (SQLite), waiting as long as a writer of this view waits for the lock (a
        request briefly, a task worker longer); None when not limited (PostgreSQL, or this thread already
        reads)."""
        me = threading.get_ident()
        if self._readers is None or me in self._read_holders:
            return None
        if not self._readers.acquire(timeout=self._wait):
            raise Unavailable("The database is busy with other reads; try again in a few seconds.", retry_after=2)
        self._read_holders.add(me)
        return me

    @contextmanager
    def dry_run(self) -> Iterator[Session]:
        """A writing transaction that is always rolled back: prechecks run the real rules, write nothing."""
        session = self._write()
        try:
            yield session
        except OperationalError as exc:
            if is_locked(exc):
                raise unavailable(exc) from exc
            raise
        finally:
            session.rollback()
            session.close()

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()
