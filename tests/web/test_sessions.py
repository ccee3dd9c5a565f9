"""Issue 8: web sessions live in the database (sign-out, idle and lifetime end them in every process) and the
sign-in throttle counts per e-mail and per client address, shared by all processes. SQLite and PostgreSQL."""
from __future__ import annotations

import time
from datetime import timedelta
from types import SimpleNamespace

from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, update
from tests.web.test_pages import PASSWORD, csrf_of, sign_in

from rtmhub.app import create_app
from rtmhub.db import Database, utcnow
from rtmhub.domain.access.models import AdminAccount, SignInFailure, WebSession
from rtmhub.settings import Settings
from rtmhub.web.support import SESSION_COOKIE, client_address, sign, unsign

NO_WORKER = {"inprocess_worker": False}


def second_process(db):
    """Another app instance with its own engine and connection pool: what another process sees."""
    other = Database(db.url)
    return other, create_app(Settings(database_url=db.url, **NO_WORKER), database=other)


def session_cookie(client) -> str:
    return client.cookies[SESSION_COOKIE]


def replay(app, cookie: str, **client_args) -> TestClient:
    client = TestClient(app, base_url="http://testserver", **client_args)
    client.cookies.set(SESSION_COOKIE, cookie)
    return client


def test_sign_out_ends_the_session_in_every_process(client, world):
    assert sign_in(client, "full@a.example").status_code == 303
    cookie = session_cookie(client)
    ca = world.raw["ca"]
    settings_url = f"/customers/{ca}/hub/settings"
    token = csrf_of(client.get(settings_url).text)
    other_db, other_app = second_process(world.db)
    try:
        with replay(other_app, cookie) as elsewhere:
            assert elsewhere.get("/customers", follow_redirects=False).status_code == 200  # valid there too
        assert client.post("/signout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
        for app in (client.app, other_app):
            with replay(app, cookie) as old:
                response = old.get("/customers", follow_redirects=False)
                assert response.status_code == 303 and response.headers["location"].startswith("/signin")
                # the old cookie's CSRF token is void as well: no change is made with it
                refused = old.post(settings_url, data={"name": "Hijacked Oy", "language": "fi",
                                                       "preferredSite": "", "csrf_token": token},
                                   follow_redirects=False)
                assert refused.status_code == 403
        with world.db.unit_of_work(write=False) as s:
            assert s.scalar(select(func.count()).select_from(WebSession).where(WebSession.ended.is_(None))) == 0
            from rtmhub.domain.customers.models import Customer
            assert s.get(Customer, ca).name == "Asiakas Oy"
    finally:
        other_db.dispose()


def _age(db, **columns) -> None:
    with db.unit_of_work() as s:
        s.execute(update(WebSession).values(**columns))


def test_idle_and_absolute_lifetime_end_a_session(client, world):
    sign_in(client, "full@a.example")
    assert client.get("/customers", follow_redirects=False).status_code == 200
    # used five minutes ago: still valid, and the use is recorded (touch)
    five_ago = utcnow() - timedelta(minutes=5)
    _age(world.db, last_seen=five_ago)
    assert client.get("/customers", follow_redirects=False).status_code == 200
    with world.db.unit_of_work(write=False) as s:
        assert s.scalar(select(WebSession.last_seen)) > five_ago + timedelta(minutes=4)
    # used 30 s ago: not written again (at most once a minute)
    thirty_ago = utcnow() - timedelta(seconds=30)
    _age(world.db, last_seen=thirty_ago)
    assert client.get("/customers", follow_redirects=False).status_code == 200
    with world.db.unit_of_work(write=False) as s:
        assert abs((s.scalar(select(WebSession.last_seen)) - thirty_ago).total_seconds()) < 1
    # idle longer than RTMHUB_SESSION_IDLE_MINUTES (default 60)
    _age(world.db, last_seen=utcnow() - timedelta(minutes=61))
    assert client.get("/customers", follow_redirects=False).status_code == 303

    client.cookies.clear()
    sign_in(client, "full@a.example")
    assert client.get("/customers", follow_redirects=False).status_code == 200
    # in use all along, but signed in longer ago than the absolute lifetime (12 h)
    _age(world.db, created=utcnow() - timedelta(hours=12, minutes=1), last_seen=utcnow())
    assert client.get("/customers", follow_redirects=False).status_code == 303


def test_idle_period_is_configurable(world):
    app = create_app(Settings(database_url=world.db.url, session_idle_minutes=5, **NO_WORKER),
                     database=world.db)
    with TestClient(app, base_url="http://testserver") as client:
        sign_in(client, "full@a.example")
        _age(world.db, last_seen=utcnow() - timedelta(minutes=4))
        assert client.get("/customers", follow_redirects=False).status_code == 200
        _age(world.db, last_seen=utcnow() - timedelta(minutes=6))
        assert client.get("/customers", follow_redirects=False).status_code == 303


def test_an_issue_time_in_the_future_is_refused(client, world):
    sign_in(client, "full@a.example")
    secret = client.app.state.settings.secret_key
    payload = unsign(session_cookie(client), secret)
    assert payload is not None and "sid" in payload
    forged = sign({**payload, "iat": int(time.time()) + 3600}, secret)
    with replay(client.app, forged) as later:
        assert later.get("/customers", follow_redirects=False).status_code == 303
    assert unsign(forged, secret) is None
    assert unsign(sign({**payload, "iat": int(time.time()) - 13 * 3600}, secret), secret) is None
    assert unsign(sign({**payload, "iat": "soon"}, secret), secret) is None


def test_last_seen_is_written_at_most_once_a_minute(world):
    from rtmhub.domain.access import sessions

    with world.db.unit_of_work() as s:
        admin_id = s.scalar(select(AdminAccount.id).where(AdminAccount.email_key == "full@a.example"))
        raw = sessions.start(s, admin_id, sessions.Lifetimes(timedelta(hours=1), timedelta(hours=12)))
    recent = utcnow() - timedelta(seconds=30)
    _age(world.db, last_seen=recent)
    with world.db.unit_of_work() as s:
        sessions.touch(s, raw)
    with world.db.unit_of_work(write=False) as s:
        assert abs((s.scalar(select(WebSession.last_seen)) - recent).total_seconds()) < 1
        assert sessions.validate(s, raw, sessions.Lifetimes(timedelta(hours=1), timedelta(hours=12))).needs_touch \
            is False
    _age(world.db, last_seen=utcnow() - timedelta(seconds=90))
    with world.db.unit_of_work() as s:
        sessions.touch(s, raw)
    with world.db.unit_of_work(write=False) as s:
        assert (utcnow() - s.scalar(select(WebSession.last_seen))).total_seconds() < 5


def test_deleting_the_admin_ends_its_sessions(client, world):
    sign_in(client, "full@a.example")
    with world.db.unit_of_work() as s:
        s.execute(delete(AdminAccount).where(AdminAccount.email_key == "full@a.example"))
    with world.db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 0  # FK cascade
    assert client.get("/customers", follow_redirects=False).status_code == 303


# --- throttle ----------------------------------------------------------------------------------------------

def attempt(client, email: str, password: str = "wrong password", forwarded: str | None = None) -> int:
    page = client.get("/signin")
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.post("/signin", headers=headers, follow_redirects=False, data={
        "csrf_token": csrf_of(page.text), "email": email, "password": password, "next": "/"}).status_code


def test_forwarded_for_from_an_untrusted_peer_does_not_escape_the_throttle(client, world):
    codes = [attempt(client, "full@b.example", forwarded=f"198.51.100.{n}") for n in range(7)]
    assert codes == [401] * 5 + [429] * 2
    assert attempt(client, "full@b.example", PASSWORD, forwarded="198.51.100.99") == 429
    # the other counter: 20 failures from one address over many e-mails (here with a new header each time);
    # the five above count too
    for n in range(15):
        assert attempt(client, f"nobody{n}@spray.example", forwarded=f"203.0.113.{n}") == 401
    assert attempt(client, "full@a.example", PASSWORD, forwarded="203.0.113.250") == 429


def test_the_e_mail_count_survives_a_spray_and_other_clients_are_not_locked_out(world, app):
    spray = TestClient(app, base_url="http://testserver", client=("192.0.2.10", 5000))
    victim_guesser = TestClient(app, base_url="http://testserver", client=("192.0.2.20", 5000))
    owner = TestClient(app, base_url="http://testserver", client=("192.0.2.30", 5000))
    for _ in range(4):
        assert attempt(victim_guesser, "full@b.example") == 401
    for n in range(25):  # many e-mails from another address: resets nobody's count
        assert attempt(spray, f"nobody{n}@spray.example") in (401, 429)
    assert attempt(spray, "full@a.example", PASSWORD) == 429  # that address is throttled
    assert attempt(victim_guesser, "full@b.example") == 401    # the 5th failure still counts ...
    assert attempt(victim_guesser, "full@b.example", PASSWORD) == 429  # ... and the 6th try is refused
    assert attempt(owner, "full@a.example", PASSWORD) == 303  # a third address signs in to another account
    # ... which clears only that account's own count: the others stand
    assert attempt(spray, "full@a.example", PASSWORD) == 429
    assert attempt(victim_guesser, "full@b.example", PASSWORD) == 429
    with world.db.unit_of_work(write=False) as s:
        keys = s.scalars(select(SignInFailure.key)).all()
    assert not any("@" in key for key in keys), "e-mails are stored as digests"


def test_behind_a_trusted_proxy_the_forwarded_address_counts(world):
    app = create_app(Settings(database_url=world.db.url, trusted_proxies="10.0.0.0/8, ::1", **NO_WORKER),
                     database=world.db)
    proxy = TestClient(app, base_url="http://testserver", client=("10.0.0.5", 40000))
    for n in range(20):
        assert attempt(proxy, f"nobody{n}@spray.example", forwarded="203.0.113.7") == 401
    assert attempt(proxy, "full@a.example", PASSWORD, forwarded="203.0.113.7") == 429
    # a client cannot escape by writing its own entries in front: the proxy appends the real one
    assert attempt(proxy, "full@a.example", PASSWORD, forwarded="1.2.3.4, 203.0.113.7") == 429
    # another client behind the same proxy is not affected
    assert attempt(proxy, "full@a.example", PASSWORD, forwarded="203.0.113.8") == 303
    with world.db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(SignInFailure)
                        .where(SignInFailure.key == "client:203.0.113.7")) == 20
        assert s.scalar(select(func.count()).select_from(SignInFailure)
                        .where(SignInFailure.key == "client:10.0.0.5")) == 0


def test_old_failures_are_pruned_and_stop_counting(client, world):
    for _ in range(5):
        assert attempt(client, "full@b.example") == 401
    with world.db.unit_of_work() as s:
        s.execute(update(SignInFailure).values(at=utcnow() - timedelta(minutes=16)))
    assert attempt(client, "full@b.example") == 401  # the old ones no longer count; they are deleted now
    with world.db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(SignInFailure)) == 2  # the new failure's two keys


def _request(peer: str, forwarded: list[str]):
    return SimpleNamespace(client=SimpleNamespace(host=peer),
                           headers=SimpleNamespace(getlist=lambda name: forwarded))


def test_client_address_believes_only_trusted_proxies():
    trusted = Settings(trusted_proxies="10.0.0.0/8,2001:db8::1").trusted_networks
    assert client_address(_request("198.51.100.1", ["203.0.113.9"]), trusted) == "198.51.100.1"
    assert client_address(_request("198.51.100.1", ["203.0.113.9"]), ()) == "198.51.100.1"
    assert client_address(_request("10.1.2.3", ["203.0.113.9"]), trusted) == "203.0.113.9"
    assert client_address(_request("10.1.2.3", ["6.6.6.6, 203.0.113.9", "10.0.0.9"]), trusted) == "203.0.113.9"
    assert client_address(_request("2001:db8::1", ["2001:db8::77"]), trusted) == "2001:db8::77"
    assert client_address(_request("10.1.2.3", ["not-an-address"]), trusted) == "10.1.2.3"
    assert client_address(_request("10.1.2.3", ["10.0.0.8"]), trusted) == "10.0.0.8"  # proxies all the way
    assert client_address(_request("10.1.2.3", []), trusted) == "10.1.2.3"
