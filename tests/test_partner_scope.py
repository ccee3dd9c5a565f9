"""Partner-level tenancy (``access.scope_partners``) and R53 on onboarding templates, on SQLite and PostgreSQL.

A partner reaches its own and its sub-partners' partner-level rows (templates, sub-partners), never another
partner's; a customer admin reaches none. Creating a template is a write: a read-only admin, or a suspended
sub-partner (R53, decision 8), is refused and nothing is written.
"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from rtmhub import ids
from rtmhub.domain.access import service as access
from rtmhub.domain.access.models import AdminAccount
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.partners import service as partners
from rtmhub.domain.partners.models import OnboardingTemplate, Partner
from rtmhub.errors import Forbidden, NotFound


EMAILS = {"a_full": "full@a.example", "a_readonly": "ro@a.example", "a1_full": "full@a1.example",
          "b_full": "full@b.example", "ca_admin": "admin@asiakas.example"}


def _caller(session, who: str) -> Caller:
    account = session.scalar(select(AdminAccount).where(AdminAccount.email == EMAILS[who]))
    return access.caller_for_account(session, account, frozenset())


def _template_count(db) -> int:
    with db.unit_of_work(write=False) as s:
        return s.scalar(select(func.count()).select_from(OnboardingTemplate))


def _suspend(db, partner_id: str) -> None:
    with db.unit_of_work() as s:
        s.get(Partner, partner_id).provisioning_state = "suspended"


@pytest.mark.parametrize("who, reach, templates", [
    ("a_full", {"pa", "pa1"}, {"A default", "A1 default"}),
    ("a1_full", {"pa1"}, {"A1 default"}),
    ("b_full", {"pb"}, {"B default"}),
])
def test_a_partner_sees_its_own_and_its_sub_partners_templates_only(db, world, who, reach, templates):
    with db.unit_of_work(write=False) as s:
        caller = _caller(s, who)
        assert {t.name for t in partners.list_templates(s, caller)} == templates
        assert set(s.scalars(access.scope_partners(select(Partner.id), caller))) == {world.raw[p] for p in reach}


def test_sub_partner_lists_follow_the_partner_scope(db, world):
    with db.unit_of_work(write=False) as s:
        assert [p.id for p in partners.sub_partners(s, _caller(s, "a_full"))] == [world.raw["pa1"]]
        assert partners.sub_partners(s, _caller(s, "b_full")) == []
        # A customer admin reaches no partner-level row at all; the operator reaches every one.
        assert partners.list_templates(s, _caller(s, "ca_admin")) == []
        assert len(partners.list_templates(s, Caller.operator("test"))) == 3


def test_r53_suspended_sub_partner_cannot_create_a_template(db, world):
    _suspend(db, world.raw["pa1"])
    before = _template_count(db)
    for who in ("a1_full", "a_full"):  # the sub-partner itself, and its parent acting for it
        with pytest.raises(Forbidden, match="Partner A1.*suspended"), db.unit_of_work() as s:
            partners.create_template(s, _caller(s, who), s.get(Partner, world.raw["pa1"]), "Uusi", "FI", "fi")
    assert _template_count(db) == before

    # The parent itself is active: its own templates can still be created.
    with db.unit_of_work() as s:
        partners.create_template(s, _caller(s, "a_full"), s.get(Partner, world.raw["pa"]), "Uusi A", "FI", "fi")
    assert _template_count(db) == before + 1


def test_read_only_admin_cannot_create_a_template(db, world):
    before = _template_count(db)
    with pytest.raises(Forbidden, match="read-only"), db.unit_of_work() as s:
        partners.create_template(s, _caller(s, "a_readonly"), s.get(Partner, world.raw["pa"]), "Uusi", "FI", "fi")
    assert _template_count(db) == before


# --- one way to resolve a customer (public ids decoded at the edge) ---------------------------

def test_resolve_customer_by_id_or_org_within_scope(db, world):
    with db.unit_of_work(write=False) as s:
        a = _caller(s, "a_full")
        ca = s.get(Customer, world.raw["ca"])
        for public in (world.ids["ca"], world.ids["ca_org"], ca.id, ca.org_id):
            assert access.resolve_customer(s, a, ids.raw(("CUSTOMER", "ORGANIZATION"), public)).id == ca.id
        assert access.resolve_customer(s, a, ca.org_id, by="org_id").id == ca.id
        # The sub-partner's customer is in reach; another partner's answers exactly like an unknown id.
        assert access.resolve_customer(s, a, world.raw["ca1"]).id == world.raw["ca1"]
        for raw, by in ((world.raw["cb"], "either"), ("no-such-customer", "either"), (ca.id, "org_id"),
                        (ca.org_id, "id")):
            with pytest.raises(NotFound, match="not found"):
                access.resolve_customer(s, a, raw, by=by)
    # A value that is no public id of those kinds is passed on as given, and so matches nothing.
    assert ids.raw("CUSTOMER", "Demo Partner") == "Demo Partner"
    assert ids.raw("CUSTOMER", ids.encode("PEOPLE", world.raw["ua"])) == ids.encode("PEOPLE", world.raw["ua"])
