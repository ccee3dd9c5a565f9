"""The billing reports are exact (issue 11, docs/billing.md): random sequences of package assignments,
changes, removals, user and customer deletions, renames and allocation changes, made through the real
services at a controlled clock, give PARTNER, CUSTOMER and USER reports equal to a brute-force recount of
the sequence — for each UTC day, which users held which package at some moment of it."""
from __future__ import annotations

import csv
import io
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from tests.conftest import OPERATOR, customer_body

from rtmhub import ids as public_ids
from rtmhub.db import Database
from rtmhub.domain.billing.content import write_report
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.settings_service import update_settings
from rtmhub.domain.locations.service import list_locations
from rtmhub.domain.partners import service as partners
from rtmhub.domain.users import service as users
from rtmhub.domain.users.models import User
from rtmhub.domain.users.schemas import UserFields
from rtmhub.errors import AllocationExceeded, Conflict
from rtmhub.migrate import upgrade

EPOCH = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
PACKAGES = ("webex_meetings", "webex_suite", "webex_voice")  # one without calling, two calling
CALLING = {"webex_suite", "webex_voice"}
SLOTS = 4  # users per customer
CUSTOMERS = 2


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    """One migrated SQLite file, copied for each example: a fresh database in milliseconds."""
    path = tmp_path_factory.mktemp("ledger") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


# --- the sequence ---------------------------------------------------------------------------------------

package = st.sampled_from(PACKAGES)
slot = st.integers(0, SLOTS - 1)
cust = st.integers(0, CUSTOMERS - 1)
advance = st.one_of(
    st.tuples(st.just("advance"), st.integers(1, 24 * 60).map(lambda m: timedelta(minutes=m))),
    st.tuples(st.just("advance"), st.integers(1, 4).map(lambda d: timedelta(days=d))),
    st.tuples(st.just("midnight"), st.integers(0, 2)),  # exactly the next midnight (+ whole days)
)
assign = st.tuples(st.just("assign"), cust, slot, st.one_of(st.none(), package))  # create, or change the package
operation = st.one_of(
    advance, advance, advance,
    assign, assign, assign, assign,
    st.tuples(st.just("remove"), cust, slot),  # the package goes, the person stays
    st.tuples(st.just("delete"), cust, slot),
    st.tuples(st.just("allocation"), cust, package, st.one_of(st.none(), st.integers(0, 4))),
    st.tuples(st.just("rename"), cust, st.sampled_from(("Alpha Oy", "Beta, Ltd", 'Gamma "AB"'))),
    st.tuples(st.just("drop_customer"), cust, st.integers(0, 3)),  # acts on 0 only: a rare event
)


@dataclass
class Segment:
    """A user's holding of one package, as the sequence made it: [start, end), end None = still held."""

    customer: int
    user_id: str
    email: str
    package: str
    start: datetime
    end: datetime | None = None


@dataclass
class Model:
    """What the sequence did, kept by the test alone."""

    segments: list[Segment] = field(default_factory=list)
    holding: dict[tuple[int, int], Segment | None] = field(default_factory=dict)  # (customer, slot) -> open
    user_ids: dict[tuple[int, int], str] = field(default_factory=dict)
    names: dict[int, list[tuple[datetime, str]]] = field(default_factory=dict)
    allocations: dict[tuple[int, str], list[tuple[datetime, int | None]]] = field(default_factory=dict)
    removed: dict[int, datetime] = field(default_factory=dict)

    def set_package(self, key: tuple[int, int], new: str | None, now: datetime, email: str) -> None:
        current = self.holding.get(key)
        if (current.package if current else None) == new:
            return
        if current is not None:
            current.end = now
        self.holding[key] = None
        if new is not None:
            seg = Segment(key[0], self.user_ids[key], email, new, now)
            self.segments.append(seg)
            self.holding[key] = seg


def _email(c: int, s: int) -> str:
    return f"user{s}@customer{c}.example"


def _fields(pkg: str | None, s: int, location: str) -> UserFields:
    if pkg in CALLING:
        return UserFields(package=pkg, extension=str(1000 + s), location_id=location)
    return UserFields(package=pkg)


def _setup(db: Database, model: Model) -> tuple[list[str], list[str], list[str], str]:
    with time_machine.travel(EPOCH, tick=False), db.unit_of_work() as s:
        partner = partners.create_partner(s, OPERATOR, "Partner")
        template = partners.create_template(s, OPERATOR, partner, "Default", "FI", "fi")
        ids, locations, org_ids = [], [], []
        for c in range(CUSTOMERS):
            customer = customers.provision(s, OPERATOR, customer_body(
                template.provisioning_id, f"EXT-{c}", f"Customer {c}", list(PACKAGES)), (partner.id,))
            ids.append(customer.id)
            org_ids.append(public_ids.encode("ORGANIZATION", customer.org_id))
            locations.append(list_locations(s, customer)[0].id)
            model.names[c] = [(EPOCH, f"Customer {c}")]
            for p in PACKAGES:
                model.allocations[(c, p)] = [(EPOCH, None)]
        return ids, locations, org_ids, partner.id


def _run(db: Database, model: Model, ops: list[tuple], ids: list[str], locations: list[str]) -> datetime:
    now = EPOCH
    for op in ops:
        kind = op[0]
        if kind == "advance":
            now += op[1]
            continue
        if kind == "midnight":
            now = datetime.combine(now.date() + timedelta(days=1 + op[1]), datetime.min.time(), UTC)
            continue
        c = op[1]
        if c in model.removed:
            continue
        with time_machine.travel(now, tick=False):
            try:
                with db.unit_of_work() as s:
                    customer = customers.get_customer(s, OPERATOR, ids[c])
                    _apply(s, model, op, customer, locations[c], now)
            except (AllocationExceeded, Conflict):
                pass  # refused and rolled back: the model was changed only after the commit
    return now


def _apply(s, model: Model, op: tuple, customer, location: str, now: datetime) -> None:
    kind, c = op[0], op[1]
    if kind in ("assign", "remove", "delete"):
        key = (c, op[2])
        user = s.get(User, model.user_ids[key]) if key in model.user_ids else None
        if kind == "assign" and user is None:
            created = users.create_user(s, OPERATOR, customer, UserFields(
                email=_email(*key), first_name="Test", last_name=f"User {op[2]}",
                **_fields(op[3], op[2], location).model_dump(exclude_unset=True)))

            def model_after() -> None:
                model.user_ids[key] = created.id
                model.set_package(key, op[3], now, _email(*key))
        elif user is None:
            return
        elif kind == "assign":
            users.update_user(s, OPERATOR, customer, user, _fields(op[3], op[2], location), calling_data_given=True)
            model_after = lambda: model.set_package(key, op[3], now, _email(*key))  # noqa: E731
        elif kind == "remove":
            if user.package is None:
                return
            users.remove_package(s, OPERATOR, customer, user)
            model_after = lambda: model.set_package(key, None, now, _email(*key))  # noqa: E731
        else:
            users.delete_user(s, OPERATOR, customer, user)

            def model_after() -> None:
                model.set_package(key, None, now, _email(*key))
                del model.user_ids[key]
    elif kind == "allocation":
        customers.set_allocation(s, OPERATOR, customer.id, op[2], op[3])
        model_after = lambda: model.allocations[(c, op[2])].append((now, op[3]))  # noqa: E731
    elif kind == "rename":
        update_settings(s, OPERATOR, customer.id, name=op[2])
        model_after = lambda: model.names[c].append((now, op[2]))  # noqa: E731
    else:
        if op[2]:
            return
        customers.remove(s, OPERATOR, customer.id)

        def model_after() -> None:
            for key in [k for k in model.user_ids if k[0] == c]:
                model.set_package(key, None, now, "")
                del model.user_ids[key]
            model.removed[c] = now
    s.flush()
    model_after()  # the commit follows; a refusal raised before this line


# --- the brute-force recount ----------------------------------------------------------------------------

def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, datetime.min.time(), UTC)
    return start, start + timedelta(days=1)


def _held_on(seg: Segment, day: date) -> bool:
    d0, d1 = _day_bounds(day)
    end = seg.end if seg.end is not None else datetime.max.replace(tzinfo=UTC)
    return max(seg.start, d0) < min(end, d1)


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _name(model: Model, c: int, before: datetime) -> str:
    return [name for at, name in model.names[c] if at < before][-1]


def _allocation(model: Model, c: int, pkg: str, day: date) -> str:
    """The allocation holding just before the day's end (none once the customer is deleted)."""
    _, d1 = _day_bounds(day)
    if c in model.removed and model.removed[c] < d1:
        return ""
    value = [v for at, v in model.allocations[(c, pkg)] if at < d1][-1]
    return "" if value is None else str(value)


def _expected(model: Model, start: date, end: date, org_ids: list[str]) -> dict[str, list[tuple]]:
    days = _days(start, end)
    period_end = _day_bounds(end)[1]
    units: dict[tuple[int, str], list[int]] = {}
    for c in range(CUSTOMERS):
        for pkg in PACKAGES:
            counts = [len({seg.user_id for seg in model.segments
                           if seg.customer == c and seg.package == pkg and _held_on(seg, d)}) for d in days]
            if any(counts):
                units[(c, pkg)] = counts
    partner, customer = [], []
    for (c, pkg), counts in units.items():
        who = (f"EXT-{c}", _name(model, c, period_end), org_ids[c])
        avg = (Decimal(sum(counts)) / Decimal(len(days))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        partner.append((*who, pkg, str(sum(counts)), str(max(counts)), f"{avg:.2f}", _allocation(model, c, pkg, end)))
        for d, n in zip(days, counts, strict=True):
            customer.append((*who, pkg, d.isoformat(), str(n), _allocation(model, c, pkg, d)))
    user = []
    for seg in model.segments:
        held = [d for d in days if _held_on(seg, d)]
        if not held:
            continue
        until = "" if seg.end is None or seg.end >= period_end else _iso(seg.end)
        user.append((seg.email, public_ids.encode("PEOPLE", seg.user_id), f"EXT-{seg.customer}",
                     org_ids[seg.customer], seg.package,
                     _iso(seg.start), until, str(len(held))))
    return {"PARTNER": sorted(partner), "CUSTOMER": sorted(customer), "USER": sorted(user)}


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _report(db: Database, kind: str, start: date, end: date, partner_id: str) -> list[tuple]:
    out = io.StringIO()
    with db.unit_of_work(write=False) as s:
        count = write_report(s, out, kind, start, end, (partner_id,))
    text = out.getvalue()
    assert "\r" not in text
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == count + 1  # the header and the lines counted
    return [tuple(r) for r in rows[1:]]


EXAMPLES = int(os.environ.get("LEDGER_EXAMPLES", "60"))  # more for a longer hunt; 60 keeps `make test` quick


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.tuples(st.lists(assign, min_size=2, max_size=8), st.lists(operation, min_size=15, max_size=60))
       .map(lambda parts: parts[0] + parts[1]),
       periods=st.lists(st.tuples(st.integers(-1, 20), st.integers(0, 20)), min_size=1, max_size=3))
def test_reports_match_a_brute_force_recount(template_db, tmp_path_factory, ops, periods):
    path = tmp_path_factory.mktemp("example") / "rtmhub.db"
    shutil.copy(template_db, path)
    db = Database(f"sqlite:///{path}")
    try:
        model = Model()
        ids, locations, org_ids, partner_id = _setup(db, model)
        last = _run(db, model, ops, ids, locations)
        event(f"package intervals: {min(len(model.segments), 10)}{'+' if len(model.segments) >= 10 else ''}")
        span = max(1, (last.date() - EPOCH.date()).days + 2)
        for offset, length in periods:
            start = EPOCH.date() + timedelta(days=offset % span)
            end = start + timedelta(days=length % span)
            expected = _expected(model, start, end, org_ids)
            for kind in ("PARTNER", "CUSTOMER", "USER"):
                got = _report(db, kind, start, end, partner_id)
                assert sorted(got) == expected[kind], (kind, start, end)
                assert _report(db, kind, start, end, partner_id) == got  # the same bytes again
    finally:
        db.dispose()

