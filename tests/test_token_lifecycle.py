"""Token lifecycle and the password policy, on SQLite and PostgreSQL: expiry, revocation (401 at once in the
process that revoked it, within the token cache's five seconds in the others: decision 38), last use written
at most once a minute, and every admin password checked by the domain."""
from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from rtmhub.app import create_app
from rtmhub.db import utcnow
from rtmhub.domain.access import service as access
from rtmhub.domain.access.models import AdminAccount, ApiToken
from rtmhub.domain.access.passwords import check_password
from rtmhub.errors import Conflict, NotFound, ValidationFailed
from rtmhub.settings import Settings
from rules_support import OPERATOR

URL = "/v1/wholesale/customers"


def _token(world, days: int | None = None) -> tuple[str, str]:
    with world.db.unit_of_work() as s:
        row, token = access.issue_token(s, OPERATOR, email="full@a.example", scopes=["spark-admin:wholesale_customers_read"],
                                        expires_in_days=days)
        return row.id, token


def _row(world, token_id: str) -> ApiToken:
    with world.db.unit_of_work(write=False) as s:
        row = s.get(ApiToken, token_id)
        s.expunge(row)
        return row


def test_an_expired_token_is_refused_with_what_to_do(client, world):
    token_id, token = _token(world, days=1)
    assert client.get(URL, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with world.db.unit_of_work() as s:  # a day later
        s.execute(update(ApiToken).where(ApiToken.id == token_id).values(expires=utcnow() - timedelta(seconds=1)))
    refused = client.get(URL, headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert "expired" in refused.json()["message"] and "rtmhub token create" in refused.json()["message"]


def test_a_revoked_token_is_refused_by_every_process_at_once(db, world):
    token_id, token = _token(world)
    # two app processes' worth of apps over the same database
    apps = [create_app(Settings(database_url=db.url), database=db) for _ in range(2)]
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
        for client in (first, second):
            assert client.get(URL, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        with db.unit_of_work() as s:
            access.revoke_token(s, OPERATOR, token_id)
        for client in (first, second):
            refused = client.get(URL, headers={"Authorization": f"Bearer {token}"})
            assert refused.status_code == 401 and "revoked" in refused.json()["message"]
    with db.unit_of_work() as s, pytest.raises(Conflict, match="already revoked"):
        access.revoke_token(s, OPERATOR, token_id)
    with db.unit_of_work() as s, pytest.raises(NotFound, match="token list"):
        access.revoke_token(s, OPERATOR, "not-a-token-id")


def test_last_use_is_written_at_most_once_a_minute(client, world):
    token_id, token = _token(world)
    assert _row(world, token_id).last_used is None
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(URL, headers=headers).status_code == 200
    first = _row(world, token_id).last_used
    assert first is not None and abs((utcnow() - first).total_seconds()) < 60
    assert client.get(URL, headers=headers).status_code == 200
    assert _row(world, token_id).last_used == first  # within the minute: no write
    # a read within the minute is not a write: the conditional UPDATE matches nothing
    with world.db.unit_of_work() as s:
        access.touch_token(s, token_id)
    assert _row(world, token_id).last_used == first
    with world.db.unit_of_work() as s:
        s.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used=first - timedelta(minutes=2)))
    assert client.get(URL, headers=headers).status_code == 200
    assert _row(world, token_id).last_used > first - timedelta(seconds=1)


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_expiry_days_are_bounded(world, days):
    with world.db.unit_of_work() as s, pytest.raises(ValidationFailed, match="1 to 3650"):
        access.issue_token(s, OPERATOR, email="full@a.example", scopes=["spark-admin:people_read"],
                           expires_in_days=days)


def test_token_rows_hold_only_digests_and_list_newest_first(world):
    _, older = _token(world)
    token_id, newer = _token(world, days=30)
    with world.db.unit_of_work(write=False) as s:
        rows = access.list_tokens(s, OPERATOR, email="FULL@a.example")
        assert rows[0].id == token_id and rows[0].expires is not None
        stored = {r.token_hash for r in rows}
    assert older not in stored and newer not in stored and access.hash_token(newer) in stored


# --- the password policy ----------------------------------------------------------------------------

@pytest.mark.parametrize("password, reason", [
    ("Short1!", "too short"),
    ("", "too short"),
    ("password12345", "too easy to guess"),
    ("aaaaaaaaaaaaaaaa", "too easy to guess"),
    ("1234567890123", "too easy to guess"),
    ("matti.virtanen-lantern", "'matti.virtanen' from the e-mail address"),
    ("x" * 1025, "too long"),
])
def test_the_password_policy_refuses_with_its_reason(password, reason):
    with pytest.raises(ValidationFailed) as refused:
        check_password(password, "Matti.Virtanen@esimerkki.example")
    assert reason in refused.value.message
    assert refused.value.errors[0].field == "password"


@pytest.mark.parametrize("password", ["lantern harbour quietly", "Kolme iloista sammakkoa hyppää", "q7#Lm!x2Vr9@pT"])
def test_the_password_policy_accepts_strong_passwords(password):
    check_password(password, "matti.virtanen@esimerkki.example")


def test_every_admin_password_goes_through_the_policy(world):
    with world.db.unit_of_work() as s, pytest.raises(ValidationFailed, match="too short"):
        access.create_admin(s, OPERATOR, email="new@a.example", role="partner_full_admin", password="pw",
                            partner=world.raw["pa"])
    with world.db.unit_of_work() as s, pytest.raises(ValidationFailed, match="too easy"):
        access.set_password(s, OPERATOR, email="full@a.example", password="password12345")
    with world.db.unit_of_work() as s:
        access.set_password(s, OPERATOR, email="full@a.example", password="lantern harbour quietly")
    with world.db.unit_of_work(write=False) as s:
        assert access.authenticate_password(s, "full@a.example", "lantern harbour quietly").email == "full@a.example"
        assert s.scalar(select(AdminAccount).where(AdminAccount.email_key == "new@a.example")) is None
