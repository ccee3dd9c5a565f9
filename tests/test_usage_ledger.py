"""The ledger of package use is written by every face in the transaction of the change (issue 11): the API,
a CSV import, a revert, SCIM with a group mapped to a package, user and customer deletion; a refused change
writes nothing; the migration opens an interval for each package held before it. SQLite and PostgreSQL."""
from __future__ import annotations

import io
from datetime import UTC, datetime, time, timedelta

import pytest
from alembic import command
from sqlalchemy import select, update
from tests.bulk_support import PACKAGE_HEADERS, csv_bytes, person, run, wait
from tests.conftest import OPERATOR

from rtmhub import ids
from rtmhub.db import utcnow
from rtmhub.domain.billing.content import REPORT_TYPES, write_report
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.customers.settings_service import update_settings
from rtmhub.domain.directory import service as directory
from rtmhub.domain.usage.models import AllocationInterval, PackageInterval
from rtmhub.domain.users import service as users
from rtmhub.domain.users.models import User
from rtmhub.domain.users.schemas import UserFields
from rtmhub.errors import AllocationExceeded
from rtmhub.migrate import alembic_config, upgrade



def open_intervals(db) -> set[tuple[str, str]]:
    with db.unit_of_work(write=False) as s:
        rows = s.execute(select(PackageInterval.user_id, PackageInterval.package)
                         .where(PackageInterval.ended.is_(None))).all()
    assert len(rows) == len(set(rows)), "a user has two open intervals of one package"
    return {(u, p) for u, p in rows}


def held(db) -> set[tuple[str, str]]:
    with db.unit_of_work(write=False) as s:
        return {(u, p) for u, p in s.execute(select(User.id, User.package).where(User.package.is_not(None)))}


def assert_exact(db) -> None:
    """The ledger's open intervals are exactly the packages the users hold now."""
    assert open_intervals(db) == held(db)


def intervals_of(db, user_id: str) -> list[tuple[str, bool]]:
    with db.unit_of_work(write=False) as s:
        return [(p, ended is None) for p, ended in s.execute(
            select(PackageInterval.package, PackageInterval.ended).where(PackageInterval.user_id == user_id)
            .order_by(PackageInterval.started, PackageInterval.id))]


def user_id_by_email(db, email: str) -> str:
    with db.unit_of_work(write=False) as s:
        return s.scalar(select(User.id).where(User.email_key == email))


def test_the_world_built_through_the_services_is_in_the_ledger(world, db):
    assert_exact(db)
    assert intervals_of(db, world.raw["ua"]) == [("webex_calling", True)]
    with db.unit_of_work(write=False) as s:
        allocations = {(a.customer_id, a.package): a.allocation for a in s.scalars(
            select(AllocationInterval).where(AllocationInterval.ended.is_(None)))}
    assert allocations[(world.raw["ca"], "webex_calling")] == 20
    assert allocations[(world.raw["ca"], "webex_suite")] is None  # unlimited


def test_api_subscriber_create_change_and_remove_write_the_ledger(client, world, db):
    h = world.auth("a_full")
    r = client.post("/v1/wholesale/subscribers", headers=h, json={
        "customerId": world.ids["ca"], "email": "tilaaja@asiakas.example", "packages": ["webex_calling"],
        "provisioningParameters": {"firstName": "Tilaa", "lastName": "Ja", "extension": "1777",
                                   "locationId": world.ids["loc_ca"]}})
    assert r.status_code == 200, r.text
    subscriber = user_id_by_email(db, "tilaaja@asiakas.example")
    assert intervals_of(db, subscriber) == [("webex_calling", True)]
    # the package changes: the old interval closes and the new one opens in the same request
    r = client.put(f"/v1/wholesale/subscribers/{r.json()['id']}", headers=h, json={"package": "webex_suite"})
    assert r.status_code == 200, r.text
    assert intervals_of(db, subscriber) == [("webex_calling", False), ("webex_suite", True)]
    r = client.delete(f"/v1/wholesale/subscribers/{ids.encode('SUBSCRIBER', subscriber)}", headers=h)
    assert r.status_code == 204, r.text
    assert intervals_of(db, subscriber) == [("webex_calling", False), ("webex_suite", False)]
    assert_exact(db)


def test_csv_import_and_its_revert_write_the_ledger_set_wise(client, world, db):
    content = csv_bytes([
        person("uusi.yksi@asiakas.example", "Webex Meetings"),
        person("uusi.kaksi@asiakas.example", "Webex Suite", Extension="2003", Location="Helsinki HQ"),
        person("maija.meikalainen@asiakas.example", None, **{h: "FALSE" for h in PACKAGE_HEADERS}),  # deleted
    ])
    task, rows = run(client, world, content, mode="add-remove", preview=False)
    assert task["status"] == "completed", (task, rows)
    new = user_id_by_email(db, "uusi.yksi@asiakas.example")
    assert intervals_of(db, new) == [("webex_meetings", True)]
    assert intervals_of(db, world.raw["um"]) == [("webex_meetings", False)]  # closed, kept
    assert_exact(db)

    r = client.post(f"/v1/tasks/{task['id']}/revert", headers=world.auth("a_full"))
    assert r.status_code == 202, r.text
    done = wait(client, world, r.json()["id"])
    assert done["status"] == "completed", done
    assert intervals_of(db, new) == [("webex_meetings", False)]
    maija = user_id_by_email(db, "maija.meikalainen@asiakas.example")  # re-created with a new id
    assert intervals_of(db, maija) == [("webex_meetings", True)]
    assert_exact(db)


def test_scim_member_of_a_mapped_group_gets_an_interval(client, world, db):
    ca = world.raw["ca"]
    with db.unit_of_work() as s:
        directory.enable(s, OPERATOR, ca)
        token = directory.create_token(s, OPERATOR, ca)[1]
        org = s.get(Customer, ca).org_id
    base = f"/identity/scim/{org}/v2"
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    r = client.post(f"{base}/Groups", headers=auth, json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Meetings"})
    assert r.status_code == 201, r.text
    group_id = r.json()["id"]
    with db.unit_of_work() as s:
        directory.map_group(s, OPERATOR, ca, group="Meetings", package="webex_meetings")
    r = client.post(f"{base}/Users", headers=auth, json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "scim@asiakas.example",
        "name": {"givenName": "Scim", "familyName": "User"}, "active": True})
    assert r.status_code == 201, r.text
    user_id = r.json()["id"]
    assert intervals_of(db, user_id) == []
    r = client.patch(f"{base}/Groups/{group_id}", headers=auth, json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": "members", "value": [{"value": user_id}]}]})
    assert r.status_code in (200, 204), r.text
    assert intervals_of(db, user_id) == [("webex_meetings", True)]
    r = client.delete(f"{base}/Users/{user_id}", headers=auth)
    assert r.status_code == 204, r.text
    assert intervals_of(db, user_id) == [("webex_meetings", False)]
    assert_exact(db)


def test_user_delete_closes_its_interval(world, db):
    with db.unit_of_work() as s:
        customer = s.get(Customer, world.raw["ca"])
        users.delete_user(s, OPERATOR, customer, users.get_user(s, customer, world.raw["ua"]))
    assert intervals_of(db, world.raw["ua"]) == [("webex_calling", False)]
    assert_exact(db)


def test_customer_delete_closes_every_interval_of_it(client, world, db):
    ca = world.raw["ca"]
    r = client.delete(f"/v1/wholesale/customers/{world.ids['ca']}", headers=world.auth("a_full"))
    assert r.status_code == 202, r.text
    with db.unit_of_work(write=False) as s:
        assert s.get(Customer, ca) is None
        still_open = s.scalars(select(PackageInterval.id).where(PackageInterval.customer_id == ca,
                                                                PackageInterval.ended.is_(None))).all()
        closed = s.scalars(select(PackageInterval.id).where(PackageInterval.customer_id == ca)).all()
        allocations = s.execute(select(AllocationInterval.package, AllocationInterval.ended)
                                .where(AllocationInterval.customer_id == ca)).all()
    assert still_open == [] and len(closed) == 2  # Matti's and Maija's, kept as history
    assert allocations and all(ended is not None for _, ended in allocations)
    assert_exact(db)


def test_a_refused_change_writes_no_ledger_row(world, db):
    ca = world.raw["ca"]
    with db.unit_of_work() as s:
        customers.set_allocation(s, OPERATOR, ca, "webex_meetings", 1)  # Maija holds the one unit
    with db.unit_of_work(write=False) as s:
        before = s.execute(select(PackageInterval.id, PackageInterval.ended)).all()
    with pytest.raises(AllocationExceeded), db.unit_of_work() as s:
        customer = s.get(Customer, ca)
        users.update_user(s, OPERATOR, customer, users.get_user(s, customer, world.raw["ua"]),
                          UserFields(package="webex_meetings"))
    with db.unit_of_work(write=False) as s:
        assert s.execute(select(PackageInterval.id, PackageInterval.ended)).all() == before
    assert intervals_of(db, world.raw["ua"]) == [("webex_calling", True)]
    # an allocation change is in the ledger too: the old allocation closes, the new one opens
    with db.unit_of_work(write=False) as s:
        meetings = s.execute(select(AllocationInterval.allocation, AllocationInterval.ended)
                             .where(AllocationInterval.customer_id == ca,
                                    AllocationInterval.package == "webex_meetings")
                             .order_by(AllocationInterval.started, AllocationInterval.id)).all()
    assert [(a, e is None) for a, e in meetings] == [(50, False), (1, True)]


def test_migration_opens_an_interval_for_each_package_held(world, db):
    """Down to 0010 (no ledger) and up again: each package held opens an interval from when it was assigned
    (the user's creation when that is unknown), each customer package an allocation interval."""
    with db.unit_of_work() as s:
        s.execute(update(User).where(User.id == world.raw["um"]).values(package_assigned=None))
        expected = {(u.id, u.package, u.package_assigned or u.created)
                    for u in s.scalars(select(User).where(User.package.is_not(None)))}
    db.engine.dispose()
    command.downgrade(alembic_config(db.url), "0010")
    upgrade(db.url)
    with db.unit_of_work(write=False) as s:
        got = {(i.user_id, i.package, i.started) for i in s.scalars(select(PackageInterval))}
        allocations = s.execute(select(AllocationInterval.customer_id, AllocationInterval.package,
                                       AllocationInterval.allocation, AllocationInterval.ended)).all()
    assert got == expected and len(expected) == 4
    assert (world.raw["ca"], "webex_calling", 20, None) in allocations
    assert_exact(db)


def test_a_past_period_gives_the_same_bytes_after_a_change_rename_and_deletion(world, db):
    """Reproducibility (docs/billing.md): what happens after the period changes nothing in its report."""
    ca, pa = world.raw["ca"], world.raw["pa"]
    yesterday = utcnow().date() - timedelta(days=1)
    earlier = datetime.combine(yesterday - timedelta(days=1), time(9), UTC)
    with db.unit_of_work() as s:  # the world was made now: its history starts two days back instead
        s.execute(update(PackageInterval).values(started=earlier))
        s.execute(update(AllocationInterval).values(started=earlier))
    period = (yesterday - timedelta(days=1), yesterday)

    def reports() -> dict[str, str]:
        out = {}
        with db.unit_of_work(write=False) as s:
            for kind in REPORT_TYPES:
                buffer = io.StringIO()
                write_report(s, buffer, kind, *period, (pa,))
                out[kind] = buffer.getvalue()
        return out

    before = reports()
    assert "Asiakas Oy" in before["PARTNER"] and "matti.meikalainen@asiakas.example" in before["USER"]
    assert ",webex_calling,2,1,1.00,20\n" in before["PARTNER"]  # Matti, both days, allocation 20
    with db.unit_of_work() as s:
        customer = s.get(Customer, ca)
        users.remove_package(s, OPERATOR, customer, users.get_user(s, customer, world.raw["ua"]))
        update_settings(s, OPERATOR, ca, name="Renamed Oy")
    assert reports() == before
    with db.unit_of_work() as s:
        customers.remove(s, OPERATOR, ca)
    assert reports() == before
