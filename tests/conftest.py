"""Every test that takes `db` runs twice: on SQLite and on PostgreSQL, built by `alembic upgrade head`."""
from __future__ import annotations

import os
from contextlib import contextmanager
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from rtmhub import ids
from rtmhub.app import create_app
from rtmhub.db import Base, Database
from rtmhub.domain.access import service as access
from rtmhub.domain.access.schemas import SCOPES, Caller
from rtmhub.domain.access.token_cache import token_cache
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.schemas import CustomerCreate
from rtmhub.domain.partners import service as partners
from rtmhub.domain.users import service as users
from rtmhub.domain.users.schemas import UserFields
from rtmhub.migrate import upgrade
from rtmhub.settings import Settings

LOCAL_POSTGRES = "postgresql://root@127.0.0.1:5432/test"
OPERATOR = Caller.operator("test")
# The databases the `database` fixture runs on. `RTMHUB_TEST_DATABASES=sqlite` leaves the PostgreSQL half out
# on purpose (the mutation run does, docs/testing.md); unset, every test that takes `db` runs on both.
ALL_DATABASES = ("sqlite", "postgresql")
TEST_DATABASES = [name.strip() for name in os.environ.get("RTMHUB_TEST_DATABASES", ",".join(ALL_DATABASES)).split(",")
                  if name.strip()]
if not TEST_DATABASES or set(TEST_DATABASES) - set(ALL_DATABASES):
    raise pytest.UsageError(f"RTMHUB_TEST_DATABASES={os.environ.get('RTMHUB_TEST_DATABASES')!r}: give a "
                            f"comma-separated list of {', '.join(ALL_DATABASES)}")


def strict() -> bool:
    """True in CI (`CI=true`) or with RTMHUB_REQUIRE_POSTGRES set: what would be a skip for something missing
    (the PostgreSQL server, a reference file outside the repository) is a failure instead."""
    return (os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
            or bool(os.environ.get("RTMHUB_REQUIRE_POSTGRES")))


def skip_or_fail(reason: str) -> None:
    """Skip for something missing on a developer's machine; fail when `strict()` (CI must not skip silently)."""
    if strict():
        pytest.fail(reason + " (CI=true or RTMHUB_REQUIRE_POSTGRES is set, so this is a failure, not a skip)")
    print(f"\nSKIPPING: {reason}")
    pytest.skip(reason)


# argon2 at its cheapest (one pass over 8 KiB): a world's six admins would otherwise spend ~0.5 s of deliberate
# slowness in every test that builds one. The hashes stay real argon2id, so signing in still verifies them;
# test_production_password_hashes_are_argon2id_at_rfc_9106_low_memory_strength checks rtmhub's own parameters.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_password_hashes(request, monkeypatch):
    """Every test hashes passwords with CHEAP_HASHER, except those marked `production_password_hashes`."""
    if request.node.get_closest_marker("production_password_hashes") is None:
        monkeypatch.setattr(access, "_hasher", CHEAP_HASHER)


def _postgres_base_url() -> tuple[str | None, str]:
    url = os.environ.get("RTMHUB_TEST_POSTGRES_URL") or LOCAL_POSTGRES
    try:
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1),
                               connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return url, ""
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        return None, f"PostgreSQL not reachable at {url.split('@')[-1]}: {type(exc).__name__}"


@pytest.fixture(scope="session", params=TEST_DATABASES)
def database(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'rtmhub.db'}"
        upgrade(url)
        db = Database(url)
        yield db
        db.dispose()
        return
    base, reason = _postgres_base_url()
    if base is None:
        skip_or_fail(f"the PostgreSQL half: {reason}")
    name = f"rtmhub_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    db = Database(url)
    yield db
    db.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def empty_tables(database: Database) -> None:
    """Every table emptied, schema kept."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as conn:
        if database.is_sqlite:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))
        else:
            conn.execute(text("TRUNCATE " + ", ".join(tables) + " CASCADE"))


@pytest.fixture
def db(database):
    """A clean database for each test (tables emptied, schema kept)."""
    empty_tables(database)
    return database


@pytest.fixture
def app(db):
    return create_app(Settings(database_url=db.url), database=db)


@pytest.fixture
def client(app):
    with TestClient(app, base_url="http://testserver") as c:
        yield c


@dataclass
class World:
    """Two partners (A with sub-partner A1), customers, locations, users, admins and tokens."""

    db: Database
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def customer_body(template_id: str, external_id: str, name: str, packages: list[str],
                  limits: dict[str, int] | None = None, email: str | None = None) -> CustomerCreate:
    return CustomerCreate.model_validate({
        "provisioningId": template_id,
        "packages": packages,
        "externalId": external_id,
        "address": {"addressLine1": "Mannerheimintie 1", "city": "Helsinki", "country": "FI",
                    "zipOrPostalCode": "00100"},
        "customerInfo": {"name": name, "primaryEmail": email or f"admin@{external_id.lower()}.example",
                         "language": "fi"},
        "provisioningParameters": {
            "calling": {"location": {"name": "Helsinki HQ", "address": {
                "addressLine1": "Mannerheimintie 1", "city": "Helsinki", "country": "FI"},
                "timezone": "Europe/Helsinki", "language": "fi_fi"}},
            "meetings": {"timezone": "Europe/Helsinki"},
            "packages": {"limits": limits or {}},
        },
    })


def build_world(db: Database) -> World:
    world = World(db=db)
    with db.unit_of_work() as s:
        pa = partners.create_partner(s, OPERATOR, "Partner A")
        pa1 = partners.create_partner(s, OPERATOR, "Partner A1", parent=pa)
        pb = partners.create_partner(s, OPERATOR, "Partner B")
        ta = partners.create_template(s, OPERATOR, pa, "A default", "FI", "fi")
        ta1 = partners.create_template(s, OPERATOR, pa1, "A1 default", "FI", "fi")
        tb = partners.create_template(s, OPERATOR, pb, "B default", "SE", "sv")
        ca = customers.provision(s, OPERATOR, customer_body(
            ta.provisioning_id, "A-CUST-1", "Asiakas Oy",
            ["webex_calling", "webex_meetings", "webex_suite", "webex_voice"],
            {"webex_calling": 20, "webex_meetings": 50}), (pa.id,))
        ca1 = customers.provision(s, OPERATOR, customer_body(
            ta1.provisioning_id, "A1-CUST-1", "Alihankkija Oy", ["webex_calling", "webex_meetings"],
            {"webex_calling": 5}), (pa1.id,))
        cb = customers.provision(s, OPERATOR, customer_body(
            tb.provisioning_id, "B-CUST-1", "Kund AB", ["webex_calling", "webex_meetings"]), (pb.id,))
        loc = {}
        for c in (ca, ca1, cb):
            from rtmhub.domain.locations.service import list_locations
            loc[c.id] = list_locations(s, c)[0].id
        ua = users.create_user(s, OPERATOR, ca, UserFields(
            email="matti.meikalainen@asiakas.example", first_name="Matti", last_name="Meikäläinen",
            package="webex_calling", extension="1001", phone_number="+358912345601", location_id=loc[ca.id]))
        um = users.create_user(s, OPERATOR, ca, UserFields(
            email="maija.meikalainen@asiakas.example", first_name="Maija", last_name="Meikäläinen",
            package="webex_meetings"))
        ua1 = users.create_user(s, OPERATOR, ca1, UserFields(
            email="aino@alihankkija.example", first_name="Aino", last_name="Aaltonen", package="webex_meetings"))
        ub = users.create_user(s, OPERATOR, cb, UserFields(
            email="sven@kund.example", first_name="Sven", last_name="Svensson", package="webex_calling",
            extension="2001", location_id=loc[cb.id]))
        admins = {
            "a_full": ("full@a.example", "partner_full_admin", pa.name, None),
            "a_readonly": ("ro@a.example", "partner_readonly_admin", pa.name, None),
            "a1_full": ("full@a1.example", "partner_full_admin", pa1.name, None),
            "b_full": ("full@b.example", "partner_full_admin", pb.name, None),
            "ca_admin": ("admin@asiakas.example", "customer_full_admin", None, ca.id),
            "cb_admin": ("admin@kund.example", "customer_full_admin", None, cb.id),
        }
        for key, (email, role, partner, customer) in admins.items():
            access.create_admin(s, OPERATOR, email=email, role=role, password="correct horse battery",
                                partner=partner, customer=customer)
            world.tokens[key] = access.create_token(s, OPERATOR, email=email, scopes=list(SCOPES))
        world.tokens["a_noscope"] = access.create_token(s, OPERATOR, email="full@a.example",
                                                        scopes=["spark-admin:organizations_read"])
        world.raw.update(pa=pa.id, pa1=pa1.id, pb=pb.id, ca=ca.id, ca1=ca1.id, cb=cb.id, ua=ua.id, um=um.id,
                         ua1=ua1.id, ub=ub.id, loc_ca=loc[ca.id], loc_ca1=loc[ca1.id], loc_cb=loc[cb.id],
                         ta=ta.provisioning_id, ta1=ta1.provisioning_id, tb=tb.provisioning_id)
        world.ids.update(
            pa_org=ids.encode("ORGANIZATION", pa.id), pa1_org=ids.encode("ORGANIZATION", pa1.id),
            pb_org=ids.encode("ORGANIZATION", pb.id),
            ca=ids.encode("CUSTOMER", ca.id), ca1=ids.encode("CUSTOMER", ca1.id), cb=ids.encode("CUSTOMER", cb.id),
            ca_org=ids.encode("ORGANIZATION", ca.org_id), ca1_org=ids.encode("ORGANIZATION", ca1.org_id),
            cb_org=ids.encode("ORGANIZATION", cb.org_id),
            ua=ids.encode("PEOPLE", ua.id), um=ids.encode("PEOPLE", um.id), ua1=ids.encode("PEOPLE", ua1.id),
            ub=ids.encode("PEOPLE", ub.id),
            sa=ids.encode("SUBSCRIBER", ua.id), sb=ids.encode("SUBSCRIBER", ub.id),
            loc_ca=ids.encode("LOCATION", loc[ca.id]), loc_ca1=ids.encode("LOCATION", loc[ca1.id]),
            loc_cb=ids.encode("LOCATION", loc[cb.id]),
        )
    return world


def _copy_database(database: Database, copy: sqlite3.Connection, *, into_engine: bool) -> None:
    """SQLite's backup between the engine's database file and ``copy``, in the direction asked."""
    raw = database.engine.raw_connection()
    try:
        source, target = (copy, raw.driver_connection) if into_engine else (raw.driver_connection, copy)
        source.backup(target)
    finally:
        raw.close()


@pytest.fixture(scope="session")
def world_template(database):
    """On SQLite, the world built once per session and database and kept as an in-memory copy of the whole
    file: ``world`` copies it back for each test (a few milliseconds, where building it took most of a
    typical test's time). Built by the code under test, as before: a mutant that breaks what the world
    goes through breaks every test that takes it. PostgreSQL builds the world for each test."""
    if not database.is_sqlite:
        yield None
        return
    empty_tables(database)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(access, "_hasher", CHEAP_HASHER)
        template = build_world(database)
    copy = sqlite3.connect(":memory:")
    _copy_database(database, copy, into_engine=False)
    yield template, copy
    copy.close()


@pytest.fixture
def world(db, world_template) -> World:
    if world_template is None:
        return build_world(db)
    template, copy = world_template
    _copy_database(db, copy, into_engine=True)
    # The same tokens and ids come back in every test: nothing one test's process cached of them may reach the next.
    token_cache.clear()
    return World(db=db, tokens=dict(template.tokens), ids=dict(template.ids), raw=dict(template.raw))


@contextmanager
def serving(app, lifespan: str = "off", **extra):
    """``app`` served by uvicorn in a thread on a free loopback port, for real clients."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan=lifespan))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{port}", port=port, **extra)
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@pytest.fixture
def live_server(app):
    """The app served on a free loopback port (lifespan off: no worker thread), for SDKs and schemathesis."""
    with serving(app) as served:
        yield served
