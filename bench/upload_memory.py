"""Server memory during a large CSV upload: RSS before, and the peak while a 100 MB file is uploaded.

    python bench/upload_memory.py [--megabytes 100] [--database sqlite|postgresql]

A fresh database gets one customer and a token; the app is served by uvicorn in a child process (no
in-process worker, so only the upload is measured) and the file is streamed to `POST /v1/userImports`
from this process. The child's resident set is read from /proc (VmRSS before, VmHWM = peak after).
Figures are printed, never asserted.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SERVER = textwrap.dedent("""
    import sys, uvicorn
    from rtmhub.app import create_app
    from rtmhub.settings import Settings
    app = create_app(Settings(database_url=sys.argv[1], inprocess_worker=False, max_upload_bytes=1 << 30))
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", proxy_headers=False)
""")


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT / "bench"))
    import httpx

    import bulk_import
    from rtmhub.db import Database
    from rtmhub.domain.access import service as access
    from rtmhub.domain.access.schemas import Caller

    with tempfile.TemporaryDirectory() as tmp:
        url, drop = bulk_import.fresh_url(args.database, Path(tmp))
        info = bulk_import.setup_database(url, 1)
        db = Database(url)
        with db.unit_of_work() as s:
            from sqlalchemy import select

            from rtmhub.domain.partners.models import Partner

            partner = s.scalar(select(Partner))
            access.create_admin(s, Caller.operator("bench"), email="uploader@partner.example",
                                role="partner_full_admin", password="upload-memory-Kx9-2026", partner=partner.name)
            token = access.create_token(s, Caller.operator("bench"), email="uploader@partner.example",
                                        scopes=["spark-admin:people_read", "spark-admin:people_write"])
        db.dispose()
        # A valid file of the requested size: the bench's user rows, repeated (the header is checked only).
        path = Path(tmp) / "users.csv"
        block = bulk_import.make_file(5000, info["site"])
        header, rows = block.split(b"\r\n", 1)
        with path.open("wb") as out:
            out.write(header + b"\r\n")
            while out.tell() < args.megabytes * 1_000_000:
                out.write(rows)
        size = path.stat().st_size

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        server = subprocess.Popen([sys.executable, "-c", SERVER, url, str(port)], env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    httpx.get(base + "/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            httpx.get(base + "/v1/tasks", headers={"Authorization": f"Bearer {token}"},
                      params={"orgId": info["org_id"]})  # warm up the routes and the database connection
            before, before_peak = _kib(server.pid, "VmRSS"), _kib(server.pid, "VmHWM")
            started = time.perf_counter()
            with path.open("rb") as handle:
                r = httpx.post(base + "/v1/userImports", headers={"Authorization": f"Bearer {token}"},
                               data={"orgId": info["org_id"], "preview": "true"},
                               files={"file": ("users.csv", handle, "text/csv")}, timeout=600)
            elapsed = time.perf_counter() - started
            peak = _kib(server.pid, "VmHWM")
            print(f"database {args.database}; file {size / 1e6:.0f} MB; status {r.status_code} in {elapsed:.1f} s")
            print(f"server RSS before {before / 1024:.0f} MiB (peak so far {before_peak / 1024:.0f} MiB); "
                  f"peak during the upload {peak / 1024:.0f} MiB; "
                  f"added {(peak - max(before, before_peak)) / 1024:.0f} MiB")
        finally:
            server.terminate()
            server.wait(10)
            drop()


if __name__ == "__main__":
    main()
