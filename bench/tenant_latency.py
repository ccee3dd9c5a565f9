"""Other tenants' write latency while one customer's large CSV preview or import runs (issue 8 item 7).

    python bench/tenant_latency.py [--rows 200000] [--databases sqlite postgresql]

On a freshly migrated database with two customers, a worker process runs customer A's task (first the
preview, then the import of the same file, "Add and remove services"), while this process writes for
customer B — one user created per unit of work, as a web or API request would, with the request's busy
timeout (RTMHUB_SQLITE_BUSY_TIMEOUT_SECONDS) — one after another until the task ends. Printed: p50, p99
and max latency of B's writes, how many there were, and how many were refused (503, the lock not got in
time). The same writes on the idle database are the reference. Figures are printed, never asserted;
the issue's bound is 1 s per write.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bulk_import  # noqa: E402 - the same files and the same first customer as the throughput bench


def other_customer(url: str) -> str:
    from rtmhub.db import Database
    from rtmhub.domain.access.schemas import Caller
    from rtmhub.domain.customers import service as customers
    from rtmhub.domain.customers.schemas import CustomerCreate
    from rtmhub.domain.partners import service as partners

    db = Database(url)
    op = Caller.operator("bench")
    with db.unit_of_work() as s:
        p = partners.create_partner(s, op, f"Other Partner {uuid.uuid4().hex[:6]}")
        t = partners.create_template(s, op, p, "Other", "SE", "sv")
        c = customers.provision(s, op, CustomerCreate.model_validate({
            "provisioningId": t.provisioning_id, "packages": ["webex_meetings"], "externalId": "OTHER",
            "address": {"addressLine1": "Gatan 1", "city": "Malmö", "country": "SE"},
            "customerInfo": {"name": "Annan AB", "primaryEmail": "it@annan.example"}}), (p.id,))
        customer_id = c.id
    db.dispose()
    return customer_id


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def writes(url: str, customer_id: str, until, pause: float = 0.05) -> tuple[list[float], int]:
    """Customer B's writes, one unit of work each, until ``until()``; (latencies, refused)."""
    from rtmhub.db import Database
    from rtmhub.domain.access.schemas import Caller
    from rtmhub.domain.customers.models import Customer
    from rtmhub.domain.users import service as users
    from rtmhub.domain.users.schemas import UserFields
    from rtmhub.errors import Unavailable

    db = Database(url)
    op = Caller.operator("bench-other-tenant")
    latencies, refused = [], 0
    while not until():
        email = f"toinen.{uuid.uuid4().hex[:10]}@annan.example"
        started = time.perf_counter()
        try:
            with db.unit_of_work() as s:
                users.create_user(s, op, s.get(Customer, customer_id), UserFields(
                    email=email, first_name="Annan", last_name="Användare", package="webex_meetings"))
        except Unavailable:
            refused += 1
        latencies.append(time.perf_counter() - started)
        time.sleep(pause)
    db.dispose()
    return latencies, refused


def during(url: str, info: dict, path: Path, step: str, customer_id: str) -> tuple[list[float], int, float, str]:
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bulk_import.py"), "--child", step, "--url", url,
                              "--file", str(path), "--info", __import__("json").dumps(info), "--no-writes"],
                             stdout=subprocess.PIPE, text=True)
    latencies, refused = writes(url, customer_id, lambda: child.poll() is not None)
    out = child.stdout.read() if child.stdout else ""
    return latencies, refused, time.perf_counter() - started, out.strip().splitlines()[-1] if out.strip() else ""


def line(kind: str, label: str, latencies: list[float], refused: int, seconds: float | None, detail: str = "") -> None:
    ms = [v * 1000 for v in latencies] or [0.0]
    took = f"{seconds:8.1f}" if seconds is not None else f"{'':8}"
    print(f"{kind:<11}{label:<10}{took}{len(latencies):>8}{refused:>8}{percentile(ms, 0.5):>9.0f}"
          f"{percentile(ms, 0.99):>9.0f}{max(ms):>9.0f}  {detail}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--databases", nargs="+", default=["sqlite"])
    args = parser.parse_args()
    print(f"{args.rows} rows; customer B's writes (ms)")
    print(f"{'db':<11}{'during':<10}{'task s':>8}{'writes':>8}{'503s':>8}{'p50':>9}{'p99':>9}{'max':>9}  task")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for kind in args.databases:
            url, drop = bulk_import.fresh_url(kind, tmp)
            try:
                info = bulk_import.setup_database(url, int(args.rows * bulk_import.EXISTING_SHARE))
                other = other_customer(url)
                path = tmp / f"tenant-{args.rows}.csv"
                path.write_bytes(bulk_import.make_file(args.rows, info["site"]))
                deadline = time.perf_counter() + 3
                latencies, refused = writes(url, other, lambda end=deadline: time.perf_counter() > end)
                line(kind, "idle", latencies, refused, None)
                for step, label in (("preview", "preview"), ("apply", "import")):
                    latencies, refused, seconds, result = during(url, info, path, step, other)
                    line(kind, label, latencies, refused, seconds, result)
            finally:
                drop()


if __name__ == "__main__":
    main()
