"""Bulk CSV benchmark: preview and apply of generated Control Hub files on SQLite and PostgreSQL.

    python bench/bulk_import.py [--rows 20000 100000] [--databases sqlite postgresql] [--repeat N] [--profile DIR]

For each database and size, every measurement runs in a fresh child process (so peak RSS is its
own) against a freshly migrated database holding one customer with some existing users:
  raw       the new users of the file inserted with the DBAPI alone: one ``executemany`` of plain tuples
            (``sqlite3`` / ``psycopg``) into the same ``users`` table, one transaction: the floor
  core      the same users through SQLAlchemy Core's executemany, 2,000 a batch (the baseline of
            earlier runs)
  preview   the dry-run task (validates every row through the services, writes nothing but results)
  apply     the import task (every row through the services, set-wise batches of up to 500 rows)
  writes    after the apply, in its child: the rows it inserted (new users, their package intervals and
            audit events, the task's row results) taken out again and inserted by the DBAPI alone, one
            ``executemany`` per table, one transaction: what the apply's inserts cost the database with no
            rule, ORM or batch commit in between. A lower bound of the apply's own time (its modifies,
            deletes and per-batch commits are left out), so apply rows/s can never exceed it.
The preview and apply run the task runner the CLI's ``rtmhub users import`` runs. Figures are printed,
never asserted. Targets (issue 12): preview >= 20,000 rows/s, apply >= 10,000 rows/s and within 12x of
raw (SQLite, 50,000 rows), apply >= 5,000 rows/s on PostgreSQL, peak RSS < 300 MB at 100,000 rows.
``--profile DIR`` writes a cProfile of each preview and apply child to DIR.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEP_CPU = [0.0]  # the timed part's CPU seconds (user and system, every thread) of the step just run
EXISTING_SHARE = 0.03  # users already in the customer (3% of the file); the file modifies and deletes them
PACKAGE_HEADERS = ["Webex Calling", "Webex Calling Standard", "Webex Suite", "Webex Voice", "Webex Meetings",
                   "Customer Assist"]
HEADERS = ["First Name", "Last Name", "Display Name", "User ID/Email (Required)", "Extension", "Phone Number",
           "Location", "Jabber Calling", "Jabber with Webex Teams", "Preferred Webex Site", *PACKAGE_HEADERS,
           "Basic Messaging", "Basic Space Meetings", "Call on Webex (1:1 call, non-PSTN)"]
FIRST = ["Aino", "Eero", "Helmi", "Juha", "Kaisa", "Lauri", "Maija", "Niko", "Oona", "Pekka", "Säde", "Töyry"]
LAST = ["Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Hämäläinen", "Laine", "Heikkinen", "Koskinen", "Järvinen"]


def make_file(rows: int, site: str, seed: int = 7) -> bytes:
    """A third calling users (extension + number), the rest meetings; 2% modify, 1% delete existing users."""
    rnd = random.Random(seed)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(HEADERS)
    modifies = int(rows * 0.02)
    deletes = int(rows * 0.01)
    for i in range(rows):
        fn, ln = rnd.choice(FIRST), rnd.choice(LAST)
        packages = ["FALSE"] * len(PACKAGE_HEADERS)
        if i < modifies:  # existing meetings users get a new display name
            email, ext, num, loc = f"existing{i}@bench.example", "", "", ""
            packages[4] = "TRUE"
            display = f"{fn} {ln} (muokattu)"
        elif i < modifies + deletes:  # all package columns FALSE: delete in Add and remove services
            email, ext, num, loc = f"existing{i}@bench.example", "", "", ""
            display = ""
        else:
            email = f"user{i}@bench.example"
            display = f"{fn} {ln}"
            if i % 3 == 0:
                packages[0] = "TRUE"
                ext, num, loc = str(100000 + i), f"+35850{1000000 + i:07d}", "HQ"
            else:
                packages[4] = "TRUE"
                ext, num, loc = "", "", ""
        w.writerow([fn, ln, display, email, ext, num, loc, "TRUE", "FALSE", site if any(p == "TRUE" for p in packages)
                    else "", *packages, "TRUE", "TRUE", "TRUE"])
    return out.getvalue().encode("utf-8")


def setup_database(url: str, existing: int) -> dict:
    """A migrated database with one customer, its location, and EXISTING meetings users."""
    from rtmhub.db import Database
    from rtmhub.domain.access.schemas import Caller
    from rtmhub.domain.customers import service as customers
    from rtmhub.domain.customers.schemas import CustomerCreate
    from rtmhub.domain.partners import service as partners
    from rtmhub.domain.users.models import User
    from rtmhub.migrate import upgrade

    upgrade(url)
    db = Database(url)
    op = Caller.operator("bench")
    with db.unit_of_work() as s:
        p = partners.create_partner(s, op, f"Bench Partner {uuid.uuid4().hex[:6]}")
        t = partners.create_template(s, op, p, "Bench", "FI", "fi")
        c = customers.provision(s, op, CustomerCreate.model_validate({
            "provisioningId": t.provisioning_id, "packages": ["webex_calling", "webex_meetings"],
            "externalId": "BENCH", "address": {"addressLine1": "Katu 1", "city": "Helsinki", "country": "FI"},
            "customerInfo": {"name": "Bench Oy", "primaryEmail": "it@bench-oy.example"},
            "provisioningParameters": {"calling": {"location": {"name": "HQ", "timezone": "Europe/Helsinki",
                                                                "language": "fi_fi", "address": {
                                                                    "addressLine1": "Katu 1", "city": "Helsinki",
                                                                    "country": "FI"}}}}}), (p.id,))
        site = c.preferred_site_url
        s.flush()
        s.execute(User.__table__.insert(), [
            {"id": str(uuid.uuid4()), "customer_id": c.id, "home_org_id": c.org_id,
             "email": f"existing{i}@bench.example", "email_key": f"existing{i}@bench.example",
             "first_name": "Vanha", "last_name": "Käyttäjä", "display_name": "Vanha Käyttäjä",
             "package": "webex_meetings", "basic_messaging": True, "basic_space_meetings": True,
             "call_on_webex": True, "jabber_calling": True, "jabber_with_teams": False,
             "preferred_site_url": site, "status": "provisioned"} for i in range(existing)])
        from sqlalchemy import update

        from rtmhub.domain.customers.models import CustomerPackage
        s.execute(update(CustomerPackage).where(CustomerPackage.customer_id == c.id,
                                                CustomerPackage.package == "webex_meetings").values(used=existing))
        info = {"customer_id": c.id, "org_id": c.org_id, "site": site}
    db.dispose()
    return info


def _new_users(info: dict, path: str) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["User ID/Email (Required)"].startswith("user")]
    from rtmhub.ids import new_uuid

    now = time.strftime("%Y-%m-%d %H:%M:%S.000000+00:00", time.gmtime())
    return [{
        "id": new_uuid(), "customer_id": info["customer_id"], "home_org_id": info["org_id"],  # rtmhub's ids
        "email": r["User ID/Email (Required)"], "email_key": r["User ID/Email (Required)"].lower(),
        "first_name": r["First Name"], "last_name": r["Last Name"], "display_name": r["Display Name"],
        "package": "webex_calling" if r["Webex Calling"] == "TRUE" else "webex_meetings",
        "extension": r["Extension"] or None, "phone_number": r["Phone Number"] or None,
        "basic_messaging": True, "basic_space_meetings": True, "call_on_webex": True,
        "jabber_calling": True, "jabber_with_teams": False, "status": "provisioned", "active": True,
        "created": now, "last_modified": now,
    } for r in rows]


def _dbapi(url: str):
    """A plain DBAPI connection to the bench database (SQLite as rtmhub sets it up) and its parameter mark."""
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.split("///", 1)[1])
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn, "?"
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)), "%s"


def _insert_sql(table: str, columns: list[str], mark: str) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(mark for _ in columns)})"


def run_raw(url: str, info: dict, path: str) -> float:
    """The file's new users inserted by the DBAPI alone (one executemany of tuples, one transaction):
    what the database itself costs, without any rule or library in between."""
    users = _new_users(info, path)
    columns = list(users[0])
    tuples = [tuple(u[c] for c in columns) for u in users]
    conn, mark = _dbapi(url)
    sql = _insert_sql("users", columns, mark)
    started, cpu = time.perf_counter(), cpu_seconds()
    cur = conn.cursor()
    cur.executemany(sql, tuples)
    conn.commit()
    elapsed = time.perf_counter() - started
    STEP_CPU[0] = cpu_seconds() - cpu
    conn.close()
    return elapsed


def run_baseline(url: str, info: dict, path: str) -> float:
    """Plain batched insert of the file's new users through SQLAlchemy Core (the earlier runs' baseline)."""
    from rtmhub.db import Database
    from rtmhub.domain.users.models import User

    db = Database(url)
    # The same rows as the raw insert; the timestamps are left to the columns' defaults, as the ORM would.
    users = [{k: v for k, v in u.items() if k not in ("created", "last_modified")} for u in _new_users(info, path)]
    started, cpu = time.perf_counter(), cpu_seconds()
    with db.unit_of_work() as s:
        for start in range(0, len(users), 2000):
            s.execute(User.__table__.insert(), users[start:start + 2000])
    elapsed = time.perf_counter() - started
    STEP_CPU[0] = cpu_seconds() - cpu
    db.dispose()
    return elapsed


WRITTEN_TABLES = ("users", "package_intervals", "audit_events", "task_rows")  # in an order the foreign keys allow


def table_ids(url: str) -> dict[str, set]:
    conn, _ = _dbapi(url)
    ids = {t: {r[0] for r in conn.execute(f"SELECT id FROM {t}")} for t in WRITTEN_TABLES}
    conn.close()
    return ids


def _as_parameter(value):
    """A value read back as the DBAPI's parameter again: psycopg reads JSON columns as dicts and lists."""
    if isinstance(value, (dict, list)):
        from psycopg.types.json import Json

        return Json(value)
    return value


def run_writes(url: str, before: dict[str, set]) -> tuple[float, int]:
    """The rows the apply inserted (those not there ``before`` it), taken out and inserted again by the DBAPI
    alone, one executemany per table in one transaction. Returns (seconds, rows inserted)."""
    conn, mark = _dbapi(url)
    cur = conn.cursor()
    written: dict[str, tuple[list[str], list[tuple]]] = {}
    for table in WRITTEN_TABLES:
        cur.execute(f"SELECT * FROM {table}")
        columns = [d[0] for d in cur.description]
        rows = [tuple(map(_as_parameter, r)) for r in cur.fetchall() if r[0] not in before[table]]
        written[table] = (columns, rows)
    for table in reversed(WRITTEN_TABLES):
        ids = [(r[0],) for r in written[table][1]]
        cur.executemany(f"DELETE FROM {table} WHERE id = {mark}", ids)
    conn.commit()
    started = time.perf_counter()
    for table in WRITTEN_TABLES:
        columns, rows = written[table]
        if rows:
            cur.executemany(_insert_sql(table, columns, mark), rows)
    conn.commit()
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed, sum(len(rows) for _, rows in written.values())


def cpu_seconds() -> float:
    """CPU time (user and system) of this process and of its children that have ended: an import planned ahead
    (decision 64) checks its rows in a process of its own."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def run_task(url: str, info: dict, path: str, preview: bool) -> tuple[float, dict]:
    from rtmhub.db import Database
    from rtmhub.domain.access.schemas import Caller
    from rtmhub.domain.tasks.models import Task
    from rtmhub.jobs.imports import submit_import
    from rtmhub.jobs.runner import run_pending

    db = Database(url)
    content = Path(path).read_bytes()
    with db.unit_of_work() as s:
        task = submit_import(s, Caller.operator("bench"), info["customer_id"], file_name="bench.csv",
                             content=content, mode="add-remove", preview=preview)
        task_id = task.id
    del content
    started, cpu = time.perf_counter(), cpu_seconds()
    while run_pending(db, "bench"):
        pass
    elapsed = time.perf_counter() - started
    STEP_CPU[0] = cpu_seconds() - cpu
    with db.unit_of_work(write=False) as s:
        t = s.get(Task, task_id)
        counts = {"status": t.status, "added": t.added, "modified": t.modified, "deleted": t.deleted,
                  "unchanged": t.unchanged, "failed": t.failed, "rows": t.rows_done}
    db.dispose()
    return elapsed, counts


def child(args: argparse.Namespace) -> None:
    info = json.loads(args.info)
    counts: dict = {}
    before = table_ids(args.url) if args.child == "apply" and not args.no_writes else {}
    if args.child == "raw":
        elapsed = run_raw(args.url, info, args.file)
    elif args.child == "core":
        elapsed = run_baseline(args.url, info, args.file)
    elif args.profile:
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
        elapsed, counts = run_task(args.url, info, args.file, preview=args.child == "preview")
        profile.disable()
        profile.dump_stats(args.profile)
    else:
        elapsed, counts = run_task(args.url, info, args.file, preview=args.child == "preview")
    cpu = STEP_CPU[0]
    # The step's, before the writes step; an import planned ahead (decision 64) also has its planner's, a process
    # of its own that has ended by now: the larger of the two.
    peak_mb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    if args.child == "apply" and not args.no_writes:
        counts["writes_seconds"], counts["writes_rows"] = run_writes(args.url, before)
    print(json.dumps({"seconds": elapsed, "peak_mb": peak_mb, "cpu_seconds": cpu, **counts}))


def fresh_url(kind: str, tmp: Path) -> tuple[str, callable]:
    if kind == "sqlite":
        path = tmp / f"bench-{uuid.uuid4().hex[:8]}.db"
        return f"sqlite:///{path}", lambda: None
    from sqlalchemy import create_engine, text

    base = os.environ.get("RTMHUB_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")
    name = f"rtmhub_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.rsplit("/", 1)[0] + "/" + name, drop


STEPS = ("raw", "core", "preview", "apply")


def measure(kind: str, rows: int, tmp: Path, profile: str | None) -> dict:
    results = {}
    for step in STEPS:
        url, drop = fresh_url(kind, tmp)
        try:
            info = setup_database(url, int(rows * EXISTING_SHARE))
            path = tmp / f"bench-{rows}.csv"
            path.write_bytes(make_file(rows, info["site"]))
            if step == "apply":
                # The apply runs on a database where the preview already ran, as a user would.
                subprocess.run([sys.executable, __file__, "--child", "preview", "--url", url, "--file", str(path),
                                "--info", json.dumps(info)], check=True, capture_output=True)
            extra = ["--profile", str(Path(profile) / f"{kind}-{rows}-{step}.prof")] if (
                profile and step in ("preview", "apply")) else []
            out = subprocess.run([sys.executable, __file__, "--child", step, "--url", url, "--file", str(path),
                                  "--info", json.dumps(info), *extra], check=True, capture_output=True, text=True)
            results[step] = json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            drop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--child")
    parser.add_argument("--url")
    parser.add_argument("--file")
    parser.add_argument("--info")
    parser.add_argument("--no-writes", action="store_true",
                        help="a child apply without the writes step after it (whose one long transaction would hold "
                             "SQLite's write lock: bench/tenant_latency.py measures the import alone)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of every step, each against the raw insert of its own round; with more than one, "
                             "a last line per step gives the medians and ranges")
    parser.add_argument("--profile", help="directory for a cProfile of each preview and apply (or, for a child, "
                                          "the file)")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)  # made here: a child could only fail to write there
    print(f"{'db':<11}{'rows':>8}  {'step':<9}{'seconds':>9}{'rows/s':>10}{'CPU s':>8}{'peak MB':>9}{'x raw':>8}  "
          "result")
    with tempfile.TemporaryDirectory() as tmpdir:
        for kind in args.databases:
            for rows in args.rows:
                rounds = []
                for _ in range(args.repeat):
                    rounds.append(measure(kind, rows, Path(tmpdir), args.profile))
                    show_round(kind, rows, rounds[-1])
                if len(rounds) > 1:
                    show_medians(kind, rows, rounds)


def show_round(kind: str, rows: int, r: dict) -> None:
    """One round's line per step: its time, rows/s, CPU time, peak RSS and time against the round's raw insert."""
    raw = r["raw"]["seconds"]
    for step in STEPS:
        m = r[step]
        rate = rows / m["seconds"] if m["seconds"] else 0
        ratio = m["seconds"] / raw if raw else 0
        detail = "" if step in ("raw", "core") else (
            f"{m['status']}: +{m['added']} ~{m['modified']} -{m['deleted']} ={m['unchanged']} !{m['failed']}")
        print(f"{kind:<11}{rows:>8}  {step:<9}{m['seconds']:>9.2f}{rate:>10.0f}{m['cpu_seconds']:>8.2f}"
              f"{m['peak_mb']:>9.0f}{ratio:>7.1f}x  {detail}", flush=True)
    if "writes_seconds" in r["apply"]:
        w = r["apply"]
        print(f"{kind:<11}{rows:>8}  {'writes':<9}{w['writes_seconds']:>9.2f}"
              f"{rows / w['writes_seconds']:>10.0f}{'':>17}{w['writes_seconds'] / raw:>7.1f}x  "
              f"{w['writes_rows']} rows the apply inserted, by the DBAPI alone", flush=True)


def show_medians(kind: str, rows: int, rounds: list[dict]) -> None:
    """Per step, the median of the rounds and their range: its rows/s, and its time against the raw insert of
    the same round (on a noisy machine the ratio to the floor holds better than the rate)."""
    def seconds(r: dict, step: str) -> float:
        return r["apply"]["writes_seconds"] if step == "writes" else r[step]["seconds"]

    steps = [*STEPS, "writes"] if all("writes_seconds" in r["apply"] for r in rounds) else list(STEPS)
    for step in steps:
        rates = sorted(rows / seconds(r, step) for r in rounds)
        ratios = sorted(seconds(r, step) / r["raw"]["seconds"] for r in rounds)
        print(f"{kind:<11}{rows:>8}  {step:<9}median of {len(rounds)}: {statistics.median(rates):,.0f} rows/s "
              f"({rates[0]:,.0f}-{rates[-1]:,.0f}), {statistics.median(ratios):.1f}x raw "
              f"({ratios[0]:.1f}-{ratios[-1]:.1f}x)", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
