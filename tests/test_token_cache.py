"""The bearer-token cache (decision 38), on SQLite and PostgreSQL: a token's caller is kept for
TOKEN_CACHE_SECONDS, yet revocation, expiry and changed scopes or roles are honoured — at once when the
change is made in this process, within TOKEN_CACHE_SECONDS when another process makes it. The cache's clock
is the test's, so nothing waits."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from rtmhub.domain.access import service as access
from rtmhub.domain.access.models import AdminAccount, ApiToken
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.access.token_cache import TOKEN_CACHE_SECONDS, CachedToken, TokenCache, token_cache
from rules_support import OPERATOR

URL = "/v1/wholesale/customers"
READ = "spark-admin:wholesale_customers_read"
SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture
def clock(monkeypatch):
    """The cache's clock, moved by the test."""
    now = [1_000_000.0]
    monkeypatch.setattr(token_cache, "clock", lambda: now[0])
    return now


def _token(world, scopes: list[str], days: int | None = None) -> tuple[str, str]:
    with world.db.unit_of_work() as s:
        row, token = access.issue_token(s, OPERATOR, email="full@a.example", scopes=scopes, expires_in_days=days)
        return row.id, token


def _get(client, token: str):
    return client.get(URL, headers={"Authorization": f"Bearer {token}"})


def _cached(token: str) -> bool:
    return token_cache.get(access.hash_token(token)) is not None


def _elsewhere(db, statement) -> None:
    """A change as another process makes it: straight to the database, past this process's sessions."""
    with db.engine.begin() as conn:
        conn.execute(statement)


def test_a_token_revoked_in_this_process_is_refused_at_once(client, world, clock):
    token_id, token = _token(world, [READ])
    assert _get(client, token).status_code == 200
    assert _cached(token)
    with world.db.unit_of_work() as s:
        access.revoke_token(s, OPERATOR, token_id)
    refused = _get(client, token)  # the cache's clock has not moved
    assert refused.status_code == 401 and "revoked" in refused.json()["message"]


def test_a_token_revoked_by_another_process_is_refused_within_the_bound(client, world, db, clock):
    token_id, token = _token(world, [READ])
    assert _get(client, token).status_code == 200
    done = subprocess.run([sys.executable, "-m", "rtmhub.cli.main", "token", "revoke", token_id],
                          env={**os.environ, "RTMHUB_DATABASE_URL": db.url, "PYTHONPATH": SRC},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # The stated bound: this process may answer from its cache until TOKEN_CACHE_SECONDS have passed...
    clock[0] += TOKEN_CACHE_SECONDS - 0.5
    assert _get(client, token).status_code == 200
    # ...and not after.
    clock[0] += 0.5
    refused = _get(client, token)
    assert refused.status_code == 401 and "revoked" in refused.json()["message"]


def test_expiry_is_honoured_for_a_cached_token(client, world, clock, monkeypatch):
    _, token = _token(world, [READ], days=1)
    assert _get(client, token).status_code == 200
    assert _cached(token)
    later = access.utcnow() + timedelta(days=1, seconds=1)
    monkeypatch.setattr(access, "utcnow", lambda: later)
    refused = _get(client, token)
    assert refused.status_code == 401 and "expired" in refused.json()["message"]


def test_changed_scopes_are_honoured_at_once_here_and_within_the_bound_elsewhere(client, world, db, clock):
    token_id, token = _token(world, [READ])
    assert _get(client, token).status_code == 200
    with world.db.unit_of_work() as s:  # this process
        s.get(ApiToken, token_id).scopes = "spark-admin:organizations_read"
    assert _get(client, token).status_code == 403
    _elsewhere(db, update(ApiToken).where(ApiToken.id == token_id).values(scopes=READ))
    assert _get(client, token).status_code == 403  # within the bound
    clock[0] += TOKEN_CACHE_SECONDS
    assert _get(client, token).status_code == 200


def test_a_changed_role_is_honoured_within_the_bound(client, world, db, clock):
    token = world.tokens["a_full"]
    body = {"customerId": world.ids["ca"], "email": "uusi.tilaaja@asiakas.example", "package": "webex_meetings"}
    headers = {"Authorization": f"Bearer {token}"}
    assert _get(client, token).status_code == 200
    _elsewhere(db, update(AdminAccount).where(AdminAccount.email_key == "full@a.example")
               .values(role="partner_readonly_admin"))
    clock[0] += TOKEN_CACHE_SECONDS
    refused = client.post("/v1/wholesale/subscribers", json=body, headers=headers)
    assert refused.status_code == 403 and "read-only" in refused.json()["message"]
    with world.db.unit_of_work() as s:  # back in this process: at once
        s.scalar(select(AdminAccount).where(AdminAccount.email_key == "full@a.example")).role = "partner_full_admin"
    assert client.post("/v1/wholesale/subscribers", json=body, headers=headers).status_code == 200


def test_a_look_up_that_raced_a_change_is_not_kept():
    cache = TokenCache()
    entry = CachedToken(Caller(actor="a", role="partner_full_admin"), "token-id", None, None)
    generation = cache.generation  # read before the token's row...
    cache.clear()  # ...a revocation is flushed meanwhile...
    cache.put("digest", generation, entry)  # ...so the answer read before it is not kept
    assert cache.get("digest") is None
    cache.put("digest", cache.generation, entry)
    assert cache.get("digest") is entry


def test_scim_answers_from_the_same_cache_within_its_bound_and_at_once_after_a_revocation_here(client, world, db,
                                                                                               clock):
    from rtmhub.domain.customers.models import Customer

    with world.db.unit_of_work() as s:
        org = s.get(Customer, world.raw["ca"]).org_id
        row, token = access.issue_token(s, OPERATOR, email="admin@asiakas.example", scopes=["identity:people_rw"])
        token_id = row.id
    users = f"/identity/scim/{org}/v2/Users"
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(users, headers=headers).status_code == 200
    # Revoked past this process's sessions: the SCIM edge answers from the cache until the bound...
    _elsewhere(db, update(ApiToken).where(ApiToken.id == token_id).values(revoked=access.utcnow()))
    clock[0] += TOKEN_CACHE_SECONDS - 0.5
    assert client.get(users, headers=headers).status_code == 200
    clock[0] += 0.5
    assert client.get(users, headers=headers).status_code == 401  # ...and not after
    # A revocation made here is honoured at once.
    with world.db.unit_of_work() as s:
        row, token = access.issue_token(s, OPERATOR, email="admin@asiakas.example", scopes=["identity:people_rw"])
        token_id = row.id
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(users, headers=headers).status_code == 200 and _cached(token)
    with world.db.unit_of_work() as s:
        access.revoke_token(s, OPERATOR, token_id)
    assert client.get(users, headers=headers).status_code == 401
