"""Access rules (domain/access/service.py) observed through the service: tokens (scopes, expiry bounds,
revocation, last use), scopes and read-only callers, administrator accounts (roles, duplicates, the last full
administrator). Every refusal by its type and its message word for word; every acceptance by what was written.
Written against `make mutation` (docs/testing.md)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from rtmhub.domain.access import service as access
from rtmhub.domain.access.models import AdminAccount, ApiToken
from rtmhub.domain.access.schemas import SCOPES, Caller
from rtmhub.domain.access.token_cache import token_cache
from rtmhub.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed

from rules_support import refused
from tests.conftest import OPERATOR

READ = "spark-admin:wholesale_customers_read"
WRITE = "spark-admin:wholesale_customers_write"


def _token_row(db, token: str) -> ApiToken:
    with db.unit_of_work(write=False) as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == access.hash_token(token)))
        s.expunge(row)
        return row


# --- issuing tokens ------------------------------------------------------------------------

def test_token_scopes_checked_and_stored_sorted_once(world, db):
    with db.unit_of_work() as s:
        assert refused(ValidationFailed, access.issue_token, s, OPERATOR, email="full@a.example",
                       scopes=[READ, "nope", "also-nope"]) == (
            f"Unknown scope(s) nope, also-nope; use any of: {', '.join(SCOPES)}.")
        assert refused(ValidationFailed, access.issue_token, s, OPERATOR, email="full@a.example", scopes=[]) == (
            f"Unknown scope(s) (none given); use any of: {', '.join(SCOPES)}.")
        row, token = access.issue_token(s, OPERATOR, email=" Full@A.example ", scopes=[WRITE, READ, WRITE])
        assert token.startswith("rtm_") and len(token) > 40
        assert row.token_hash == access.hash_token(token) != token
        assert row.scopes == f"{READ} {WRITE}"
        assert row.expires is None and row.revoked is None and row.last_used is None
        assert s.get(AdminAccount, row.admin_id).email == "full@a.example"


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_token_expiry_outside_1_to_3650_days_refused(world, db, days):
    with db.unit_of_work() as s:
        assert refused(ValidationFailed, access.issue_token, s, OPERATOR, email="full@a.example", scopes=[READ],
                       expires_in_days=days) == (
            f"--expires-in takes a whole number of days from 1 to 3650 (got {days}); leave it out for a token "
            "that lasts until revoked.")


@pytest.mark.parametrize("days", [1, 3650])
def test_token_expiry_bounds_accepted(world, db, days):
    with db.unit_of_work() as s:
        row, _ = access.issue_token(s, OPERATOR, email="full@a.example", scopes=[READ], expires_in_days=days)
        assert row.expires - row.created == timedelta(days=days)
        # create_token (the CLI's) passes the expiry on.
        token = access.create_token(s, OPERATOR, email="full@a.example", scopes=[READ], expires_in_days=days)
        made = s.scalar(select(ApiToken).where(ApiToken.token_hash == access.hash_token(token)))
        assert made.expires - made.created == timedelta(days=days)


def test_token_for_unknown_admin(world, db):
    with db.unit_of_work() as s:
        assert refused(NotFound, access.issue_token, s, OPERATOR, email="nobody@a.example", scopes=[READ]) == (
            "No administrator with e-mail nobody@a.example; create one with 'rtmhub admin create'.")
        assert refused(NotFound, access.find_admin, s, " nobody@a.example ") == (
            "No administrator with e-mail nobody@a.example; 'rtmhub admin list' shows them.")


# --- using tokens --------------------------------------------------------------------------

def test_bearer_refusals_word_for_word(world, db):
    token_cache.clear()
    with db.unit_of_work(write=False) as s:
        assert refused(Unauthorized, access.authenticate_bearer, s, None) == access.NO_TOKEN
        assert refused(Unauthorized, access.authenticate_bearer, s, "") == access.NO_TOKEN
        assert refused(Unauthorized, access.authenticate_bearer, s, "rtm_unknown") == (
            "The access token is not valid; create a new one with 'rtmhub token create'.")
    assert access.cached_bearer(None) is None and access.cached_bearer("rtm_unknown") is None


def test_bearer_caller_scopes_and_last_use(world, db):
    token_cache.clear()
    with db.unit_of_work() as s:
        row, token = access.issue_token(s, OPERATOR, email="ro@a.example", scopes=[READ])
    with db.unit_of_work(write=False) as s:
        caller, to_touch = access.authenticate_bearer(s, token, "req-1")
    assert caller.scopes == frozenset({READ}) and caller.read_only and caller.request_id == "req-1"
    assert caller.partner_id == world.raw["pa"]
    assert to_touch == row.id  # never used: this request records the use
    with db.unit_of_work() as s:
        access.touch_token(s, row.id)
    assert _token_row(db, token).last_used is not None
    token_cache.clear()
    with db.unit_of_work(write=False) as s:
        _, to_touch = access.authenticate_bearer(s, token)
    assert to_touch is None  # used less than a minute ago: nothing to record
    cached = access.cached_bearer(token, "req-2")
    assert cached is not None and cached[0].request_id == "req-2" and cached[1] is None


def test_revoked_and_expired_tokens(world, db):
    token_cache.clear()
    with db.unit_of_work() as s:
        row, token = access.issue_token(s, OPERATOR, email="full@a.example", scopes=[READ])
        assert access.token_state(row) == "active"
        access.revoke_token(s, OPERATOR, f" {row.id} ")
        revoked = row.revoked
        assert revoked is not None and access.token_state(row) == "revoked"
        assert refused(Conflict, access.revoke_token, s, OPERATOR, row.id) == (
            f"Token {row.id} was already revoked on {revoked:%Y-%m-%d %H:%M} UTC.")
        assert refused(NotFound, access.revoke_token, s, OPERATOR, "no-such-id") == (
            "No token with id 'no-such-id'; 'rtmhub token list --email E' shows the ids.")
    with db.unit_of_work(write=False) as s:
        assert refused(Unauthorized, access.authenticate_bearer, s, token) == (
            f"The access token was revoked on {revoked:%Y-%m-%d %H:%M} UTC; ask the operator for a new one "
            "('rtmhub token create').")
    with db.unit_of_work() as s:
        row, token = access.issue_token(s, OPERATOR, email="full@a.example", scopes=[READ], expires_in_days=1)
        row.expires = row.created - timedelta(seconds=1)
        expires = row.expires
    with db.unit_of_work(write=False) as s:
        assert refused(Unauthorized, access.authenticate_bearer, s, token) == (
            f"The access token expired on {expires:%Y-%m-%d %H:%M} UTC; ask the operator for a new one "
            "('rtmhub token create --expires-in DAYS').")


def test_token_state_at_the_expiry_instant():
    now = datetime(2030, 1, 1, 12, 0)
    row = ApiToken(admin_id="x", token_hash="h", scopes=READ, created=now - timedelta(days=1), expires=now)
    assert access.token_state(row, now) == "expired"
    assert access.token_state(row, now - timedelta(microseconds=1)) == "active"
    row.expires = None
    assert access.token_state(row, now) == "active"


def test_require_scope_and_read_only():
    reader = Caller(actor="t", role="partner_readonly_admin", scopes=frozenset({READ}))
    assert refused(Forbidden, access.require_scope, reader, WRITE) == (
        f"This request needs the scope '{WRITE}', which the access token does not have.")
    access.require_scope(reader, READ)  # reading is allowed
    assert refused(Forbidden, access.require_scope, reader, READ, write=True) == (
        "A read-only administrator cannot change anything.")
    writer = Caller(actor="t", role="partner_full_admin", scopes=frozenset({READ}))
    access.require_scope(writer, READ, write=True)


# --- administrator accounts ----------------------------------------------------------------

def test_an_admin_created_at_the_same_moment_elsewhere_is_a_409_that_says_so(world, db, monkeypatch):
    # Another request stores the address between the check and the insert: the unique index refuses the row.
    with db.unit_of_work() as s:
        def the_other_request_wins(password, address):
            s.add(AdminAccount(email=address, email_key=address.lower(), role="partner_readonly_admin",
                               partner_id=world.raw["pa"]))
            s.flush()
        monkeypatch.setattr(access, "check_password", the_other_request_wins)
        assert refused(Conflict, access.create_admin, s, OPERATOR, email="kilpa@a.example", role="partner_full_admin",
                       password="violet kettle drifts north", partner="Partner A") == (
            "An administrator with e-mail kilpa@a.example already exists.")
        s.rollback()


def test_a_token_is_the_prefix_and_32_random_bytes(world, db):
    with db.unit_of_work() as s:
        tokens = {access.create_token(s, OPERATOR, email="full@a.example", scopes=[READ]) for _ in range(3)}
    assert len(tokens) == 3
    for token in tokens:
        assert token.startswith("rtm_") and len(token) == 4 + 43  # base64url of 32 bytes, unpadded


def test_create_admin_refusals(world, db):
    with db.unit_of_work() as s:
        assert refused(ValidationFailed, access.create_admin, s, OPERATOR, email="x@a.example", role="boss",
                       password=None) == (
            "Unknown role 'boss'; use one of: partner_full_admin, partner_readonly_admin, customer_full_admin.")
        assert refused(Conflict, access.create_admin, s, OPERATOR, email="FULL@a.example",
                       role="partner_full_admin", password=None, partner="Partner A") == (
            "An administrator with e-mail FULL@a.example already exists.")
        assert refused(ValidationFailed, access.create_admin, s, OPERATOR, email="c@a.example",
                       role="customer_full_admin", password=None) == (
            "A customer_full_admin needs --customer CUSTOMER_ID.")
        assert refused(NotFound, access.create_admin, s, OPERATOR, email="p@a.example", role="partner_full_admin",
                       password=None, partner="Nobody Oy") == "No partner named or with id 'Nobody Oy'."
        # Two top-level partners (A and B): which one must be said.
        assert refused(ValidationFailed, access.create_admin, s, OPERATOR, email="p@a.example",
                       role="partner_full_admin", password=None) == "Name the partner with --partner NAME_OR_ID."


def test_create_admin_writes_the_account(world, db):
    with db.unit_of_work() as s:
        account = access.create_admin(s, OPERATOR, email=" Uusi.Admin@A.example ", role="partner_readonly_admin",
                                      password=None, partner="Partner A1")
        assert (account.email, account.email_key, account.role) == (
            "Uusi.Admin@a.example", "uusi.admin@a.example", "partner_readonly_admin")
        assert (account.partner_id, account.customer_id, account.password_hash) == (world.raw["pa1"], None, None)
        customer_admin = access.create_admin(s, OPERATOR, email="toinen@asiakas.example",
                                             role="customer_full_admin", password=None, customer=world.raw["ca"])
        assert (customer_admin.customer_id, customer_admin.partner_id) == (world.raw["ca"], None)
        assert access.admin_exists(s, " TOINEN@asiakas.example ")
        assert not access.admin_exists(s, "kolmas@asiakas.example")


def test_last_full_admin_cannot_be_deleted(world, db):
    with db.unit_of_work() as s:
        assert refused(Conflict, access.delete_admin, s, OPERATOR, email="full@b.example") == (
            "full@b.example is the last partner_full_admin of its organisation; create another one with "
            "'rtmhub admin create --role partner_full_admin' first, then delete this one.")
        # Customer B has two full administrators (its primary e-mail's and admin@kund.example): one may go.
        first, *others = [a.email for a in access.customer_admins(s, OPERATOR, world.raw["cb"])]
        assert len(others) == 1
        access.delete_admin(s, OPERATOR, email=first)
        assert refused(Conflict, access.delete_admin, s, OPERATOR, email=others[0]) == (
            f"{others[0]} is the last customer_full_admin of its organisation; create another one with "
            "'rtmhub admin create --role customer_full_admin' first, then delete this one.")
        reader = Caller(actor="t", role="partner_readonly_admin", scopes=frozenset(SCOPES))
        assert refused(Forbidden, access.delete_admin, s, reader, email="ro@a.example") == (
            "A read-only administrator cannot change anything.")
        # A read-only administrator is never the last full one: it goes; a second full admin lets the first go.
        access.delete_admin(s, OPERATOR, email="ro@a.example")
        access.create_admin(s, OPERATOR, email="toinen@b.example", role="partner_full_admin", password=None,
                            partner="Partner B")
        access.delete_admin(s, OPERATOR, email="full@b.example")
    with db.unit_of_work(write=False) as s:
        assert not access.admin_exists(s, "ro@a.example") and not access.admin_exists(s, "full@b.example")
        assert access.admin_exists(s, "toinen@b.example")


def test_admin_and_token_changes_are_audited(world, db):
    from rtmhub.domain.audit.models import AuditEvent

    with db.unit_of_work() as s:
        account = access.create_admin(s, OPERATOR, email="kirjattu@a.example", role="partner_readonly_admin",
                                      password=None, partner="Partner A")
        row, _ = access.issue_token(s, OPERATOR, email="kirjattu@a.example", scopes=[READ], expires_in_days=2)
        access.revoke_token(s, OPERATOR, row.id)
        access.delete_admin(s, OPERATOR, email="kirjattu@a.example")
        token_id, account_id, expires = row.id, account.id, row.expires.isoformat()
    with db.unit_of_work(write=False) as s:
        events = {e.action: e for e in s.scalars(select(AuditEvent).where(
            AuditEvent.entity_id.in_([token_id, account_id])))}
    created = {"email": "kirjattu@a.example", "role": "partner_readonly_admin", "partnerId": world.raw["pa"],
               "customerId": None}
    assert (events["admin.create"].entity_type, events["admin.create"].before, events["admin.create"].after) == (
        "admin", None, created)
    assert (events["admin.delete"].before, events["admin.delete"].after) == (created, None)
    assert events["token.create"].after == {"admin": "kirjattu@a.example", "scopes": READ, "expires": expires}
    assert (events["token.revoke"].entity_type, events["token.revoke"].after) == ("token",
                                                                                  {"admin": "kirjattu@a.example"})
    assert {e.actor for e in events.values()} == {OPERATOR.actor}


def test_set_password_checks_the_policy_and_signs_in(world, db):
    from rtmhub.domain.audit.models import AuditEvent

    with db.unit_of_work() as s:
        with pytest.raises(ValidationFailed) as caught:
            access.set_password(s, OPERATOR, email="ro@a.example", password="lyhyt")
        assert str(caught.value).startswith("The password is too short (5 characters)")
        account = access.set_password(s, OPERATOR, email=" RO@a.example ", password="uusi pitkä salalause tässä")
        assert account.email == "ro@a.example"
    with db.unit_of_work(write=False) as s:
        assert access.authenticate_password(s, "ro@a.example", "uusi pitkä salalause tässä").id == account.id
        assert refused(Unauthorized, access.authenticate_password, s, "ro@a.example", "correct horse battery") == (
            "The e-mail address or password is wrong.")
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "admin.password"))
        assert (event.entity_id, event.before, event.after) == (account.id, None, {"email": "ro@a.example"})


def test_create_admin_quotes_the_reference_as_typed(world, db):
    with db.unit_of_work() as s:
        assert refused(NotFound, access.create_admin, s, OPERATOR, email="c@a.example", role="customer_full_admin",
                       password=None, customer="no-such-customer", shown="CUSTOMER-AS-TYPED") == (
            "Customer 'CUSTOMER-AS-TYPED' not found.")
        assert refused(NotFound, access.create_admin, s, OPERATOR, email="c@a.example", role="customer_full_admin",
                       password=None, customer="no-such-customer") == "Customer 'no-such-customer' not found."
        assert refused(NotFound, access.create_admin, s, OPERATOR, email="p@a.example", role="partner_full_admin",
                       password=None, partner="no-such-partner", shown="ORG-AS-TYPED") == (
            "No partner named or with id 'ORG-AS-TYPED'.")
        # A partner by its raw id as well as by its name; a customer by its org id as well as by its id.
        by_id = access.create_admin(s, OPERATOR, email="p@a.example", role="partner_full_admin", password=None,
                                    partner=world.raw["pa1"])
        assert by_id.partner_id == world.raw["pa1"]
        assert access.find_partner(s, "Partner B").id == world.raw["pb"]
        org_id = s.get(access.Customer, world.raw["cb"]).org_id
        by_org = access.create_admin(s, OPERATOR, email="c@b.example", role="customer_full_admin", password=None,
                                     customer=org_id)
        assert (by_org.customer_id, by_org.partner_id) == (world.raw["cb"], None)


def test_create_admin_checks_a_given_password_after_the_references(world, db):
    with db.unit_of_work() as s:
        # A wrong customer is reported before a weak password.
        assert refused(NotFound, access.create_admin, s, OPERATOR, email="c@a.example", role="customer_full_admin",
                       password="lyhyt", customer="no-such-customer") == "Customer 'no-such-customer' not found."
        assert refused(ValidationFailed, access.create_admin, s, OPERATOR, email="c@a.example",
                       role="customer_full_admin", password="lyhyt", customer=world.raw["ca"]).startswith(
            "The password is too short (5 characters)")
        # The policy is given the address: a password made of its local part is refused.
        assert "'tietohallinto'" in refused(ValidationFailed, access.create_admin, s, OPERATOR,
                                            email="tietohallinto@a.example", role="partner_full_admin",
                                            password="tietohallinto violet kettle", partner="Partner A")
        assert not access.admin_exists(s, "c@a.example") and not access.admin_exists(s, "tietohallinto@a.example")
        account = access.create_admin(s, OPERATOR, email="c@a.example", role="customer_full_admin",
                                      password="violet kettle drifts north", customer=world.raw["ca"])
        assert account.password_hash.startswith("$argon2")
        assert access.authenticate_password(s, "c@a.example", "violet kettle drifts north").id == account.id


@pytest.mark.production_password_hashes
def test_production_password_hashes_are_argon2id_at_rfc_9106_low_memory_strength():
    """The other tests hash with conftest.CHEAP_HASHER; rtmhub's own hashes cost what RFC 9106 asks for."""
    stored = access.hash_password("violet kettle drifts north")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$"), stored
    assert access._hasher.verify(stored, "violet kettle drifts north")


def test_create_admin_without_partner_takes_the_only_top_level_partner(db):
    from rtmhub.domain.partners import service as partners

    with db.unit_of_work() as s:
        only = partners.create_partner(s, OPERATOR, "Ainoa Oy")
        partners.create_partner(s, OPERATOR, "Ainoan alihankkija", parent=only)
        account = access.create_admin(s, OPERATOR, email="p@ainoa.example", role="partner_readonly_admin",
                                      password=None)
        assert (account.partner_id, account.customer_id) == (only.id, None)


def test_customer_admin_and_its_tokens_are_audited_with_the_customer(world, db):
    from rtmhub.domain.audit.models import AuditEvent

    with db.unit_of_work() as s:
        account = access.create_admin(s, OPERATOR, email="kirjattu@asiakas.example", role="customer_full_admin",
                                      password=None, customer=world.raw["ca"])
        row, _ = access.issue_token(s, OPERATOR, email="kirjattu@asiakas.example", scopes=[WRITE])
        access.revoke_token(s, OPERATOR, row.id)
        token_id, account_id = row.id, account.id
    with db.unit_of_work(write=False) as s:
        events = {e.action: e for e in s.scalars(select(AuditEvent).where(
            AuditEvent.entity_id.in_([token_id, account_id])))}
    assert {a: (e.customer_id, e.entity_type) for a, e in events.items()} == {
        "admin.create": (world.raw["ca"], "admin"), "token.create": (world.raw["ca"], "token"),
        "token.revoke": (world.raw["ca"], "token")}
    assert events["admin.create"].after == {"email": "kirjattu@asiakas.example", "role": "customer_full_admin",
                                            "partnerId": None, "customerId": world.raw["ca"]}
    assert events["token.create"].after == {"admin": "kirjattu@asiakas.example", "scopes": WRITE, "expires": None}
    assert events["token.create"].before is None and events["token.revoke"].before is None


def test_tokens_listed_newest_first_and_only_the_admins(world, db):
    with db.unit_of_work() as s:
        rows = [access.issue_token(s, OPERATOR, email="ro@a.example", scopes=[READ])[0] for _ in range(3)]
        for n, row in enumerate(rows):
            row.created = datetime(2030, 1, 1 + n)
        s.flush()
        listed = access.list_tokens(s, OPERATOR, email=" RO@a.example ")
        # The world's token of ro@a.example was made now, before 2030.
        assert [r.id for r in listed[:3]] == [rows[2].id, rows[1].id, rows[0].id] and len(listed) == 4
        assert {r.admin_id for r in listed} == {rows[0].admin_id}
        assert refused(NotFound, access.list_tokens, s, OPERATOR, email="nobody@a.example") == (
            "No administrator with e-mail nobody@a.example; 'rtmhub admin list' shows them.")


def test_tokens_made_in_one_instant_listed_by_id(world, db):
    with db.unit_of_work() as s:
        rows = [access.issue_token(s, OPERATOR, email="full@a1.example", scopes=[READ])[0] for _ in range(5)]
        # Ids of version 7 sort in the order they were made (decision 53); reversed here, so that the order the
        # rows were stored in cannot stand in for the order by id.
        for n, row in enumerate(rows):
            row.created = datetime(2030, 1, 1)
            row.id = f"{9 - n:08d}-0000-7000-8000-000000000000"
        s.flush()
        listed = access.list_tokens(s, OPERATOR, email="full@a1.example")
        assert [r.id for r in listed[:5]] == sorted(r.id for r in rows)


def test_authenticate_token_is_the_bearers_caller(world, db):
    token_cache.clear()
    with db.unit_of_work(write=False) as s:
        caller = access.authenticate_token(s, world.tokens["ca_admin"], "req-3")
        assert (caller.actor, caller.role, caller.customer_id, caller.request_id) == (
            "admin@asiakas.example", "customer_full_admin", world.raw["ca"], "req-3")
        assert caller.scopes == frozenset(SCOPES) and caller.partner_ids == ()
        assert refused(Unauthorized, access.authenticate_token, s, "") == access.NO_TOKEN


def test_a_customer_admins_new_password_is_audited_with_its_customer(world, db):
    from rtmhub.domain.audit.models import AuditEvent

    with db.unit_of_work() as s:
        account = access.set_password(s, OPERATOR, email="admin@asiakas.example", password="uusi pitkä salalause tässä")
        account_id = account.id
    with db.unit_of_work(write=False) as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "admin.password"))
        assert (event.actor, event.entity_type, event.entity_id, event.customer_id, event.before, event.after) == (
            OPERATOR.actor, "admin", account_id, world.raw["ca"], None, {"email": "admin@asiakas.example"})


def test_a_use_is_recorded_once_a_minute_for_that_token_only_and_keeps_the_cache(world, db):
    token_cache.clear()
    with db.unit_of_work() as s:
        row, token = access.issue_token(s, OPERATOR, email="full@a1.example", scopes=[READ])
        other, _ = access.issue_token(s, OPERATOR, email="full@a1.example", scopes=[READ])
    with db.unit_of_work(write=False) as s:
        _, to_touch = access.authenticate_bearer(s, token)
    assert to_touch == row.id
    # The cached answer records the use once: the next request of the minute need not.
    assert access.cached_bearer(token)[1] == row.id
    assert access.cached_bearer(token)[1] is None
    with db.unit_of_work() as s:
        access.touch_token(s, row.id)
    first = _token_row(db, token).last_used
    assert first is not None and _token_row_by_id(db, other.id).last_used is None
    assert access.cached_bearer(token) is not None  # recording a use changes no answer: the cache keeps it
    with db.unit_of_work() as s:
        access.touch_token(s, row.id)  # within the minute: nothing written
    assert _token_row(db, token).last_used == first


def _token_row_by_id(db, token_id: str) -> ApiToken:
    with db.unit_of_work(write=False) as s:
        row = s.get(ApiToken, token_id)
        s.expunge(row)
        return row


def test_last_use_and_expiry_at_their_exact_instants(world, db, monkeypatch):
    """With the service's clock held: a use exactly a minute old is stale (recorded again), and a token
    expires at its expiry instant, on the database read, the cached answer and the conditional UPDATE."""
    from datetime import UTC

    start = datetime(2031, 1, 1, 12, 0, tzinfo=UTC)
    clock = [start]
    monkeypatch.setattr("rtmhub.domain.access.service.utcnow", lambda: clock[0])
    token_cache.clear()
    with db.unit_of_work() as s:
        row, token = access.issue_token(s, OPERATOR, email="full@a1.example", scopes=[READ], expires_in_days=1)
        row.last_used = start - timedelta(minutes=1)
        token_id = row.id
    with db.unit_of_work(write=False) as s:
        assert access.authenticate_bearer(s, token)[1] == token_id  # exactly a minute old: record again
    with db.unit_of_work() as s:
        s.get(ApiToken, token_id).last_used = start - timedelta(seconds=30)
    token_cache.clear()
    with db.unit_of_work(write=False) as s:
        assert access.authenticate_bearer(s, token)[1] is None
    clock[0] = start + timedelta(seconds=30)  # the cached use is now exactly a minute old
    assert access.cached_bearer(token)[1] == token_id
    with db.unit_of_work() as s:
        access.touch_token(s, token_id)  # the stored use (start - 30 s) is exactly a minute old: written
    assert _token_row(db, token).last_used == clock[0]
    clock[0] = start + timedelta(days=1)  # the expiry instant
    assert refused(Unauthorized, access.cached_bearer, token).startswith("The access token expired on 2031-01-02")
    token_cache.clear()
    with db.unit_of_work(write=False) as s:
        assert refused(Unauthorized, access.authenticate_bearer, s, token) == (
            "The access token expired on 2031-01-02 12:00 UTC; ask the operator for a new one "
            "('rtmhub token create --expires-in DAYS').")
