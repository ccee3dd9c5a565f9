"""Billing report benchmark: a PARTNER report over 31 days for 10,000 customers and 1,000,000 users on
PostgreSQL (issue 11 item 7: under 60 s with flat memory).

    python bench/billing_report.py [--customers 10000] [--users 1000000] [--days 31] [--types PARTNER …]

A fresh PostgreSQL database (from RTMHUB_TEST_POSTGRES_URL or the local server) is migrated and its ledger
filled by SQL (generate_series): one customer holds a tenth of the users, the others share the rest; every
user has held a package for up to 150 days and one in ten changed package during the period, so the ledger
has about 1.1 intervals per user. Each report is written to a temporary file by the same function the
report worker calls. Baseline, measured in the same run: streaming the same intervals out of PostgreSQL
with a plain psycopg cursor and doing nothing with them. Figures are printed, never asserted: seconds,
lines, peak RSS of this process before and after (flat memory = the report adds little to it).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTNER_ID = "00000000-0000-4000-8000-00000000b111"
PACKAGES = ("webex_calling", "webex_meetings", "webex_suite")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill_ledger(conn, customers: int, users: int, today: date) -> None:
    """Ledger rows straight into the tables: the report reads nothing else."""
    big = users // 10
    rest = max(customers - 1, 1)
    midnight = f"TIMESTAMPTZ '{today.isoformat()} 00:00:00+00'"
    conn.execute(f"""
        INSERT INTO allocation_intervals (partner_id, customer_id, org_id, customer_name, external_id, package,
                                          allocation, started, ended)
        SELECT '{PARTNER_ID}', md5('c' || c)::uuid::text, md5('o' || c)::uuid::text, 'Customer ' || c,
               'EXT-' || c, p.package, CASE WHEN c = 0 THEN {big * 2} ELSE 150 END,
               {midnight} - INTERVAL '200 days', NULL
        FROM generate_series(0, {customers - 1}) AS c
        CROSS JOIN (VALUES {", ".join(f"('{p}')" for p in PACKAGES)}) AS p(package)""")
    # One user in ten changed package: its first interval closed some days ago and the next one opened then.
    conn.execute(f"""
        INSERT INTO package_intervals (partner_id, customer_id, user_id, email, package, started, ended)
        SELECT '{PARTNER_ID}', md5('c' || cust)::uuid::text, md5('u' || n)::uuid::text,
               'user' || n || '@bench-' || cust || '.example', pkg, started,
               CASE WHEN n % 10 = 0 THEN started + ((n % 40) + 1) * INTERVAL '1 day' END
        FROM (SELECT n, CASE WHEN n < {big} THEN 0 ELSE 1 + (n - {big}) % {rest} END AS cust,
                     (ARRAY{list(PACKAGES)})[1 + n % 3] AS pkg,
                     {midnight} - (n % 150 + 1) * INTERVAL '1 day' + (n % 1440) * INTERVAL '1 minute' AS started
              FROM generate_series(0, {users - 1}) AS n) AS g""")
    conn.execute("""
        INSERT INTO package_intervals (partner_id, customer_id, user_id, email, package, started, ended)
        SELECT partner_id, customer_id, user_id, email,
               CASE package WHEN 'webex_calling' THEN 'webex_suite' ELSE 'webex_calling' END, ended, NULL
        FROM package_intervals WHERE ended IS NOT NULL""")
    conn.execute("ANALYZE package_intervals")
    conn.execute("ANALYZE allocation_intervals")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--types", nargs="+", default=["PARTNER"], choices=["PARTNER", "CUSTOMER", "USER"])
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import psycopg
    from sqlalchemy import create_engine, text

    from rtmhub.db import Database
    from rtmhub.domain.billing.content import write_report
    from rtmhub.migrate import upgrade

    base = os.environ.get("RTMHUB_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")
    name = f"rtmhub_bench_billing_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url)
        today = datetime.now(UTC).date()
        end = today - timedelta(days=1)
        start = end - timedelta(days=args.days - 1)
        began = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            fill_ledger(conn, args.customers, args.users, today)
            intervals = conn.execute("SELECT count(*) FROM package_intervals").fetchone()[0]
        print(f"ledger: {args.customers:,} customers, {args.users:,} users, {intervals:,} intervals "
              f"generated in {time.perf_counter() - began:.1f} s; period {start} .. {end} ({args.days} days)")
        baseline = stream_baseline(url, start, end)
        print(f"baseline (stream the period's intervals, plain psycopg): {baseline:.1f} s")
        db = Database(url)
        for report_type in args.types:
            before = peak_mb()
            with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as out, \
                    db.unit_of_work(write=False) as session:
                began = time.perf_counter()
                lines = write_report(session, out, report_type, start, end, (PARTNER_ID,))
                elapsed = time.perf_counter() - began
                size = out.tell()
            print(f"{report_type:8} report: {elapsed:6.1f} s  {lines:>10,} lines  {size / 1e6:7.1f} MB  "
                  f"({elapsed / baseline:.1f}× baseline)  peak RSS {before:.0f} -> {peak_mb():.0f} MB  "
                  f"[goal for PARTNER: < 60 s]")
        db.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def stream_baseline(url: str, start: date, end: date) -> float:
    import psycopg

    began = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor(name="baseline") as cur:
        cur.itersize = 10_000
        cur.execute("SELECT customer_id, package, user_id, started, ended FROM package_intervals "
                    "WHERE started < %s AND (ended IS NULL OR ended > %s) "
                    "ORDER BY customer_id, package, user_id, started, id",
                    (end + timedelta(days=1), start))
        for _row in cur:
            pass
    return time.perf_counter() - began


if __name__ == "__main__":
    main()
