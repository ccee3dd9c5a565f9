"""The API under load (issue 12): rtmhub and a bare FastAPI endpoint driven by the same load generator.

    python bench/api_load.py [--duration 10] [--connections 32] [--workers 1]
                             [--database sqlite|postgresql] [--postgresql-url URL] [--port 8621]

Needs ``wrk`` (Debian: ``apt-get install wrk``). On a fresh database loaded with the demo data (three
customers, 200 users), one ``rtmhub serve`` (``--workers N`` app processes) answers

- reads: ``GET /v1/wholesale/subscribers?max=100`` (a full page of 100 subscribers), and the same page
  shape from a bare FastAPI app defined here (one uvicorn process, a plain ``def`` endpoint returning the
  dict, FastAPI's defaults), one after the other at the same connections: the ratio is rtmhub's share of
  what the framework alone serves on this machine;
- writes: ``POST /v1/wholesale/subscribers`` (subscriber provisioning), every request a new e-mail
  (a wrk Lua script), into a customer whose package allocation is large but limited, so the allocation
  check runs as in production; and, as its floor, the same requests to the bare app, whose endpoint
  validates the body with a pydantic model and inserts one row into a SQLite file of its own (WAL,
  ``synchronous=NORMAL`` as rtmhub's, one transaction a request) before answering 201: what the framework
  and one committed INSERT cost on this machine.

Printed per run: requests/s, p50 and p99 latency (wrk ``--latency``), the server's CPU time per request
(all its processes; less disturbed by other work on the machine than requests/s), non-2xx answers and
socket errors. ``--src`` runs another checkout's sources, to compare versions in one sitting.
Figures are printed, never asserted; the goals (reads >= 50 % of bare, writes >= 500/s with p99 < 200 ms
on SQLite) are shown beside them.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

READ_PATH = "/v1/wholesale/subscribers?max=100"
WRITE_PATH = "/v1/wholesale/subscribers"
WRITE_PACKAGE = "webex_meetings"
WRITE_ALLOCATION = 10_000_000

# One request's body per call, each with its own e-mail: the thread's number and a counter (wrk runs one
# Lua state per thread), behind a run id so that repeated runs on one database do not collide.
WRITE_LUA = """
local counter = 0
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"customerId":"%s","email":"load.%s.%d.%d@bench.example","package":"{package}",'
    .. '"provisioningParameters":{"firstName":"Load","lastName":"Test"}}',
    "{customer}", "{run}", tid, counter)
  return wrk.format("POST", nil, nil, body)
end
"""


# --- the bare app ------------------------------------------------------------------------------

class Provisioning(BaseModel):
    """The bare write's body: the contract's fields, validated as a FastAPI app would."""

    customerId: str  # noqa: N815 - the contract's names
    email: str
    package: str
    provisioningParameters: dict = {}  # noqa: N815


def bare_app():
    """A page of the same shape as rtmhub's subscriber list, from a plain FastAPI endpoint."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()
    items = [{
        "id": f"Y2lzY29zcGFyazovL3VzL1NVQlNDUklCRVIv{n:032d}", "personId": f"Y2lzY29zcGFyazovL3VzL1BFT1BMRS8{n:032d}",
        "email": f"user{n}@customer.example", "customerId": "Y2lzY29zcGFyazovL3VzL0NVU1RPTUVSLzEyMzQ1Njc4",
        "externalCustomerId": "EXT-1", "package": "webex_calling", "packages": ["webex_calling"],
        "status": "provisioned", "errors": [], "created": "2026-01-01T12:00:00.000000Z",
        "lastStatusChange": "2026-01-01T12:00:00.000000Z"} for n in range(100)]

    @app.get("/v1/wholesale/subscribers")
    def subscribers(max: int = 50, offset: int = 0):  # noqa: A002 - the contract's parameter name
        return {"items": [dict(item) for item in items[offset:offset + max]]}

    local = threading.local()

    def connection() -> sqlite3.Connection:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = sqlite3.connect(os.environ["BARE_DATABASE"], timeout=30, isolation_level=None)
            conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @app.post("/v1/wholesale/subscribers", status_code=201)
    def provision(body: Provisioning):
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        row = {"id": uuid.uuid4().hex, "email": body.email, "customerId": body.customerId, "package": body.package,
               "status": "provisioned", "created": now}
        conn = connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT INTO subscribers (id, email, customer, package, created) VALUES (?, ?, ?, ?, ?)",
                         (row["id"], row["email"], row["customerId"], row["package"], now))
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK")
            return JSONResponse({"message": "taken"}, status_code=409)
        conn.execute("COMMIT")
        return {**row, "packages": [body.package], "errors": [], "lastStatusChange": now}

    return app


def bare_database(path: Path) -> None:
    """The bare app's table: a subscriber per row, its e-mail unique (as rtmhub's users)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE subscribers (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, "
                     "customer TEXT NOT NULL, package TEXT NOT NULL, created TEXT NOT NULL)")


# --- set-up ------------------------------------------------------------------------------------

def prepare(url: str) -> tuple[str, str]:
    """Migrate, load the demo, make an all-scopes token for the demo partner's administrator and give one
    customer a large allocation of the write package. Returns (token, public customer id)."""
    from sqlalchemy import select

    from rtmhub import demo, ids, migrate
    from rtmhub.db import Database
    from rtmhub.domain.access import service as access
    from rtmhub.domain.access.schemas import SCOPES, Caller
    from rtmhub.domain.customers.models import CustomerPackage

    migrate.upgrade(url)
    db = Database(url)
    op = Caller.operator("bench")
    with db.unit_of_work() as s:
        demo.load_demo(s, op)
    with db.unit_of_work() as s:
        token = access.create_token(s, op, email=demo.ADMIN_EMAIL, scopes=list(SCOPES))
        row = s.scalars(select(CustomerPackage).where(CustomerPackage.package == WRITE_PACKAGE)
                        .order_by(CustomerPackage.allocation.is_(None).desc(), CustomerPackage.id)).first()
        assert row is not None, "the demo has no customer with the write package"
        row.allocation = WRITE_ALLOCATION
        customer = ids.encode("CUSTOMER", row.customer_id)
    db.dispose()
    return token, customer


def fresh_postgresql(server_url: str) -> str:
    """A new, empty database on the server for this run (dropped first if a previous run left it)."""
    import psycopg

    name = "rtmhub_bench_api"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + "/" + name


# --- servers -----------------------------------------------------------------------------------

def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited ({proc.returncode}) before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    raise SystemExit(f"no answer from {url} within {timeout} s")


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # Its own process group, so that stopping it also stops uvicorn's worker processes.
    return subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- wrk ---------------------------------------------------------------------------------------

@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: str
    cpu_ms: float | None = None  # the server's CPU time per request (all its processes)


def group_cpu_seconds(pgid: int) -> float:
    """CPU time used so far by the processes of a process group (the server and uvicorn's workers): a
    figure per request that a busy machine disturbs less than requests per second."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * UNITS[unit]


def parse_wrk(name: str, output: str) -> Result:
    def line(pattern: str) -> re.Match | None:
        return re.search(pattern, output, re.MULTILINE)

    rps = line(r"^Requests/sec:\s+([\d.]+)")
    p50, p99 = line(r"^\s+50%\s+(\S+)"), line(r"^\s+99%\s+(\S+)")
    total = line(r"^\s+(\d+) requests in")
    if not (rps and p50 and p99 and total):
        raise SystemExit(f"could not read wrk's output:\n{output}")
    non_2xx = line(r"Non-2xx or 3xx responses:\s+(\d+)")
    errors = line(r"Socket errors:\s+(.*)$")
    return Result(name, float(rps.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), int(total.group(1)),
                  int(non_2xx.group(1)) if non_2xx else 0, errors.group(1) if errors else "none")


def wrk(name: str, url: str, args: argparse.Namespace, headers: list[str], script: Path | None = None,
        server: subprocess.Popen | None = None) -> Result:
    cmd = [args.wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
           "--timeout", "10s"]
    for header in headers:
        cmd += ["-H", header]
    if script is not None:
        cmd += ["-s", str(script)]
    before = group_cpu_seconds(server.pid) if server is not None else 0.0
    done = subprocess.run([*cmd, url], capture_output=True, text=True, check=True)
    result = parse_wrk(name, done.stdout)
    if server is not None and result.requests:
        result.cpu_ms = (group_cpu_seconds(server.pid) - before) * 1000 / result.requests
    return result


def warm_up(url: str, headers: list[str], args: argparse.Namespace) -> None:
    """A couple of seconds of the same load first: imports, caches and the connection pool fill."""
    cmd = [args.wrk, "-t1", f"-c{min(args.connections, 8)}", "-d2s"]
    for header in headers:
        cmd += ["-H", header]
    subprocess.run([*cmd, url], capture_output=True, check=True)


def show(result: Result) -> None:
    errors = "" if not result.non_2xx and result.socket_errors == "none" else \
        f"  non-2xx {result.non_2xx}, socket errors: {result.socket_errors}"
    cpu = f"   {result.cpu_ms:.1f} CPU-ms/request" if result.cpu_ms is not None else ""
    print(f"{result.name:<34} {result.rps:>9.1f} req/s   p50 {result.p50_ms:>8.1f} ms   "
          f"p99 {result.p99_ms:>8.1f} ms{cpu}   ({result.requests} requests){errors}", flush=True)


# --- main --------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per measurement")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=1, help="rtmhub app processes (rtmhub serve --workers)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgresql-url", default=os.environ.get("RTMHUB_BENCH_POSTGRESQL_URL",
                                                                   "postgresql://127.0.0.1:5432/test"),
                        help="a server where this bench may create and drop the database rtmhub_bench_api")
    parser.add_argument("--port", type=int, default=8621, help="rtmhub's port; the bare app uses the next one")
    parser.add_argument("--only", choices=("read", "write", "all"), default="all")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database, logs)")
    parser.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    parser.add_argument("--src", default=str(ROOT / "src"),
                        help="the rtmhub sources the server runs (another checkout's, to compare versions)")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)  # internal: run the bare app
    args = parser.parse_args()

    if args.serve_bare:
        import uvicorn

        uvicorn.run(bare_app(), host="127.0.0.1", port=args.serve_bare, access_log=False, log_level="warning")
        return
    if not shutil.which(args.wrk):
        raise SystemExit("wrk is not installed: apt-get install wrk (Debian), or give --wrk PATH")

    work = Path(tempfile.mkdtemp(prefix="rtmhub-api-load-"))
    url = (f"sqlite:///{work / 'rtmhub.db'}" if args.database == "sqlite"
           else fresh_postgresql(args.postgresql_url))
    started = time.perf_counter()
    token, customer = prepare(url)
    print(f"database: {args.database}, demo data loaded in {time.perf_counter() - started:.1f} s; "
          f"wrk -c{args.connections} -t{args.threads} -d{args.duration}s; rtmhub serve --workers {args.workers}",
          flush=True)

    env = {**os.environ, "RTMHUB_DATABASE_URL": url, "PYTHONPATH": args.src,
           "RTMHUB_SECRET_KEY": "bench-" + "x" * 40}
    rtmhub = start([sys.executable, "-m", "rtmhub.cli.main", "serve", "--port", str(args.port),
                    "--workers", str(args.workers)], env, work / "rtmhub.log")
    bare = None
    auth = [f"Authorization: Bearer {token}"]
    base = f"http://127.0.0.1:{args.port}"
    results: dict[str, Result] = {}
    try:
        wait_ready(f"{base}/healthz", rtmhub)
        bare_port = args.port + 1
        bare_base = f"http://127.0.0.1:{bare_port}"
        bare_database(work / "bare.db")
        bare = start([sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(bare_port)],
                     {**env, "BARE_DATABASE": str(work / "bare.db")}, work / "bare.log")
        wait_ready(bare_base + READ_PATH, bare)
        if args.only in ("read", "all"):
            warm_up(bare_base + READ_PATH, [], args)
            results["bare"] = wrk("bare FastAPI, GET page of 100", bare_base + READ_PATH, args, [], server=bare)
            show(results["bare"])
            warm_up(base + READ_PATH, auth, args)
            results["read"] = wrk("rtmhub GET subscribers?max=100", base + READ_PATH, args, auth, server=rtmhub)
            show(results["read"])
        if args.only in ("write", "all"):
            script = work / "post.lua"
            script.write_text(WRITE_LUA.replace("{customer}", customer).replace("{package}", WRITE_PACKAGE)
                              .replace("{run}", os.urandom(4).hex()))
            headers = [*auth, "Content-Type: application/json"]
            results["bare write"] = wrk("bare FastAPI, POST + one SQLite INSERT", bare_base + WRITE_PATH, args,
                                        ["Content-Type: application/json"], script, server=bare)
            show(results["bare write"])
            results["write"] = wrk("rtmhub POST subscribers", base + WRITE_PATH, args, headers, script, server=rtmhub)
            show(results["write"])
        stop(bare)
        bare = None
    finally:
        if bare is not None:
            stop(bare)
        stop(rtmhub)
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print()
    if "read" in results and "bare" in results:
        ratio = results["read"].rps / results["bare"].rps
        print(f"reads:  {ratio:.0%} of bare FastAPI (goal >= 50 %)")
    if "write" in results:
        w = results["write"]
        print(f"writes: {w.rps:.0f}/s, p99 {w.p99_ms:.0f} ms (goal on SQLite: >= 500/s, p99 < 200 ms)")
        if "bare write" in results:
            b = results["bare write"]
            cpu = (f", {b.cpu_ms:.1f} against {w.cpu_ms:.1f} server CPU-ms a request"
                   if b.cpu_ms is not None and w.cpu_ms is not None else "")
            print(f"        {w.rps / b.rps:.0%} of the bare POST with one INSERT ({b.rps:.0f}/s{cpu})")


if __name__ == "__main__":
    main()
