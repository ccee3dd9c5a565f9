"""Helpers shared by test_rules*.py: the upstream error shape, DB state snapshots, licence look-ups."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from rtmhub import ids
from rtmhub.csvfile.columns import COLUMNS
from rtmhub.csvfile.reader import CsvRow
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.models import Customer, CustomerPackage
from rtmhub.domain.locations.models import Location
from rtmhub.domain.users.models import User

OPERATOR = Caller.operator("rules-test")

USER_COLUMNS = (User.id, User.customer_id, User.home_org_id, User.email, User.first_name, User.last_name,
                User.display_name, User.package, User.basic_messaging, User.basic_space_meetings,
                User.call_on_webex, User.extension, User.phone_number, User.location_id,
                User.caller_id_first_name, User.caller_id_last_name, User.caller_id_number, User.status)


def assert_error(r, status: int, *phrases: str, code: int | None = None) -> dict[str, Any]:
    """The upstream error body {message, errors:[{description, errorCode}], trackingId}; the message
    names what to fix (every phrase given must appear, case-insensitively)."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) >= {"message", "errors", "trackingId"}, body
    assert isinstance(body["message"], str) and body["message"].strip(), body
    assert isinstance(body["errors"], list) and body["errors"], body
    for item in body["errors"]:
        assert isinstance(item["description"], str) and item["description"], body
        assert isinstance(item["errorCode"], int) and not isinstance(item["errorCode"], bool), body
    assert body["trackingId"].startswith("RTMHUB_"), body
    assert r.headers.get("trackingid") == body["trackingId"]
    text = (body["message"] + " " + " ".join(e["description"] for e in body["errors"])).lower()
    for phrase in phrases:
        assert phrase.lower() in text, f"{phrase!r} not in {body['message']!r}"
    if code is not None:
        assert code in [e["errorCode"] for e in body["errors"]], body
    return body


def state(db) -> dict[str, Any]:
    """Everything a refused request must leave untouched."""
    with db.unit_of_work(write=False) as s:
        return {
            "users": sorted((tuple(r) for r in s.execute(select(*USER_COLUMNS))), key=repr),
            "packages": sorted((tuple(r) for r in s.execute(select(
                CustomerPackage.customer_id, CustomerPackage.package, CustomerPackage.allocation,
                CustomerPackage.used))), key=repr),
            "customers": sorted((tuple(r) for r in s.execute(select(
                Customer.id, Customer.external_id, Customer.status, Customer.address_line1))), key=repr),
            "locations": s.scalar(select(func.count()).select_from(Location)),
            "audit": s.scalar(select(func.count()).select_from(AuditEvent)),
        }


def _detached(s, row):
    if row is not None:
        s.expunge(row)  # keeps the loaded values after the read transaction ends
    return row


def user_row(db, raw_id: str) -> User | None:
    with db.unit_of_work(write=False) as s:
        return _detached(s, s.get(User, raw_id))


def user_by_email(db, email: str) -> User | None:
    with db.unit_of_work(write=False) as s:
        return _detached(s, s.scalar(select(User).where(User.email_key == email.lower())))


def package_row(db, customer_id: str, package: str) -> CustomerPackage | None:
    with db.unit_of_work(write=False) as s:
        return _detached(s, s.scalar(select(CustomerPackage).where(CustomerPackage.customer_id == customer_id,
                                                                   CustomerPackage.package == package)))


def holders(db, customer_id: str, package: str) -> int:
    with db.unit_of_work(write=False) as s:
        return s.scalar(select(func.count()).select_from(User).where(User.customer_id == customer_id,
                                                                      User.package == package)) or 0


def set_allocation(db, customer_id: str, package: str, allocation: int | None) -> None:
    with db.unit_of_work() as s:
        customers.set_allocation(s, OPERATOR, customer_id, package, allocation)


def licences(client, world, org_key: str = "ca_org", who: str = "a_full") -> dict[str, dict[str, Any]]:
    """package id -> licence item of GET /v1/licenses for the org."""
    r = client.get("/v1/licenses", params={"orgId": world.ids[org_key]}, headers=world.auth(who))
    assert r.status_code == 200, r.text
    return {item["package"]: item for item in r.json()["items"]}


def licence_id(client, world, package: str, org_key: str = "ca_org") -> str:
    return licences(client, world, org_key)[package]["id"]


def person_id(raw: str) -> str:
    return ids.encode("PEOPLE", raw)


def subscriber_id(raw: str) -> str:
    return ids.encode("SUBSCRIBER", raw)


# --- CSV rows for the planner and the bulk writer, without a file ------------------------------

COL = {c.header: c for c in COLUMNS}
EMAIL = "User ID/Email (Required)"
PACKAGE_HEADERS = ["Webex Calling", "Webex Calling Standard", "Webex Suite", "Webex Voice", "Webex Meetings",
                   "Customer Assist"]


def csv_rows(*cells: dict[str, str]) -> list[CsvRow]:
    """Rows of one file: every row has a cell for every column any row names ("" when absent)."""
    headers = [c.header for c in COLUMNS if any(c.header in r for r in cells)]
    return [CsvRow(line, {COL[h]: r.get(h, "") for h in headers}) for line, r in enumerate(cells, start=2)]


def package(name: str | None, **cells: str) -> dict[str, str]:
    """A row's package cells: TRUE in the column ``name`` (None: every one FALSE), with ``cells`` beside."""
    row = {h: ("TRUE" if h == name else "FALSE") for h in PACKAGE_HEADERS}
    row.update(cells)
    return row


def refused(error, call, *args, **kwargs) -> str:
    """The message of the error of exactly the type ``error`` that ``call(*args, **kwargs)`` raises."""
    with pytest.raises(error) as caught:
        call(*args, **kwargs)
    assert type(caught.value) is error
    return str(caught.value)
