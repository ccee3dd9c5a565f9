"""Helpers for the bulk-user tests (CSV upload -> task -> rows), shared by tests/test_bulk*.py."""
from __future__ import annotations

import csv
import io
import time

from sqlalchemy import func, select

from rtmhub.csvfile.columns import COLUMNS
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.customers.models import CustomerPackage, MeetingSite
from rtmhub.domain.users.models import User

HEADERS = [c.header for c in COLUMNS]
EMAIL = "User ID/Email (Required)"
PACKAGE_HEADERS = ["Webex Calling", "Webex Calling Standard", "Webex Suite", "Webex Voice", "Webex Meetings",
                   "Customer Assist"]
BASE_HEADERS = ["Basic Messaging", "Basic Space Meetings", "Call on Webex (1:1 call, non-PSTN)"]
FINISHED = ("completed", "completed_with_errors", "failed", "cancelled")


def csv_bytes(rows: list[dict[str, str]], headers: list[str] | None = None) -> bytes:
    """A comma-separated UTF-8 file with the given headers (default: the union of the rows' keys, in
    the canonical column order, e-mail always present)."""
    if headers is None:
        keys = {k for r in rows for k in r} | {EMAIL}
        headers = [h for h in HEADERS if h in keys] + sorted(k for k in keys if k not in HEADERS)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    for r in rows:
        writer.writerow([r.get(h, "") for h in headers])
    return out.getvalue().encode("utf-8")


def person(email: str, package: str | None = None, *, jabber: bool = True, **cells: str) -> dict[str, str]:
    """One CSV row: names from the e-mail, the package column TRUE (the others FALSE), Jabber columns."""
    local = email.split("@")[0]
    row = {EMAIL: email, "First Name": local.split(".")[0].capitalize() or "X",
           "Last Name": (local.split(".") + ["Testinen"])[1].capitalize()}
    if package is not None:
        for h in PACKAGE_HEADERS:
            row[h] = "TRUE" if h == package else "FALSE"
    if jabber:
        row["Jabber Calling"] = "FALSE"
        row["Jabber with Webex Teams"] = "FALSE"
    row.update(cells)
    return row


def upload(client, world, content: bytes, *, mode: str = "add-remove", preview: bool = True,
           who: str = "a_full", org: str | None = None, name: str = "users.csv"):
    return client.post("/v1/userImports", headers=world.auth(who),
                       data={"orgId": org or world.ids["ca_org"], "mode": mode, "preview": str(preview).lower()},
                       files={"file": (name, content, "text/csv")})


def wait(client, world, task_id: str, who: str = "a_full", timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/v1/tasks/{task_id}", headers=world.auth(who))
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in FINISHED:
            return body
        assert time.monotonic() < deadline, f"task still {body['status']}: {body}"
        time.sleep(0.05)


def run(client, world, content: bytes, **kw) -> tuple[dict, dict[int, dict]]:
    """Upload, wait for the task to end; (task, {line: row result})."""
    r = upload(client, world, content, **kw)
    assert r.status_code == 202, r.text
    task = wait(client, world, r.json()["id"], who=kw.get("who", "a_full"))
    return task, rows(client, world, task["id"], who=kw.get("who", "a_full"))


def rows(client, world, task_id: str, who: str = "a_full", **params) -> dict[int, dict]:
    out: dict[int, dict] = {}
    offset = 0
    while True:
        r = client.get(f"/v1/tasks/{task_id}/rows", headers=world.auth(who),
                       params={**params, "offset": offset, "max": 1000})
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        out.update({i["line"]: i for i in items})
        if len(items) < 1000:
            return out
        offset += 1000


def errors_of(row: dict) -> list[dict]:
    return [m for m in row["messages"] if m["level"] == "error"]


def warnings_of(row: dict) -> list[dict]:
    return [m for m in row["messages"] if m["level"] == "warning"]


def error_text(row: dict) -> str:
    return " | ".join(f"{m['column']}: {m['message']}" for m in errors_of(row))


def site_url(db, customer_raw_id: str) -> str:
    with db.unit_of_work(write=False) as s:
        return s.scalar(select(MeetingSite.url).where(MeetingSite.customer_id == customer_raw_id))


def state(db, customer_raw_id: str) -> dict:
    """Everything an import may change: the users, package use, audit trail size."""
    with db.unit_of_work(write=False) as s:
        users = sorted((u.email, u.package, u.extension, u.phone_number, u.location_id, u.first_name,
                        u.basic_messaging, u.basic_space_meetings, u.call_on_webex, u.preferred_site_url,
                        u.jabber_calling, u.jabber_with_teams)
                       for u in s.scalars(select(User).where(User.customer_id == customer_raw_id)))
        used = dict(s.execute(select(CustomerPackage.package, CustomerPackage.used)
                              .where(CustomerPackage.customer_id == customer_raw_id)).all())
        audit = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("user.%")))
    return {"users": users, "used": used, "audit": audit}


def user(db, email: str) -> User | None:
    with db.unit_of_work(write=False) as s:
        u = s.scalar(select(User).where(User.email_key == email.lower()))
        if u is not None:
            s.expunge(u)
        return u


def set_allocation(db, customer_raw_id: str, package: str, allocation: int | None) -> None:
    with db.unit_of_work() as s:
        row = s.scalar(select(CustomerPackage).where(CustomerPackage.customer_id == customer_raw_id,
                                                     CustomerPackage.package == package))
        row.allocation = allocation


def used(db, customer_raw_id: str, package: str) -> int:
    with db.unit_of_work(write=False) as s:
        return s.scalar(select(CustomerPackage.used).where(CustomerPackage.customer_id == customer_raw_id,
                                                           CustomerPackage.package == package))
