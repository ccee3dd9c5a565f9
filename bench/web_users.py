"""Control Hub Users page with a 10,000-user customer: time per request (server-side rendering).

    python bench/web_users.py [--users 10000] [--repeat 20]

A fresh SQLite database gets one customer with N users (set up as in bulk_import.py) and a partner
admin; each page is requested through the ASGI app after one warm-up. Figures are printed, never
asserted.
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT / "bench"))
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    import bulk_import
    from rtmhub.app import create_app
    from rtmhub.db import Database
    from rtmhub.domain.access import service as access
    from rtmhub.domain.access.schemas import Caller
    from rtmhub.domain.partners.models import Partner
    from rtmhub.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'web.db'}"
        info = bulk_import.setup_database(url, args.users)
        db = Database(url)
        with db.unit_of_work() as s:
            partner = s.scalar(select(Partner))
            access.create_admin(s, Caller.operator("bench"), email="bench@partner.example",
                                role="partner_full_admin", password="bench-password-1", partner=partner.name)
        client = TestClient(create_app(Settings(database_url=url, inprocess_worker=False), database=db))
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/signin").text).group(1)
        client.post("/signin", data={"csrf_token": token, "email": "bench@partner.example",
                                     "password": "bench-password-1", "next": "/"})
        cid = info["customer_id"]
        print(f"{'ms/request':>10}  page ({args.users:,} users)")
        for path in (f"/customers/{cid}/hub/users", f"/customers/{cid}/hub/users?page=150",
                     f"/customers/{cid}/hub/users?q=existing99", f"/customers/{cid}/hub/users?package=webex_meetings",
                     "/customers", "/"):
            assert client.get(path).status_code == 200, path
            started = time.perf_counter()
            for _ in range(args.repeat):
                client.get(path)
            elapsed = (time.perf_counter() - started) / args.repeat * 1000
            print(f"{elapsed:10.1f}  {path.replace(cid, '<customer>')}", flush=True)
        db.dispose()


if __name__ == "__main__":
    main()
