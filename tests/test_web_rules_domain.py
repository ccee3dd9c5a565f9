"""The rules and queries the pages used to hold, now domain services: each test fails if its rule breaks.

Allocation bounds (D3) in ``customers.set_allocation``; ``access.authenticate_password`` (an unknown
e-mail costs the same argon2 verification as a wrong password); the scope of ``customers.usage_summary``,
``customers.names``, ``customers.packages_by_customer`` and ``audit.recent_events``; ``users.enters_calling``
(R20, R21, R33); ``tasks.applied_import_of``. Runs on SQLite and PostgreSQL.
"""
from __future__ import annotations

import argon2
import pytest
from sqlalchemy import select

from conftest import OPERATOR
from rtmhub.domain.access import service as access
from rtmhub.domain.access.models import AdminAccount
from rtmhub.domain.access.schemas import SCOPES, Caller
from rtmhub.domain.audit import service as audit
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.models import CustomerPackage
from rtmhub.domain.tasks import service as tasks
from rtmhub.domain.tasks.models import Task
from rtmhub.domain.users import service as users
from rtmhub.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from rtmhub.jobs import imports

PASSWORD = "correct horse battery"


def caller_of(s, email: str) -> Caller:
    account = s.scalar(select(AdminAccount).where(AdminAccount.email_key == email))
    return access.caller_for_account(s, account, frozenset(SCOPES))


def allocation(db, customer_id: str, package: str) -> int | None:
    with db.unit_of_work(write=False) as s:
        return s.scalar(select(CustomerPackage.allocation).where(CustomerPackage.customer_id == customer_id,
                                                                 CustomerPackage.package == package))


# --- D3: the allocation bounds are the service's -----------------------------------------------

@pytest.mark.parametrize("value", [-1, 10_000_001, 2**40])
def test_set_allocation_refuses_a_value_outside_0_to_10_million(db, world, value):
    ca = world.raw["ca"]
    with pytest.raises(ValidationFailed) as refused, db.unit_of_work() as s:
        customers.set_allocation(s, caller_of(s, "full@a.example"), ca, "webex_meetings", value)
    assert refused.value.status == 400
    assert "0 to 10,000,000" in refused.value.message and "Webex Meetings" in refused.value.message
    assert refused.value.message.template.startswith("The allocation of {package}")  # translatable (msg)
    assert allocation(db, ca, "webex_meetings") == 50


@pytest.mark.parametrize("value", [10_000_000, None, 1])
def test_set_allocation_accepts_the_bounds_and_unlimited(db, world, value):
    ca = world.raw["ca"]
    with db.unit_of_work() as s:
        customers.set_allocation(s, caller_of(s, "full@a.example"), ca, "webex_meetings", value)
    assert allocation(db, ca, "webex_meetings") == value


def test_set_allocation_below_use_is_still_a_conflict(db, world):
    with pytest.raises(Conflict), db.unit_of_work() as s:  # um holds one webex_meetings unit
        customers.set_allocation(s, caller_of(s, "full@a.example"), world.raw["ca"], "webex_meetings", 0)


# --- sign-in ---------------------------------------------------------------------------------

class CountingHasher(argon2.PasswordHasher):
    """The test hasher, counting verifications and remembering the hashes verified against."""

    def __init__(self):
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash, password):
        self.verified.append(hash if isinstance(hash, str) else hash.decode())
        return super().verify(hash, password)


@pytest.fixture
def hasher(world, monkeypatch):
    counting = CountingHasher()
    monkeypatch.setattr(access, "_hasher", counting)
    return counting


def test_authenticate_password_finds_the_account_case_insensitively(db, world, hasher):
    with db.unit_of_work(write=False) as s:
        account = access.authenticate_password(s, " Full@A.example ", PASSWORD)
        assert account.email == "full@a.example"


@pytest.mark.parametrize("email, password", [
    ("full@a.example", "wrong"),  # a wrong password
    ("nobody@a.example", PASSWORD),  # an unknown e-mail
    ("", PASSWORD),  # no e-mail at all
])
def test_every_refused_sign_in_costs_one_verification_of_the_same_cost(db, world, hasher, email, password):
    with db.unit_of_work(write=False) as s:
        stored = s.scalar(select(AdminAccount.password_hash).where(AdminAccount.email_key == "full@a.example"))
        with pytest.raises(Unauthorized) as refused:
            access.authenticate_password(s, email, password)
    assert refused.value.status == 401
    assert refused.value.message == "The e-mail address or password is wrong."  # the same answer for each
    # One argon2 verification, against a hash of the same parameters as a real one: the same time.
    assert len(hasher.verified) == 1
    assert argon2.extract_parameters(hasher.verified[0]) == argon2.extract_parameters(stored)


def test_an_account_without_a_password_cannot_sign_in(db, world, hasher):
    with db.unit_of_work() as s:
        access.create_admin(s, OPERATOR, email="nopass@a.example", role="partner_full_admin", password=None,
                            partner="Partner A")
    with db.unit_of_work(write=False) as s, pytest.raises(Unauthorized):
        access.authenticate_password(s, "nopass@a.example", "")
    assert len(hasher.verified) == 1


# --- scope of the page reads -----------------------------------------------------------------

def test_usage_summary_counts_only_the_callers_customers(db, world):
    with db.unit_of_work(write=False) as s:
        a = customers.usage_summary(s, caller_of(s, "full@a.example"))  # A reaches ca and sub-partner A1's ca1
        b = customers.usage_summary(s, caller_of(s, "full@b.example"))
        own = customers.usage_summary(s, caller_of(s, "admin@asiakas.example"))  # customer admin of ca
    assert (a.customer_count, b.customer_count, own.customer_count) == (2, 1, 1)
    totals = {t.package: (t.allocated, t.used, t.unlimited) for t in a.totals}
    assert totals["webex_calling"] == (25, 1, False)  # ca 20 + ca1 5; Matti holds one
    assert totals["webex_meetings"] == (50, 2, True)  # ca 50, ca1 unlimited; Maija and Aino
    assert [t.package for t in a.totals] == ["webex_calling", "webex_suite", "webex_voice", "webex_meetings"]
    assert {t.package: (t.allocated, t.used) for t in b.totals} == {"webex_calling": (0, 1),
                                                                     "webex_meetings": (0, 0)}
    assert [(c.customer_id, c.package, c.used, c.allocation) for c in a.nearest_full] == [
        (world.raw["ca"], "webex_calling", 1, 20), (world.raw["ca1"], "webex_calling", 0, 5)]
    assert b.nearest_full == []  # Partner B's customer has no limit; A's customers are not B's
    assert {c.customer_id for c in own.nearest_full} == {world.raw["ca"]}


def test_customer_names_and_packages_are_limited_to_the_callers_reach(db, world):
    ca, cb = world.raw["ca"], world.raw["cb"]
    with db.unit_of_work(write=False) as s:
        a = caller_of(s, "full@a.example")
        assert customers.names(s, a, [ca, cb, "no-such-id"]) == {ca: "Asiakas Oy"}
        assert customers.names(s, a, []) == {}
        packs = {cid: [p.package for p in rows] for cid, rows in customers.packages_by_customer(s, a, [ca, cb]).items()}
    assert packs == {ca: ["webex_calling", "webex_meetings", "webex_suite", "webex_voice"]}


def test_recent_events_need_the_customer_in_reach(db, world):
    ca = world.raw["ca"]
    with db.unit_of_work(write=False) as s:
        events = audit.recent_events(s, caller_of(s, "full@a.example"), ca, limit=2)
        assert [e.customer_id for e in events] == [ca, ca]
        assert events[0].at >= events[1].at  # newest first
        assert len(audit.recent_events(s, caller_of(s, "admin@asiakas.example"), ca)) >= 3
        for outsider in ("full@b.example", "admin@kund.example"):
            with pytest.raises(NotFound):
                audit.recent_events(s, caller_of(s, outsider), ca)


def test_package_choices_mark_a_full_package_as_not_offered(db, world):
    ca = world.raw["ca"]
    with db.unit_of_work() as s:
        customers.set_allocation(s, OPERATOR, ca, "webex_meetings", 1)  # Maija holds the only unit (R3)
    with db.unit_of_work(write=False) as s:
        choices = {c.id: c for c in customers.package_choices(s, access.get_customer(s, OPERATOR, ca))}  # plain data
    assert set(choices) == {"webex_calling", "webex_meetings", "webex_suite", "webex_voice"}
    assert choices["webex_meetings"].full and not choices["webex_calling"].full
    assert choices["webex_calling"].calling and not choices["webex_meetings"].calling


# --- entering calling (R20, R21, R33) --------------------------------------------------------

@pytest.mark.parametrize("old, new, entering", [
    (None, "webex_calling", True), ("webex_meetings", "webex_suite", True), ("webex_calling", "webex_suite", False),
    ("webex_voice", "webex_meetings", False), (None, "webex_meetings", False), ("webex_calling", None, False),
    (None, None, False),
])
def test_enters_calling(old, new, entering):
    assert users.enters_calling(old, new) is entering


# --- has this preview been applied -----------------------------------------------------------

def test_applied_import_of_a_preview(db, world):
    ca = world.raw["ca"]
    content = b"User ID/Email (Required),First Name\r\nuusi@asiakas.example,Uusi\r\n"
    with db.unit_of_work() as s:
        a = caller_of(s, "full@a.example")
        preview = imports.submit_import(s, a, ca, file_name="p.csv", content=content, mode="add", preview=True)
        preview.status = "completed"
        preview_id = preview.id
    with db.unit_of_work(write=False) as s:
        assert tasks.applied_import_of(s, caller_of(s, "full@a.example"), preview_id) is None
    with db.unit_of_work() as s:
        applied = tasks.apply_preview(s, caller_of(s, "full@a.example"), preview_id).id
    with db.unit_of_work(write=False) as s:
        assert tasks.applied_import_of(s, caller_of(s, "full@a.example"), preview_id) == applied
        assert s.get(Task, applied).preview_of == preview_id
        with pytest.raises(NotFound):
            tasks.applied_import_of(s, caller_of(s, "full@b.example"), preview_id)
