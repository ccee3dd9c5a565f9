"""scim2-tester's check_server against a running rtmhub: no ERROR or CRITICAL result."""
from __future__ import annotations

import collections

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from conftest import serving
from scim_support import make_scim_world


@pytest.fixture
def scim(world, app):
    return make_scim_world(world)


def test_scim2_tester_finds_no_error(app, scim):
    with serving(app) as server:
        client = httpx2.Client(base_url=f"{server.url}{scim.base}", headers=scim.rw, timeout=30)
        results = check_server(SyncSCIMClient(client))
    counts = collections.Counter(r.status for r in results)
    print(f"\nscim2-tester: {counts[Status.SUCCESS]} SUCCESS, " + ", ".join(
        f"{n} {s.name}" for s, n in counts.items() if s != Status.SUCCESS))
    bad = [f"{r.status.name} {r.title}: {r.reason}" for r in results if r.status in (Status.ERROR, Status.CRITICAL)]
    assert not bad, "\n".join(bad)
