"""Standalone `rtmhub worker` processes against the task queue, on SQLite and on PostgreSQL (issue 3, point 6).

* crash-resume: a worker is SIGKILLed mid-import; the database is consistent at that instant, another
  worker finishes the task, and the result equals an uninterrupted run of the same file;
* two workers at once: every task runs exactly once, and two tasks of one customer never overlap (R14);
* a file that turns out broken mid-way fails its task with a message, and the worker carries on.

Workers are real processes started with the `rtmhub` console script, configured only through the
environment (RTMHUB_DATABASE_URL, RTMHUB_TASK_BATCH_ROWS, RTMHUB_TASK_PREVIEW_BATCH_ROWS,
RTMHUB_TASK_LEASE_SECONDS, RTMHUB_INPROCESS_WORKER), so these tests exercise exactly what an operator runs.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, select, text

from rtmhub.db import Database
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.models import Customer, CustomerPackage
from rtmhub.domain.locations.models import Location
from rtmhub.domain.locations.service import list_locations
from rtmhub.domain.packages.models import BASE_LICENCES
from rtmhub.domain.tasks.models import FINISHED, Task, TaskRow
from rtmhub.domain.users import service as users
from rtmhub.domain.users.models import User
from rtmhub.domain.users.schemas import UserFields
from rtmhub.jobs.imports import submit_import

from conftest import build_world, customer_body, empty_tables
from tests.bulk_support import csv_bytes as bulk_csv_bytes

OPERATOR = Caller.operator("test")
WAIT_SECONDS = 60.0
BATCH_ROWS = 50
LEASE_SECONDS = 2
RTMHUB = Path(sys.executable).with_name("rtmhub")
REPO = Path(__file__).resolve().parents[1]

HEADERS = ["First Name", "Last Name", "Display Name", "User ID/Email (Required)", "Extension", "Phone Number",
           "Location", "Title", "Department", "Jabber Calling", "Jabber with Webex Teams", "Preferred Webex Site",
           "Webex Calling", "Webex Suite", "Webex Voice", "Webex Meetings", "Basic Messaging"]
PACKAGE_HEADERS = {"webex_calling": "Webex Calling", "webex_suite": "Webex Suite", "webex_voice": "Webex Voice",
                   "webex_meetings": "Webex Meetings"}


# --- worker processes ----------------------------------------------------------------------

@dataclass
class WorkerProcess:
    proc: subprocess.Popen
    log: Any  # the temp file that receives the worker's stderr (and stdout)
    label: str

    @property
    def name(self) -> str:
        """The worker name the process announced ("worker NAME started"), as stored in tasks.worker."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            for line in self.output().splitlines():
                if line.startswith("worker ") and line.endswith(" started"):
                    return line[len("worker "):-len(" started")]
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"{self.label} never announced its name:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


class Workers:
    """Starts worker processes; every one of them is killed at the end, whatever happened."""

    def __init__(self, db: Database):
        self.db = db
        self.started: list[WorkerProcess] = []

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(RTMHUB_DATABASE_URL=self.db.url, RTMHUB_INPROCESS_WORKER="false",
                   RTMHUB_TASK_BATCH_ROWS=str(BATCH_ROWS), RTMHUB_TASK_PREVIEW_BATCH_ROWS=str(BATCH_ROWS),
                   RTMHUB_TASK_LEASE_SECONDS=str(LEASE_SECONDS),
                   RTMHUB_CSV_MAX_ROWS="0", RTMHUB_LOG_SQL="false", PYTHONUNBUFFERED="1")
        env.update(extra)
        return env

    def start(self, label: str, *args: str) -> WorkerProcess:
        assert RTMHUB.exists(), f"console script not found at {RTMHUB}"
        log = tempfile.NamedTemporaryFile("w+", prefix=f"rtmhub-{label}-", suffix=".log", delete=False)
        proc = subprocess.Popen([str(RTMHUB), "worker", "--poll", "0.1", *args], env=self.env(), cwd=REPO,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        worker = WorkerProcess(proc, log, label)
        self.started.append(worker)
        return worker

    def logs(self) -> str:
        return "\n".join(f"----- {w.label} (pid {w.proc.pid}, exit {w.proc.poll()}) -----\n{w.output()}"
                         for w in self.started)

    def stop_all(self) -> None:
        for w in self.started:
            try:
                w.kill()
            except Exception:  # noqa: BLE001 - the others must still be killed
                pass
            w.log.close()
            Path(w.log.name).unlink(missing_ok=True)


@contextmanager
def workers(db: Database) -> Iterator[Workers]:
    pool = Workers(db)
    try:
        yield pool
    except BaseException:
        print(pool.logs())  # pytest shows it with the failure
        raise
    finally:
        pool.stop_all()


def wait_for(what: str, check: Callable[[], Any], pool: Workers, timeout: float = WAIT_SECONDS,
             interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def task_state(db: Database, task_id: str) -> SimpleNamespace:
    """The task's columns, read in a fresh transaction."""
    with db.unit_of_work(write=False) as s:
        task = s.get(Task, task_id)
        assert task is not None, f"task {task_id} is gone"
        return columns(task)


def columns(task: Task) -> SimpleNamespace:
    """A detached copy of a task's columns (a session's end expires the ORM object)."""
    return SimpleNamespace(**{c.key: getattr(task, c.key) for c in Task.__table__.columns})


def finished(db: Database, task_ids: list[str]) -> bool:
    with db.unit_of_work(write=False) as s:
        statuses = s.scalars(select(Task.status).where(Task.id.in_(task_ids))).all()
    return len(statuses) == len(task_ids) and all(st in FINISHED for st in statuses)


# --- data ------------------------------------------------------------------------------------

def csv_bytes(rows: list[dict[str, str]], headers: list[str] = HEADERS) -> bytes:
    return bulk_csv_bytes(rows, headers)


def user_row(email: str, package: str | None, *, first: str = "Etu", last: str = "Suku", ext: str = "",
             phone: str = "", location: str = "", site: str = "", title: str = "", department: str = "",
             jabber: str = "FALSE", messaging: str = "FALSE") -> dict[str, str]:
    row = {"First Name": first, "Last Name": last, "User ID/Email (Required)": email, "Extension": ext,
           "Phone Number": phone, "Location": location, "Title": title, "Department": department,
           "Jabber Calling": jabber, "Jabber with Webex Teams": "FALSE", "Preferred Webex Site": site,
           "Basic Messaging": messaging}
    for p, header in PACKAGE_HEADERS.items():
        row[header] = "TRUE" if p == package else "FALSE"
    return row


CRASH_ROWS = 3000
EXISTING = 450  # existing meetings users of customer ca that the file modifies or deletes
DOMAIN = "asiakas.example"


def crash_world(db: Database) -> tuple[str, str]:
    """World of conftest + allocations raised (voice kept small so it runs out mid-file) + existing users.
    Returns (customer id, site url)."""
    world = build_world(db)
    ca = world.raw["ca"]
    with db.unit_of_work() as s:
        customers.set_allocation(s, OPERATOR, ca, "webex_calling", 5000)
        customers.set_allocation(s, OPERATOR, ca, "webex_meetings", 5000)
        customers.set_allocation(s, OPERATOR, ca, "webex_voice", 100)
        customer = s.get(Customer, ca)
        for j in range(EXISTING):
            users.create_user(s, OPERATOR, customer, UserFields(
                email=f"old{j}@{DOMAIN}", first_name="Vanha", last_name=f"Käyttäjä{j}", package="webex_meetings"))
        site = customer.preferred_site_url
    return ca, site


def crash_file(site: str) -> bytes:
    """A mixed file: meetings users, calling/suite/voice users with extension, number and location, voice
    beyond its allocation, rows with errors, duplicates, modifies, moves to calling, deletes."""
    rows = []
    existing = iter(range(EXISTING))
    for i in range(CRASH_ROWS):
        k = i % 20
        email = f"new{i}@{DOMAIN}"
        ext, phone = str(10000 + i), f"+3589{i:07d}"
        if k < 8:
            rows.append(user_row(email, "webex_meetings", first=f"Kokous{i}", site=site if i % 3 else "",
                                 messaging="TRUE" if i % 2 else "FALSE"))
        elif k < 12:
            rows.append(user_row(email, "webex_calling", first=f"Soitto{i}", ext=ext, phone=phone,
                                 location="Helsinki HQ", site=site, jabber="TRUE"))
        elif k < 14:  # webex_voice: allocation 100, so the later ones are refused with the allocation
            rows.append(user_row(email, "webex_voice", first=f"Ääni{i}", ext=ext, location="Helsinki HQ"))
        elif k == 14:
            rows.append(user_row(email, "webex_suite", first=f"Sviitti{i}", ext=ext, phone=phone,
                                 location="Helsinki HQ", site=site))
        elif k == 15:  # errors, several kinds
            variant = (i // 20) % 5
            if variant == 0:
                rows.append(user_row(email, "webex_calling", ext=ext, phone=f"3589{i:07d}", location="Helsinki HQ"))
            elif variant == 1:
                rows.append(user_row(email, "webex_calling", ext=ext, location="Tampere"))
            elif variant == 2:
                rows.append(user_row(email, "webex_meetings", jabber="maybe"))
            elif variant == 3:
                rows.append(user_row("", "webex_meetings"))
            else:
                row = user_row(email, "webex_meetings")
                row["Webex Suite"] = "TRUE"
                rows.append(row)
        elif k == 16:  # modify an existing user
            j = next(existing)
            rows.append(user_row(f"old{j}@{DOMAIN}", "webex_meetings", first="Vanha", last=f"Käyttäjä{j}",
                                 title="Myyjä", department="Myynti"))
        elif k == 17:  # an existing meetings user moves to calling
            j = next(existing)
            rows.append(user_row(f"old{j}@{DOMAIN}", "webex_calling", first="Vanha", last=f"Käyttäjä{j}",
                                 ext=ext, phone=phone, location="Helsinki HQ"))
        elif k == 18:  # every package FALSE: delete (Add and remove services)
            j = next(existing)
            rows.append(user_row(f"old{j}@{DOMAIN}", None))
        else:  # the same e-mail on two rows: both are errors
            rows.append(user_row(f"dup{i // 40}@{DOMAIN}", "webex_meetings"))
    return csv_bytes(rows)


def queue_import(db: Database, customer_id: str, content: bytes, *, preview: bool = False,
                 mode: str = "add-remove", name: str = "users.csv") -> str:
    with db.unit_of_work() as s:
        return submit_import(s, OPERATOR, customer_id, file_name=name, content=content, mode=mode,
                             preview=preview).id


# --- snapshots -------------------------------------------------------------------------------

def consistency(db: Database, customer_id: str, task_id: str) -> dict[str, Any]:
    """Checks that hold at ANY committed instant of an import; returns what was seen."""
    with db.unit_of_work(write=False) as s:
        task = s.get(Task, task_id)
        for cp in s.scalars(select(CustomerPackage).where(CustomerPackage.customer_id == customer_id)):
            if cp.package in BASE_LICENCES:
                continue
            holders = s.scalar(select(func.count()).select_from(User).where(
                User.customer_id == customer_id, User.package == cp.package))
            assert holders == cp.used, f"{cp.package}: {holders} users hold it but used = {cp.used}"
            assert cp.allocation is None or cp.used <= cp.allocation, f"{cp.package} over its allocation"
        lines = s.scalars(select(TaskRow.line).where(TaskRow.task_id == task_id)).all()
        assert len(lines) == task.rows_done, f"{len(lines)} TaskRow rows but rows_done = {task.rows_done}"
        assert len(set(lines)) == len(lines), "a line has two results"
        assert max(lines, default=0) == task.last_line, "last_line is not the last line with a result"
        outcomes = Counter(s.scalars(select(TaskRow.outcome).where(TaskRow.task_id == task_id)))
        assert (outcomes["add"], outcomes["modify"], outcomes["delete"], outcomes["unchanged"],
                outcomes["error"]) == (task.added, task.modified, task.deleted, task.unchanged, task.failed)
        events = s.scalars(select(AuditEvent.action).where(AuditEvent.request_id == task_id)).all()
        assert len(events) == task.added + task.modified + task.deleted, \
            f"{len(events)} audit events for {task.added + task.modified + task.deleted} applied rows"
        return {"rows_done": task.rows_done, "status": task.status, "worker": task.worker}


def outcome(db: Database, customer_id: str, task_id: str) -> dict[str, Any]:
    """Everything an import leaves behind, without generated ids or timestamps."""
    with db.unit_of_work(write=False) as s:
        names = dict(s.execute(select(Location.id, Location.name)).all())
        people = {}
        for u in s.scalars(select(User).where(User.customer_id == customer_id)):
            people[u.email] = (u.first_name, u.last_name, u.display_name, u.package, u.extension, u.phone_number,
                               u.caller_id_first_name, u.caller_id_last_name, names.get(u.location_id),
                               u.title, u.department, u.preferred_site_url, u.jabber_calling, u.jabber_with_teams,
                               u.basic_messaging, u.basic_space_meetings, u.call_on_webex, u.status)
        used = {cp.package: (cp.used, cp.allocation) for cp in s.scalars(
            select(CustomerPackage).where(CustomerPackage.customer_id == customer_id))}
        t = s.get(Task, task_id)
        counts = {k: getattr(t, k) for k in ("status", "total_rows", "rows_done", "last_line", "added", "modified",
                                             "deleted", "unchanged", "failed", "warnings", "allocations",
                                             "message")}
        rows = [(r.line, r.email, r.outcome, r.changes, r.messages, r.cells)
                for r in s.scalars(select(TaskRow).where(TaskRow.task_id == task_id).order_by(TaskRow.line))]
        audit = Counter()
        for e in s.scalars(select(AuditEvent).where(AuditEvent.request_id == task_id)):
            audit[(e.action, (e.after or e.before or {}).get("email"))] += 1
    return {"users": people, "used": used, "task": counts, "rows": rows, "audit": audit}


# --- 1. crash and resume -------------------------------------------------------------------

_REFERENCES: dict[str, tuple[dict[str, Any], str]] = {}


def reference_run(db: Database) -> tuple[dict[str, Any], str]:
    """The crash file imported by one worker that is never interrupted (`--once`: run the queue, exit).
    Returns the outcome and the world's site url; the tables are emptied afterwards. Computed once per
    database and reused by the tests that compare against it."""
    if db.url not in _REFERENCES:
        _REFERENCES[db.url] = _reference_run(db)
    return _REFERENCES[db.url]


def _reference_run(db: Database) -> tuple[dict[str, Any], str]:
    ca, site = crash_world(db)
    task_id = queue_import(db, ca, crash_file(site))
    with workers(db) as pool:
        pool.start("reference", "--once")
        wait_for("the uninterrupted import", lambda: finished(db, [task_id]), pool)
        consistency(db, ca, task_id)
        reference = outcome(db, ca, task_id)
    t = reference["task"]
    assert t["status"] == "completed_with_errors" and t["total_rows"] == t["rows_done"] == CRASH_ROWS, t
    assert t["failed"] > 0 and t["added"] > 0 and t["modified"] > 0 and t["deleted"] > 0, t
    assert t["warnings"] > 0, t
    assert reference["used"]["webex_voice"] == (100, 100), "voice should have run out mid-file"
    assert all(n == 1 for n in reference["audit"].values()), "a user changed twice by one import"
    assert len(reference["audit"]) == t["added"] + t["modified"] + t["deleted"]
    assert len(reference["rows"]) == CRASH_ROWS
    empty_tables(db)
    return reference, site


def assert_same(got: dict[str, Any], got_site: str, want: dict[str, Any], want_site: str) -> None:
    """Equal results of two runs; the site url differs between worlds (it holds the org id)."""
    got, want = _replace_text(got, got_site, "<site>"), _replace_text(want, want_site, "<site>")
    assert got["task"] == want["task"]
    assert got["used"] == want["used"]
    assert got["audit"] == want["audit"]
    assert got["rows"] == want["rows"], _first_difference(got["rows"], want["rows"])
    assert got["users"].keys() == want["users"].keys()
    assert got["users"] == want["users"], _first_difference(sorted(got["users"].items()),
                                                            sorted(want["users"].items()))


def wait_midway(db: Database, task_id: str, worker: WorkerProcess, pool: Workers) -> None:
    """Until the worker has committed a few batches (and the task has not ended)."""
    def midway() -> bool:
        state = task_state(db, task_id)
        assert worker.alive(), f"{worker.label} died on its own"
        assert state.status not in FINISHED, \
            f"the task ended ({state.status}) before the worker could be interrupted; make the file larger"
        return state.rows_done >= CRASH_ROWS // 10
    wait_for("the import to be under way", midway, pool, interval=0.002)


def test_killed_worker_resumes_to_the_same_result(db):
    reference, ref_site = reference_run(db)

    # The same world and file again, and this time the worker is SIGKILLed mid-task.
    ca, site = crash_world(db)
    task_id = queue_import(db, ca, crash_file(site))
    with workers(db) as pool:
        first = pool.start("first")
        first_name = first.name
        wait_midway(db, task_id, first, pool)
        first.kill()
        seen = consistency(db, ca, task_id)  # what the crash left is consistent at this instant
        assert 0 < seen["rows_done"] < CRASH_ROWS, seen
        assert seen["status"] == "running" and seen["worker"] == first_name, seen

        second = pool.start("second")
        second_name = second.name
        wait_for("the resumed import", lambda: finished(db, [task_id]), pool)
        consistency(db, ca, task_id)
        resumed = outcome(db, ca, task_id)
        assert task_state(db, task_id).worker == second_name, "the second worker did not take the task over"
        assert second.alive(), "the second worker exited"
        assert "Traceback" not in second.output()
    assert_same(resumed, site, reference, ref_site)


def test_stalled_worker_whose_lease_lapsed_does_not_apply_rows_twice(db):
    """A worker frozen (SIGSTOP: a VM pause, a long GC) past its lease while another takes the task over,
    then thawed: the import still ends as the uninterrupted one, never failed, no row applied twice."""
    reference, ref_site = reference_run(db)

    ca, site = crash_world(db)
    task_id = queue_import(db, ca, crash_file(site))
    with workers(db) as pool:
        first = pool.start("first")
        first.name  # wait until it runs
        second = None
        took_over = False
        try:
            wait_midway(db, task_id, first, pool)
            # Frozen for longer than the lease: the second worker takes the task over. It cannot while the
            # frozen one holds the task in an open transaction (a batch locks the task row), so the freeze is
            # retried until it lands between two batches (PostgreSQL shows that in pg_stat_activity; on SQLite
            # it is thawed a moment to commit and frozen again), up to five lease waits.
            for _ in range(5):
                first.proc.send_signal(signal.SIGSTOP)
                for _ in range(2000):
                    if not _open_transactions(db):
                        break
                    first.proc.send_signal(signal.SIGCONT)
                    time.sleep(0.001)
                    first.proc.send_signal(signal.SIGSTOP)
                frozen = consistency(db, ca, task_id)["rows_done"]  # the frozen transaction is invisible
                if second is None:
                    second = pool.start("second")
                    second_name = second.name
                deadline = time.monotonic() + LEASE_SECONDS + 1.5
                while time.monotonic() < deadline and not took_over:
                    took_over = task_state(db, task_id).worker == second_name
                    time.sleep(0.05)
                if took_over or finished(db, [task_id]):
                    break
                first.proc.send_signal(signal.SIGCONT)
                time.sleep(0.05)
            assert took_over, "the second worker never took over the task of the frozen one"
            time.sleep(0.5)  # let the second worker get into the rows
        finally:
            first.proc.send_signal(signal.SIGCONT)
        wait_for("the import to finish", lambda: finished(db, [task_id]), pool)
        state = task_state(db, task_id)
        assert state.status != "failed", f"the task failed: {state.message}"
        # The thawed worker saw the task was no longer its own and left it: the second one ended it.
        assert state.worker == second_name, f"the task ended under {state.worker}, not the worker that took it over"
        consistency(db, ca, task_id)
        result = outcome(db, ca, task_id)
        assert first.alive() and second.alive(), "a worker exited"
        assert "Traceback" not in first.output() + second.output()
        assert 0 < frozen < CRASH_ROWS
    assert_same(result, site, reference, ref_site)


def _open_transactions(db: Database) -> int:
    """PostgreSQL: transactions open in this database other than the asking one (0 on SQLite: not known)."""
    if db.is_sqlite:
        return 0
    with db.engine.connect() as conn:
        return conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                "AND xact_start IS NOT NULL AND pid <> pg_backend_pid()")) or 0


def _replace_text(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, Counter):
        return Counter({_replace_text(k, old, new): v for k, v in value.items()})
    if isinstance(value, dict):
        return {_replace_text(k, old, new): _replace_text(v, old, new) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_replace_text(v, old, new) for v in value)
    return value


def _first_difference(a: list, b: list) -> str:
    for x, y in zip(a, b):
        if x != y:
            return f"first difference:\n  resumed:   {x}\n  reference: {y}"
    return f"lengths differ: {len(a)} vs {len(b)}"


# --- 2. two workers, no duplicates ---------------------------------------------------------

@dataclass
class Queued:
    task_id: str
    customer_id: str
    emails: list[str] = field(default_factory=list)
    preview: bool = False


def test_two_workers_run_every_task_once(db):
    world = build_world(db)
    r = world.raw
    queued: list[Queued] = []
    with db.unit_of_work() as s:
        for package, n in (("webex_calling", 5000), ("webex_meetings", 5000)):
            customers.set_allocation(s, OPERATOR, r["ca"], package, n)
        extra = []
        for n in range(3):
            c = customers.provision(s, OPERATOR, customer_body(
                r["ta"], f"A-EXTRA-{n}", f"Lisäasiakas {n} Oy", ["webex_calling", "webex_meetings"],
                {"webex_calling": 1000, "webex_meetings": 1000}), (r["pa"],))
            s.flush()
            list_locations(s, c)
            extra.append(c.id)

    def file_for(tag: str, n: int, ext_base: int, calling_every: int = 3) -> tuple[bytes, list[str]]:
        rows, emails = [], []
        for i in range(n):
            email = f"{tag}{i}@workers.example"
            emails.append(email)
            if i % calling_every == 0:
                rows.append(user_row(email, "webex_calling", first=f"W{i}", ext=str(ext_base + i),
                                     location="Helsinki HQ"))
            else:
                rows.append(user_row(email, "webex_meetings", first=f"W{i}"))
        return csv_bytes(rows), emails

    # Two imports of customer ca (R14: they must run one after the other), one for each extra customer,
    # and a preview for customer ca1 (nothing of it may be kept).
    # Files big enough (many batches each) that the second worker finds work while the first is busy.
    plan = [(r["ca"], "caone", 1500), (r["ca"], "catwo", 1500)] + [(c, f"x{n}", 1500) for n, c in enumerate(extra)]
    for number, (customer_id, tag, n) in enumerate(plan):
        content, emails = file_for(tag, n, 20000 + 10000 * number)
        queued.append(Queued(queue_import(db, customer_id, content, name=f"{tag}.csv"), customer_id, emails))
    content, emails = file_for("preview", 200, 30000, calling_every=10)  # 20 calling rows, allocation 5
    queued.append(Queued(queue_import(db, r["ca1"], content, preview=True, mode="add"), r["ca1"], emails,
                         preview=True))
    ids = [q.task_id for q in queued]
    with db.unit_of_work(write=False) as s:
        ca1_users_before = s.scalar(select(func.count()).select_from(User).where(User.customer_id == r["ca1"]))
        ca1_used_before = dict(s.execute(select(CustomerPackage.package, CustomerPackage.used)
                                         .where(CustomerPackage.customer_id == r["ca1"])).all())

    with workers(db) as pool:
        one, two = pool.start("one"), pool.start("two")
        names = {one.name, two.name}
        wait_for("every task to finish", lambda: finished(db, ids), pool)
        assert one.alive() and two.alive(), "a worker exited"
        output = one.output() + two.output()
        assert "Traceback" not in output and "locked" not in output, output

        with db.unit_of_work(write=False) as s:
            rows = {t.id: columns(t) for t in s.scalars(select(Task).where(Task.id.in_(ids)))}
            for q in queued:
                t = rows[q.task_id]
                assert t.status in ("completed", "completed_with_errors"), (t.status, t.message)
                assert t.worker in names, f"task taken by {t.worker}, not by one of {names}"
                assert t.total_rows == t.rows_done == len(q.emails)
                lines = s.scalars(select(TaskRow.line).where(TaskRow.task_id == t.id)).all()
                assert len(lines) == len(set(lines)) == t.total_rows, "a line has no result or two results"
                if q.preview:
                    assert (t.added, t.failed) == (len(q.emails) - 15, 15), (t.added, t.failed)
                    continue
                assert (t.added, t.failed) == (len(q.emails), 0), (t.added, t.failed, t.message)
                created = Counter(e.after["email"] for e in s.scalars(select(AuditEvent).where(
                    AuditEvent.request_id == t.id, AuditEvent.action == "user.create")))
                assert created == Counter(q.emails), "a user was created twice, or not at all"
                have = set(s.scalars(select(User.email).where(User.customer_id == q.customer_id,
                                                              User.email.in_(q.emails))))
                assert have == set(q.emails)
            # Every user once, across all tasks.
            all_emails = [e for q in queued if not q.preview for e in q.emails]
            assert s.scalar(select(func.count()).select_from(User).where(User.email.in_(all_emails))) == \
                len(all_emails)
            # The preview wrote nothing and consumed no allocation.
            assert s.scalar(select(func.count()).select_from(User).where(
                User.customer_id == r["ca1"])) == ca1_users_before
            assert dict(s.execute(select(CustomerPackage.package, CustomerPackage.used)
                                  .where(CustomerPackage.customer_id == r["ca1"])).all()) == ca1_used_before
            for customer_id in {q.customer_id for q in queued}:
                for cp in s.scalars(select(CustomerPackage).where(CustomerPackage.customer_id == customer_id,
                                                                  CustomerPackage.package.not_in(BASE_LICENCES))):
                    holders = s.scalar(select(func.count()).select_from(User).where(
                        User.customer_id == customer_id, User.package == cp.package))
                    assert holders == cp.used, (customer_id, cp.package, holders, cp.used)

        # Both workers took part (the queue is long enough), and each task ran once, by one worker.
        takers = Counter(rows[i].worker for i in ids)
        assert set(takers) == names, f"one worker did everything: {takers}"
        # R14: the two imports of customer ca never ran at the same time.
        a, b = sorted((rows[q.task_id] for q in queued[:2]), key=lambda t: t.started)
        assert a.finished <= b.started, f"two imports of one customer overlapped: {a.started}..{a.finished} " \
                                        f"and {b.started}..{b.finished}"


# --- 3. a file broken mid-way --------------------------------------------------------------

def test_broken_file_fails_the_task_and_the_worker_carries_on(db):
    world = build_world(db)
    ca = world.raw["ca"]
    with db.unit_of_work() as s:
        customers.set_allocation(s, OPERATOR, ca, "webex_meetings", 5000)
    good_rows = [user_row(f"ok{i}@broken.example", "webex_meetings") for i in range(300)]
    # Broken far beyond the header (and beyond the reader's first 64 KiB buffer): accepted at upload.
    header_line = len(",".join(HEADERS)) + 2
    nul = csv_bytes(good_rows[:200]) + b"x\x00y@broken.example,,,\r\n" + csv_bytes(good_rows[200:])[header_line:]
    unclosed = csv_bytes(good_rows) + b'"Never,closed,quote@broken.example\r\n'
    with workers(db) as pool:
        w = pool.start("worker")
        name = w.name
        broken_ids = [queue_import(db, ca, nul, name="nul.csv"), queue_import(db, ca, unclosed, name="quote.csv")]
        wait_for("the broken tasks to end", lambda: finished(db, broken_ids), pool)
        for task_id, expected in zip(broken_ids, ("NUL", "never closed")):
            t = task_state(db, task_id)
            assert t.status == "failed", (t.status, t.message)
            assert t.message and expected in t.message, t.message
            assert t.worker == name
        with db.unit_of_work(write=False) as s:
            assert s.scalar(select(func.count()).select_from(User).where(User.email.like("%@broken.example"))) == 0
        assert w.alive(), "the worker stopped after a failed task"
        assert "Traceback" not in w.output(), "a broken file is a task failure, not a worker error"
        good = queue_import(db, ca, csv_bytes(good_rows[:20]), name="good.csv")
        wait_for("the next task", lambda: finished(db, [good]), pool)
        t = task_state(db, good)
        assert (t.status, t.added, t.worker) == ("completed", 20, name), (t.status, t.added, t.message)
        assert w.alive()

