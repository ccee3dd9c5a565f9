"""SCIM Bulk benchmark: a Bulk request of 100 user creates, repeated, on the embedded SQLite.

    python bench/scim_bulk.py [--requests 20] [--existing 1000] [--profile [--sort cumulative] [--top 60]]

A fresh SQLite file gets one customer (set up as in bulk_import.py, with EXISTING users) and a customer
admin with an identity:people_rw token. Each measured request is one `POST …/Bulk` of 100 user creates
(one transaction, each operation in its own SAVEPOINT, through the users service and its rules,
audited), sent through the ASGI app. Baseline, measured in the same run on the same database: the same
kind of users created one request each through `POST /v1/people`. Figures are printed, never asserted.
Target (issue 10): ≥ 500 users/s.
"""
from __future__ import annotations

import argparse
import cProfile
import dataclasses
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def scim_user(n: int) -> dict:
    email = f"scim{n}@bench-oy.example"
    return {"schemas": [USER, ENTERPRISE], "userName": email, "externalId": f"ext-{n}", "active": True,
            "name": {"givenName": "Aino", "familyName": f"Virtanen {n}"}, "displayName": f"Aino Virtanen {n}",
            "emails": [{"value": email, "type": "work", "primary": True}], "title": "Asiantuntija",
            "preferredLanguage": "fi_FI", "phoneNumbers": [{"value": f"+35840{n:07d}", "type": "mobile"}],
            ENTERPRISE: {"department": "Myynti"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--existing", type=int, default=1000)
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile of one Bulk request")
    parser.add_argument("--sort", default="tottime", help="the profile's order (tottime, cumulative, …)")
    parser.add_argument("--top", type=int, default=30, help="how many lines of the profile")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT / "bench"))
    from fastapi.testclient import TestClient

    import bulk_import
    from rtmhub.app import create_app
    from rtmhub.db import Database
    from rtmhub.domain.access import service as access
    from rtmhub.domain.access.schemas import Caller
    from rtmhub.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'scim.db'}"
        info = bulk_import.setup_database(url, args.existing)
        db = Database(url)
        with db.unit_of_work() as s:
            op = Caller.operator("bench")
            access.create_admin(s, op, email="admin@bench-oy.example", role="customer_full_admin", password=None,
                                customer=info["customer_id"])
            token = access.create_token(s, op, email="admin@bench-oy.example",
                                        scopes=["identity:people_rw", "spark-admin:people_write"])
        client = TestClient(create_app(Settings(database_url=url, inprocess_worker=False), database=db))
        headers = {"Authorization": f"Bearer {token}"}
        base = f"/identity/scim/{info['org_id']}/v2"
        counter = iter(range(10**9))

        def bulk_request() -> None:
            ops = [{"method": "POST", "path": "/Users", "bulkId": f"b{i}", "data": scim_user(next(counter))}
                   for i in range(100)]
            response = client.post(f"{base}/Bulk", headers=headers, json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops})
            statuses = {r["status"] for r in response.json()["Operations"]}
            assert response.status_code == 200 and statuses == {"201"}, response.text[:500]

        bulk_request()  # warm-up
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.requests):
            bulk_request()
        bulk_rate = args.requests * 100 / (time.perf_counter() - started)
        bulk_cpu = args.requests * 100 / (time.process_time() - cpu)

        people = [{"emails": [f"api{n}@bench-oy.example"], "firstName": "Aino", "lastName": f"Virtanen {n}",
                   "displayName": f"Aino Virtanen {n}", "title": "Asiantuntija", "department": "Myynti"}
                  for n in range(args.requests * 100)]
        started, cpu = time.perf_counter(), time.process_time()
        for body in people:
            assert client.post(f"/v1/people?orgId={info['org_id']}", headers=headers, json=body).status_code == 200
        api_rate = len(people) / (time.perf_counter() - started)
        api_cpu = len(people) / (time.process_time() - cpu)
        # users per CPU-second (client and server share this process): what one free core would do.
        print(f"{'':44} {'users/s':>8} {'per CPU-s':>10}")
        print(f"SCIM Bulk, {args.requests} requests of 100 user creates: {bulk_rate:8.0f} {bulk_cpu:10.0f}")
        print(f"baseline: POST /v1/people one by one:        {api_rate:8.0f} {api_cpu:10.0f}")
        if args.profile:  # the Bulk handler itself, in this thread
            from rtmhub.scim import routes
            with db.unit_of_work(write=False) as s:
                caller, _ = access.authenticate_bearer(s, token)
            caller = dataclasses.replace(caller, directory=True)  # as the SCIM edge makes it
            ctx = routes.Ctx(db, caller, info["org_id"], f"http://bench{base}", 1 << 20)
            body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": f"p{i}", "data": scim_user(next(counter))}
                for i in range(100)]}
            profiler = cProfile.Profile()
            profiler.enable()
            routes.bulk(ctx, body)
            profiler.disable()
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)
        db.dispose()


if __name__ == "__main__":
    main()
