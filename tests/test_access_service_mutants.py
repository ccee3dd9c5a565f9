"""Access service (domain/access/service.py) observed through its functions on the `db` fixture's session:
set-password links, the first administrator, administrator lists and deletion, reset links, password sign-in.
Every refusal by its type and its message word for word; every acceptance by what was written.
Written against `make mutation` (docs/testing.md)."""
from __future__ import annotations

import dataclasses
import unicodedata
from datetime import timedelta

import pytest
from sqlalchemy import delete, event, select

from rtmhub.db import utcnow
from rtmhub.domain.access import service as access
from rtmhub.domain.access.models import AdminAccount, SetPasswordLink, WebSession
from rtmhub.domain.access.schemas import SCOPES, Caller
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.partners.models import Partner
from rtmhub.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed

from rules_support import refused
from tests.conftest import OPERATOR

PASSWORD = "correct horse battery"  # the world's administrators' password
NEW_PASSWORD = "violet kettle drifts north"
LINK_INVALID = ("This link does not work: it has expired, has already been used or has been replaced by a newer one. "
                "Ask your partner (or the rtmhub operator) for a new link.")
READ_ONLY = "A read-only administrator cannot change anything."


def caller_of(s, email: str) -> Caller:
    return access.caller_for_account(s, access.find_admin(s, email), frozenset(SCOPES))


def links(s) -> dict[str, tuple[str, str]]:
    """Every stored set-password link: token hash -> (the account's e-mail, expiry)."""
    return {row.token_hash: (s.get(AdminAccount, row.admin_id).email, row.expires)
            for row in s.scalars(select(SetPasswordLink))}


def sign_in_refused(s, email: str, password: str) -> str:
    return refused(Unauthorized, access.authenticate_password, s, email, password)


# --- set-password links ----------------------------------------------------------------------

def test_a_new_link_replaces_only_the_accounts_earlier_link_and_is_audited(world, db):
    now = utcnow().replace(microsecond=0)
    with db.unit_of_work() as s:
        other = access.find_admin(s, "full@a.example")
        kept, _ = access.issue_set_password_link(s, OPERATOR, other, now=now)
        account = access.find_admin(s, "admin@a-cust-1.example")
        first, _ = access.issue_set_password_link(s, OPERATOR, account, now=now)
        token, expires = access.issue_set_password_link(s, OPERATOR, account, now=now + timedelta(hours=1))
        assert expires == now + timedelta(days=7, hours=1)
        assert len(token) == 43 and len(first) == 43 and token != first  # 32 random bytes, base64url
        assert links(s) == {access.hash_token(kept): ("full@a.example", now + timedelta(days=7)),
                            access.hash_token(token): ("admin@a-cust-1.example", expires)}
        row = s.scalar(select(SetPasswordLink).where(SetPasswordLink.token_hash == access.hash_token(token)))
        assert row.created == now + timedelta(hours=1)
        account_id = account.id
    with db.unit_of_work(write=False) as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "admin.link",
                                                    AuditEvent.entity_id == account_id).order_by(AuditEvent.at)).all()
        assert [(e.actor, e.entity_type, e.customer_id, e.before, e.after) for e in events] == [
            (OPERATOR.actor, "admin", world.raw["ca"], None,
             {"email": "admin@a-cust-1.example", "expires": (now + timedelta(days=7)).isoformat()}),
            (OPERATOR.actor, "admin", world.raw["ca"], None,
             {"email": "admin@a-cust-1.example", "expires": expires.isoformat()})]


def test_a_link_works_until_the_instant_it_expires(world, db):
    now = utcnow()
    with db.unit_of_work() as s:
        account = access.find_admin(s, "admin@a-cust-1.example")
        token, expires = access.issue_set_password_link(s, OPERATOR, account, now=now)
        assert access.link_account(s, token, expires - timedelta(microseconds=1)).id == account.id
        assert access.link_account(s, token).id == account.id  # now: well within the week
        assert refused(NotFound, access.link_account, s, token, expires) == LINK_INVALID
        assert refused(NotFound, access.use_set_password_link, s, token, NEW_PASSWORD, expires) == LINK_INVALID
        assert refused(NotFound, access.link_account, s, token[:-1]) == LINK_INVALID
        assert refused(NotFound, access.link_account, s, "") == LINK_INVALID


def test_a_link_token_over_200_characters_is_not_looked_up(world, db):
    with db.unit_of_work() as s:
        account = access.find_admin(s, "full@a.example")
        for token in ("x" * 200, "y" * 201):  # stored by hand: a real token has 43 characters
            s.add(SetPasswordLink(admin_id=account.id, token_hash=access.hash_token(token), created=utcnow(),
                                  expires=utcnow() + timedelta(days=1)))
        s.flush()
        assert access.link_account(s, "x" * 200).id == account.id
        assert refused(NotFound, access.link_account, s, "y" * 201) == LINK_INVALID


def test_using_a_link_sets_the_password_once_and_ends_only_the_accounts_open_sessions(world, db):
    now = utcnow()
    earlier = now - timedelta(hours=2)
    with db.unit_of_work() as s:
        account = access.find_admin(s, "full@a.example")
        other = access.find_admin(s, "ro@a.example")
        other_token, _ = access.issue_set_password_link(s, OPERATOR, other, now=now)
        token, _ = access.issue_set_password_link(s, OPERATOR, account, now=now)
        s.add_all([WebSession(id="open", admin_id=account.id), WebSession(id="ended", admin_id=account.id,
                                                                          ended=earlier),
                   WebSession(id="other", admin_id=other.id)])
        s.flush()
        # The policy first: a refused password leaves the link working and the old password in place.
        assert refused(ValidationFailed, access.use_set_password_link, s, token, "lyhyt").startswith(
            "The password is too short (5 characters)")
        assert access.link_account(s, token).id == account.id
        used = access.use_set_password_link(s, token, NEW_PASSWORD, now + timedelta(minutes=1))
        assert used.id == account.id
        assert refused(NotFound, access.use_set_password_link, s, token, "another sound passphrase") == LINK_INVALID
        assert access.link_account(s, other_token).id == other.id  # another account's link still works
        ended = {w.id: w.ended for w in s.scalars(select(WebSession))}
        assert ended == {"open": now + timedelta(minutes=1), "ended": earlier, "other": None}
        account_id = account.id
    with db.unit_of_work(write=False) as s:
        assert access.authenticate_password(s, "full@a.example", NEW_PASSWORD).id == account_id
        assert sign_in_refused(s, "full@a.example", PASSWORD) == "The e-mail address or password is wrong."
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "admin.password"))
        assert (event.actor, event.entity_type, event.entity_id, event.customer_id, event.partner_id, event.before,
                event.after) == ("full@a.example", "admin", account_id, None, world.raw["pa"], None,
                                 {"email": "full@a.example", "via": "set-password link"})


def test_a_customer_admins_link_is_audited_with_its_customer(world, db):
    with db.unit_of_work() as s:
        account = access.find_admin(s, "admin@a-cust-1.example")
        assert account.password_hash is None and account.role == "customer_full_admin"  # the first admin (R5)
        assert account.customer_id == world.raw["ca"] and account.partner_id is None
        token, _ = access.issue_set_password_link(s, OPERATOR, account)
        access.use_set_password_link(s, token, NEW_PASSWORD)
    with db.unit_of_work(write=False) as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "admin.password"))
        assert (event.actor, event.customer_id, event.after) == (
            "admin@a-cust-1.example", world.raw["ca"], {"email": "admin@a-cust-1.example", "via": "set-password link"})
        assert access.authenticate_password(s, "Admin@A-Cust-1.example", NEW_PASSWORD).id == account.id


# --- reset links -----------------------------------------------------------------------------

def test_reset_link_by_the_operator_reaches_every_account(world, db):
    with db.unit_of_work() as s:
        account, token, expires = access.reset_link(s, OPERATOR, email=" FULL@b.example ")
        assert account.email == "full@b.example"
        assert access.link_account(s, token).id == account.id
        assert timedelta(days=7) - timedelta(minutes=1) < expires - utcnow() <= timedelta(days=7)
        assert refused(NotFound, access.reset_link, s, OPERATOR, email=" nobody@a.example ") == (
            "No administrator with e-mail nobody@a.example; 'rtmhub admin list' shows them.")
        reader = caller_of(s, "ro@a.example")
        assert refused(Forbidden, access.reset_link, s, reader, email="full@a.example") == READ_ONLY
        assert refused(Forbidden, access.reset_link, s, reader, email="admin@a-cust-1.example",
                       customer_id=world.raw["ca"]) == READ_ONLY


def test_reset_link_by_a_partner_reaches_only_the_admins_it_lists(world, db):
    with db.unit_of_work() as s:
        partner = caller_of(s, "full@a.example")
        account, token, _ = access.reset_link(s, partner, email=" Admin@A1-Cust-1.example ")
        assert account.email == "admin@a1-cust-1.example"
        assert access.link_account(s, token).id == account.id
        assert access.reset_link(s, partner, email="ro@a.example")[0].email == "ro@a.example"
        for foreign in ("full@b.example", "admin@kund.example"):
            assert refused(NotFound, access.reset_link, s, partner, email=f" {foreign} ") == (
                f"No administrator with e-mail {foreign}; 'rtmhub admin list' shows them.")
        sub = caller_of(s, "full@a1.example")
        assert refused(NotFound, access.reset_link, s, sub, email="full@a.example") == (
            "No administrator with e-mail full@a.example; 'rtmhub admin list' shows them.")


def test_reset_link_for_one_customers_admins(world, db):
    with db.unit_of_work() as s:
        partner = caller_of(s, "full@a.example")
        account, token, _ = access.reset_link(s, partner, email=" ADMIN@asiakas.example ", customer_id=world.raw["ca"])
        assert (account.email, account.customer_id) == ("admin@asiakas.example", world.raw["ca"])
        assert access.link_account(s, token).id == account.id
        # An administrator of another customer, or of the partner itself, is not this customer's.
        for other in ("admin@a1-cust-1.example", "full@a.example"):
            assert refused(NotFound, access.reset_link, s, partner, email=other, customer_id=world.raw["ca"]) == (
                f"No administrator with e-mail {other}; 'rtmhub admin list' shows them.")
        assert refused(NotFound, access.reset_link, s, partner, email="admin@kund.example",
                       customer_id=world.raw["cb"]) == "Customer not found; check the customer id."
        s.get(Partner, world.raw["pa1"]).provisioning_state = "suspended"
        s.flush()
        assert refused(Forbidden, access.reset_link, s, partner, email="admin@a1-cust-1.example",
                       customer_id=world.raw["ca1"]) == (
            "Sub-partner 'Partner A1' is suspended: it may only delete customers and subscribers.")


# --- administrator lists ---------------------------------------------------------------------

def test_admin_lists_by_caller_sorted_by_email(world, db):
    with db.unit_of_work() as s:  # made last, listed first
        access.create_admin(s, OPERATOR, email="aaa@asiakas.example", role="customer_full_admin", password=None,
                            customer=world.raw["ca"])
    with db.unit_of_work(write=False) as s:
        every = [a.email for a in access.list_admins(s, OPERATOR)]
        assert every == sorted(every) and set(every) == {
            "aaa@asiakas.example", "full@a.example", "ro@a.example", "full@a1.example", "full@b.example",
            "admin@asiakas.example", "admin@kund.example", "admin@a-cust-1.example", "admin@a1-cust-1.example",
            "admin@b-cust-1.example"}
        assert [a.email for a in access.list_admins(s, caller_of(s, "full@a.example"))] == [
            "aaa@asiakas.example", "admin@a-cust-1.example", "admin@a1-cust-1.example", "admin@asiakas.example",
            "full@a.example", "full@a1.example", "ro@a.example"]
        assert [a.email for a in access.list_admins(s, caller_of(s, "full@a1.example"))] == [
            "admin@a1-cust-1.example", "full@a1.example"]
        assert [a.email for a in access.list_admins(s, caller_of(s, "admin@kund.example"))] == [
            "admin@b-cust-1.example", "admin@kund.example"]
        assert [a.email for a in access.customer_admins(s, OPERATOR, world.raw["ca"])] == [
            "aaa@asiakas.example", "admin@a-cust-1.example", "admin@asiakas.example"]
        assert [a.email for a in access.customer_admins(s, caller_of(s, "full@a.example"), world.raw["ca1"])] == [
            "admin@a1-cust-1.example"]
        assert refused(NotFound, access.customer_admins, s, caller_of(s, "full@b.example"), world.raw["ca"]) == (
            "Customer not found; check the customer id.")


def test_a_partner_full_admin_is_the_last_even_beside_a_read_only_one(world, db):
    with db.unit_of_work() as s:
        assert refused(Conflict, access.delete_admin, s, OPERATOR, email="full@a.example") == (
            "full@a.example is the last partner_full_admin of its organisation; create another one with "
            "'rtmhub admin create --role partner_full_admin' first, then delete this one.")
        assert access.admin_exists(s, "full@a.example")


# --- sign-in ---------------------------------------------------------------------------------

def test_password_sign_in_answers_every_refusal_alike(world, db):
    wrong = "The e-mail address or password is wrong."
    with db.unit_of_work() as s:
        assert access.authenticate_password(s, " FULL@A.example ", PASSWORD).email == "full@a.example"
        assert sign_in_refused(s, "full@a.example", "correct horse batterY") == wrong
        assert sign_in_refused(s, "nobody@a.example", PASSWORD) == wrong
        assert sign_in_refused(s, "  ", PASSWORD) == wrong
        assert sign_in_refused(s, "admin@a-cust-1.example", PASSWORD) == wrong  # no password set yet
        access.find_admin(s, "ro@a.example").password_hash = "not an argon2 hash"
        s.flush()
        assert sign_in_refused(s, "ro@a.example", PASSWORD) == wrong


def test_the_dummy_hash_is_made_once_per_hasher(monkeypatch):
    from argon2 import PasswordHasher

    first = access._dummy_hash()
    assert access._dummy_hash() == first and access._dummy == (access._hasher, first)
    other = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    monkeypatch.setattr("rtmhub.domain.access.service._hasher", other)
    second = access._dummy_hash()
    assert second != first and second.startswith("$argon2id$v=19$m=16,t=2,p=1$")
    assert access._dummy == (other, second) and access._dummy_hash() == second


# --- callers ---------------------------------------------------------------------------------

def test_caller_for_admin_and_partner_of(world, db):
    with db.unit_of_work(write=False) as s:
        account = access.find_admin(s, "full@a.example")
        caller = access.caller_for_admin(s, account.id, frozenset({SCOPES[0]}), "req-7")
        assert caller == Caller(actor="full@a.example", role="partner_full_admin", admin_id=account.id,
                                partner_id=world.raw["pa"], partner_ids=(world.raw["pa"], world.raw["pa1"]),
                                scopes=frozenset({SCOPES[0]}), request_id="req-7")
        assert access.caller_for_admin(s, "no-such-admin", frozenset(SCOPES)) is None
        assert access.partner_of(s, caller).id == world.raw["pa"]
        customer_admin = caller_of(s, "admin@asiakas.example")
        assert (customer_admin.customer_id, customer_admin.partner_ids) == (world.raw["ca"], ())
        for nobody in (OPERATOR, customer_admin, Caller(actor="x", role="partner_full_admin", partner_id="gone")):
            assert refused(Forbidden, access.partner_of, s, nobody) == "Only partner administrators can do this."


def test_admin_exists_falls_back_to_the_raw_address(world, db):
    with db.unit_of_work() as s:
        s.add(AdminAccount(email="Legacy Name", email_key="legacy name", role="partner_readonly_admin",
                           partner_id=world.raw["pb"]))
        s.flush()
        assert access.admin_exists(s, " Legacy NAME ")
        assert not access.admin_exists(s, "other name")
        assert access.admin_exists(s, "Full@A.example")
        # A valid address is compared in its normal form: the same letters typed decomposed are the same address.
        access.create_admin(s, OPERATOR, email="pää.käyttäjä@asiakas.example", role="customer_full_admin",
                            password=PASSWORD, customer=world.raw["ca"])
        assert access.admin_exists(s, unicodedata.normalize("NFD", "Pää.Käyttäjä@asiakas.example"))


def test_deleting_a_customer_admin_is_audited_with_its_customer(world, db):
    with db.unit_of_work() as s:
        account_id = access.delete_admin(s, OPERATOR, email=" ADMIN@asiakas.example ").id
        assert not access.admin_exists(s, "admin@asiakas.example") and access.admin_exists(s, "admin@a-cust-1.example")
    with db.unit_of_work(write=False) as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "admin.delete"))
        assert (event.actor, event.entity_type, event.entity_id, event.customer_id, event.after) == (
            OPERATOR.actor, "admin", account_id, world.raw["ca"], None)
        assert event.before == {"email": "admin@asiakas.example", "role": "customer_full_admin", "partnerId": None,
                                "customerId": world.raw["ca"]}


def test_sub_partner_scope_narrows_to_a_reached_sub_partner_only(world, db):
    gone = "Sub-partner not found; check onBehalfOfSubPartnerOrgId."
    with db.unit_of_work(write=False) as s:
        assert access.sub_partner_scope(s, OPERATOR, None) is None
        assert access.sub_partner_scope(s, OPERATOR, world.raw["pa1"]) == (world.raw["pa1"],)
        assert access.sub_partner_scope(s, caller_of(s, "full@a.example"), world.raw["pa1"]) == (world.raw["pa1"],)
        for caller, partner in ((OPERATOR, world.raw["pa"]), (OPERATOR, ""),
                                (caller_of(s, "full@b.example"), world.raw["pa1"])):
            assert refused(NotFound, access.sub_partner_scope, s, caller, partner) == gone


# --- tenancy ---------------------------------------------------------------------------------

CUSTOMER_GONE = "Customer not found; check the customer id."
ORG_GONE = "Organization not found; check the orgId."


def test_resolve_customer_by_id_org_id_or_either(world, db):
    from rtmhub.domain.customers.models import Customer

    with db.unit_of_work(write=False) as s:
        ca = s.get(Customer, world.raw["ca"])
        assert ca.org_id != ca.id
        for by, ref in (("id", ca.id), ("org_id", ca.org_id), ("either", ca.id), ("either", ca.org_id)):
            assert access.resolve_customer(s, OPERATOR, ref, by=by).id == ca.id
        assert access.resolve_customer(s, OPERATOR, ca.org_id).id == ca.id  # "either" unless told
        assert refused(NotFound, access.resolve_customer, s, OPERATOR, ca.org_id, by="id") == CUSTOMER_GONE
        assert refused(NotFound, access.resolve_customer, s, OPERATOR, ca.id, by="org_id") == ORG_GONE
        assert refused(NotFound, access.resolve_customer, s, OPERATOR, None, by="either") == CUSTOMER_GONE
        assert refused(NotFound, access.resolve_customer, s, OPERATOR, "nope", not_found="Not here.") == "Not here."
        assert access.resolve_customer(s, OPERATOR, ca.id, lock=True).id == ca.id
        assert access.get_customer(s, OPERATOR, ca.id).id == ca.id
        assert refused(NotFound, access.get_customer, s, OPERATOR, ca.org_id) == CUSTOMER_GONE


def test_customers_are_reached_through_the_callers_scope(world, db):
    with db.unit_of_work(write=False) as s:
        partner = caller_of(s, "full@a.example")
        customer_admin = caller_of(s, "admin@asiakas.example")
        assert access.get_customer(s, partner, world.raw["ca1"]).id == world.raw["ca1"]  # a sub-partner's
        assert refused(NotFound, access.get_customer, s, partner, world.raw["cb"]) == CUSTOMER_GONE
        # Narrowed to the sub-partner: its own partner's customer is out of reach, for the operator too.
        for caller in (partner, OPERATOR):
            assert refused(NotFound, access.get_customer, s, caller, world.raw["ca"],
                           partner_ids=(world.raw["pa1"],)) == CUSTOMER_GONE
            assert access.get_customer(s, caller, world.raw["ca1"], partner_ids=(world.raw["pa1"],)).id == (
                world.raw["ca1"])
        assert access.get_customer(s, customer_admin, world.raw["ca"]).id == world.raw["ca"]
        for other in ("ca1", "cb"):
            assert refused(NotFound, access.get_customer, s, customer_admin, world.raw[other]) == CUSTOMER_GONE
        assert access.get_customer(s, OPERATOR, world.raw["cb"]).id == world.raw["cb"]


def test_a_reused_look_up_statement_never_carries_one_scope_to_another(world, db):
    """resolve_customer reuses its statement per caller and shape, request ids aside: callers that differ in
    anything of their scope, asked in turn and again, each get their own answer."""
    with db.unit_of_work(write=False) as s:
        partner = dataclasses.replace(caller_of(s, "full@a.example"), request_id="r1")
        again = dataclasses.replace(partner, request_id="r2")
        narrower = dataclasses.replace(partner, partner_ids=(world.raw["pa"],))
        customer_admin = caller_of(s, "admin@asiakas.example")
        foreign = dataclasses.replace(customer_admin, customer_id=world.raw["cb"])
        anywhere = dataclasses.replace(partner, system=True)
        # The same customer and partners, another role: a partner administrator reaches its partners' customers
        # (here none), never the customer_id a customer administrator is held to.
        partner_role = dataclasses.replace(foreign, role="partner_full_admin")
        for _ in range(2):
            for by in ("id", "either"):
                assert access.resolve_customer(s, partner, world.raw["ca1"], by=by).id == world.raw["ca1"]
                assert access.resolve_customer(s, again, world.raw["ca1"], by=by).id == world.raw["ca1"]
                assert refused(NotFound, access.resolve_customer, s, narrower, world.raw["ca1"], by=by) == (
                    CUSTOMER_GONE)
                assert refused(NotFound, access.resolve_customer, s, partner, world.raw["ca1"], by=by,
                               partner_ids=(world.raw["pa"],)) == CUSTOMER_GONE
                assert access.resolve_customer(s, customer_admin, world.raw["ca"], by=by).id == world.raw["ca"]
                assert refused(NotFound, access.resolve_customer, s, foreign, world.raw["ca"], by=by) == (
                    CUSTOMER_GONE)
                assert access.resolve_customer(s, foreign, world.raw["cb"], by=by).id == world.raw["cb"]
                assert refused(NotFound, access.resolve_customer, s, partner_role, world.raw["cb"], by=by) == (
                    CUSTOMER_GONE)
                assert access.resolve_customer(s, anywhere, world.raw["cb"], by=by).id == world.raw["cb"]
                assert refused(NotFound, access.resolve_customer, s, partner, world.raw["cb"], by=by) == (
                    CUSTOMER_GONE)


def test_writing_needs_a_full_admin_and_a_partner_not_suspended_except_to_delete(world, db):
    with db.unit_of_work() as s:
        reader = caller_of(s, "ro@a.example")
        partner = caller_of(s, "full@a.example")
        assert access.get_customer(s, reader, world.raw["ca"]).id == world.raw["ca"]  # reading is allowed
        assert access.resolve_customer(s, reader, world.raw["ca"]).id == world.raw["ca"]  # a look-up reads unless told
        for deleting in (False, True):
            assert refused(Forbidden, access.get_customer, s, reader, world.raw["ca"], write=True,
                           deleting=deleting) == READ_ONLY
        s.get(Partner, world.raw["pa1"]).provisioning_state = "suspended"
        s.flush()
        suspended = "Sub-partner 'Partner A1' is suspended: it may only delete customers and subscribers."
        assert refused(Forbidden, access.get_customer, s, partner, world.raw["ca1"], write=True) == suspended
        # Writing is not deleting unless told.
        assert refused(Forbidden, access.resolve_customer, s, partner, world.raw["ca1"], write=True) == suspended
        assert access.get_customer(s, partner, world.raw["ca1"], write=True, deleting=True).id == world.raw["ca1"]
        assert access.get_customer(s, partner, world.raw["ca1"]).id == world.raw["ca1"]
        assert access.get_customer(s, partner, world.raw["ca"], write=True).id == world.raw["ca"]


def test_a_write_reads_the_customers_partner_once_in_a_transaction(world, db):
    """A writing look-up reads the customer's partner in the customer's statement, and R53's check keeps the
    partner's row: the service's own check after the edge's reads nothing again."""
    selects: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    with db.unit_of_work() as s:
        partner = caller_of(s, "full@a.example")
        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            customer = access.get_customer(s, partner, world.raw["ca1"], write=True)
            access.require_writable(s, partner, customer.partner_id)
            access.require_writable(s, partner, customer.partner_id, deleting=True)
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
    assert len(selects) == 1, selects


def test_a_partner_suspended_after_a_transaction_is_refused_in_the_sessions_next_one(world, db):
    """The partner's row is kept for one transaction only: a session's next transaction reads it again, through
    a writing look-up as through R53's check alone."""
    suspended = "Sub-partner 'Partner A1' is suspended: it may only delete customers and subscribers."
    checks = (lambda s, who: access.get_customer(s, who, world.raw["ca1"], write=True),
              lambda s, who: access.require_writable(s, who, world.raw["pa1"]))
    for check in checks:
        with db.unit_of_work() as s:
            partner = caller_of(s, "full@a.example")
            check(s, partner)  # reads and keeps Partner A1, still active
            s.commit()
            with db.unit_of_work() as other:
                other.get(Partner, world.raw["pa1"]).provisioning_state = "suspended"
            assert refused(Forbidden, check, s, partner) == suspended
        with db.unit_of_work() as s:
            s.get(Partner, world.raw["pa1"]).provisioning_state = "active"


def test_find_in_scope_finds_a_tenant_row_with_its_customer(world, db):
    from rtmhub.domain.users.models import User

    with db.unit_of_work() as s:
        partner = caller_of(s, "full@a.example")
        user, customer = access.find_in_scope(s, partner, User, User.id == world.raw["ua1"], not_found="No user.")
        assert (user.email, customer.id) == ("aino@alihankkija.example", world.raw["ca1"])
        assert refused(NotFound, access.find_in_scope, s, partner, User, User.id == world.raw["ub"],
                       not_found="No user.") == "No user."
        assert refused(NotFound, access.find_in_scope, s, partner, User, User.id == world.raw["ua"],
                       not_found="No user.", partner_ids=(world.raw["pa1"],)) == "No user."
        reader = caller_of(s, "ro@a.example")
        assert access.find_in_scope(s, reader, User, User.id == world.raw["ua"], not_found="No user.")[1].id == (
            world.raw["ca"])  # reading is allowed
        assert refused(Forbidden, access.find_in_scope, s, reader, User, User.id == world.raw["ua"],
                       not_found="No user.", write=True) == READ_ONLY
        s.get(Partner, world.raw["pa1"]).provisioning_state = "suspended"
        s.flush()
        assert refused(Forbidden, access.find_in_scope, s, partner, User, User.id == world.raw["ua1"],
                       not_found="No user.", write=True) == (
            "Sub-partner 'Partner A1' is suspended: it may only delete customers and subscribers.")
        assert access.find_in_scope(s, partner, User, User.id == world.raw["ua1"], not_found="No user.",
                                    write=True, deleting=True)[1].id == world.raw["ca1"]
        assert access.find_in_scope(s, partner, User, User.id == world.raw["ua1"], not_found="No user.")[0].id == (
            world.raw["ua1"])  # reading is allowed


def test_partner_level_rows_and_the_wholesale_apis_are_for_partners(world, db):
    from rtmhub.domain.partners.models import OnboardingTemplate

    with db.unit_of_work(write=False) as s:
        partner = caller_of(s, "full@a1.example")
        assert s.scalars(access.scope_partners(select(Partner.name), partner)).all() == ["Partner A1"]
        assert sorted(s.scalars(access.scope_partners(select(Partner.name), OPERATOR)).all()) == [
            "Partner A", "Partner A1", "Partner B"]
        assert s.scalars(access.scope_partners(select(OnboardingTemplate.partner_id), partner,
                                               OnboardingTemplate.partner_id)).all() == [world.raw["pa1"]]
        customer_admin = caller_of(s, "admin@asiakas.example")
        assert s.scalars(access.scope_partners(select(Partner.id), customer_admin)).all() == []
        assert refused(Forbidden, access.require_partner, customer_admin) == (
            "Only partner administrators can use the wholesale APIs.")
        access.require_partner(partner)
        access.require_partner(OPERATOR)


def test_a_link_is_used_at_the_instant_given(world, db):
    week_ago = utcnow() - timedelta(days=7, hours=2)
    with db.unit_of_work() as s:
        account = access.find_admin(s, "admin@a-cust-1.example")
        token, expires = access.issue_set_password_link(s, OPERATOR, account, now=week_ago)
        assert refused(NotFound, access.link_account, s, token) == LINK_INVALID  # expired two hours ago
        # At an instant within its week it works: the check and the use both go by the instant given.
        used = access.use_set_password_link(s, token, NEW_PASSWORD, now=expires - timedelta(hours=1))
        assert used.id == account.id and used.password_hash is not None


def test_a_use_that_loses_the_race_for_its_link_changes_nothing(world, db, monkeypatch):
    """Two uses of one link: both find it live, one deletes it first. The other's conditional DELETE then
    deletes nothing, and that use is refused like a used link, with no password set and no session ended."""
    from rtmhub.domain.access import passwords

    with db.unit_of_work() as s:
        account = access.find_admin(s, "full@a.example")
        token, _ = access.issue_set_password_link(s, OPERATOR, account)
        s.add(WebSession(id="open", admin_id=account.id))
        s.flush()
        old_hash = account.password_hash

        def check_then_lose_the_race(password: str, email: str) -> None:
            passwords.check_password(password, email)
            s.execute(delete(SetPasswordLink).where(SetPasswordLink.token_hash == access.hash_token(token)))

        monkeypatch.setattr("rtmhub.domain.access.service.check_password", check_then_lose_the_race)
        assert refused(NotFound, access.use_set_password_link, s, token, NEW_PASSWORD) == LINK_INVALID
        assert account.password_hash == old_hash
        assert s.get(WebSession, "open").ended is None
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "admin.password")) is None


def test_only_a_locking_look_up_waits_for_a_customer_another_transaction_locked(world, db):
    """PostgreSQL: ``lock=True`` takes the customer's row lock (SELECT … FOR UPDATE) and waits for another
    transaction's; a plain look-up never waits. (SQLite has no row locks: a writer holds the whole file.)"""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    if db.is_sqlite:
        pytest.skip("row locks are PostgreSQL's")
    with db.unit_of_work() as holder:
        assert access.get_customer(holder, OPERATOR, world.raw["ca"], lock=True).id == world.raw["ca"]
        with db.unit_of_work() as other:
            other.execute(text("SET LOCAL lock_timeout = '300ms'"))
            assert access.get_customer(other, OPERATOR, world.raw["ca"]).id == world.raw["ca"]
            assert access.resolve_customer(other, OPERATOR, world.raw["ca"]).id == world.raw["ca"]
            assert access.get_customer(other, OPERATOR, world.raw["ca1"], lock=True).id == world.raw["ca1"]
            with pytest.raises(OperationalError, match="lock timeout"):
                access.get_customer(other, OPERATOR, world.raw["ca"], lock=True)
            other.rollback()
