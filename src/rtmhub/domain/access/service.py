"""Admin accounts, API tokens, and the tenancy scope every service call goes through."""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import BindParameter, Select, bindparam, delete, event, false, func, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction

from rtmhub.db import DriverEntities, utcnow
from rtmhub.domain.access.models import ROLES, AdminAccount, ApiToken, SetPasswordLink, WebSession
from rtmhub.domain.access.passwords import check_password
from rtmhub.domain.access.schemas import SCOPES, Caller
from rtmhub.domain.access.token_cache import TOKEN_USE_ONLY, CachedToken, token_cache
from rtmhub.domain.audit.service import record
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.partners.models import Partner
from rtmhub.domain.validation import normalise_email
from rtmhub.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed, msg

_hasher = PasswordHasher()
TOKEN_PREFIX = "rtm_"
# last_used is written at most once a minute per token, so reads stay reads (no write per request).
TOKEN_USE_GRANULARITY = timedelta(minutes=1)
MAX_TOKEN_DAYS = 3650
# A set-password link (issue 9, R5) lasts this long; it is the path of the public page that uses it.
SET_PASSWORD_LINK_DAYS = 7
SET_PASSWORD_PATH = "/set-password/"
MAX_PASSWORD_FORM = 2048  # a form's password field is cut here; the policy then refuses anything over its maximum
# One answer for an unknown, used, replaced or expired link: the page tells nothing about which.
LINK_INVALID = msg("This link does not work: it has expired, has already been used or has been replaced by a newer "
                   "one. Ask your partner (or the rtmhub operator) for a new link.")


NO_TOKEN = "Send an access token in the header 'Authorization: Bearer <token>'."


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def partner_tree(session: Session, partner_id: str) -> tuple[str, ...]:
    """The partner and all its sub-partners (any depth)."""
    ids = [partner_id]
    frontier = [partner_id]
    while frontier:
        children = session.scalars(select(Partner.id).where(Partner.parent_id.in_(frontier))).all()
        frontier = [c for c in children if c not in ids]
        ids.extend(frontier)
    return tuple(ids)


def caller_for_account(session: Session, account: AdminAccount, scopes: frozenset[str],
                       request_id: str | None = None) -> Caller:
    partner_ids = partner_tree(session, account.partner_id) if account.partner_id else ()
    return Caller(
        actor=account.email, role=account.role, admin_id=account.id, partner_id=account.partner_id,
        partner_ids=partner_ids, customer_id=account.customer_id, scopes=scopes, request_id=request_id,
    )


def authenticate_token(session: Session, token: str | None, request_id: str | None = None) -> Caller:
    """The caller a bearer token stands for, read from the database (revocation and expiry included)."""
    return authenticate_bearer(session, token, request_id)[0]


def authenticate_bearer(session: Session, token: str | None,
                        request_id: str | None = None) -> tuple[Caller, str | None]:
    """``authenticate_token`` plus the token's id when its ``last_used`` is older than a minute (else None):
    the edge then records the use with ``touch_token`` in a short writing unit of its own, so that a read
    request stays a read transaction. The answer is kept in the token cache (``cached_bearer``)."""
    if not token:
        raise Unauthorized(NO_TOKEN)
    digest = hash_token(token)
    # Read before the token's row, which must be the first read of the transaction (as at both edges): a
    # change committed after this cannot then be missed by an answer that is cached.
    generation = token_cache.generation
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None:
        raise Unauthorized("The access token is not valid; create a new one with 'rtmhub token create'.")
    now = utcnow()
    _refuse_if_ended(row.revoked, row.expires, now)
    account = session.get(AdminAccount, row.admin_id)
    if account is None:
        raise Unauthorized("The access token's administrator no longer exists.")
    caller = caller_for_account(session, account, frozenset(row.scopes.split()))
    stale = row.last_used is None or row.last_used <= now - TOKEN_USE_GRANULARITY
    token_cache.put(digest, generation, CachedToken(caller, row.id, row.expires, None if stale else row.last_used))
    return dataclasses.replace(caller, request_id=request_id), row.id if stale else None


def cached_bearer(token: str | None, request_id: str | None = None) -> tuple[Caller, str | None] | None:
    """``authenticate_bearer``'s answer from the token cache, or None when the database must be asked (no
    token, not cached, or cached longer ago than ``TOKEN_CACHE_SECONDS``). Expiry is checked against the
    clock on every call; revocation is seen at once when made in this process, within
    ``TOKEN_CACHE_SECONDS`` when made by another (decision 38)."""
    if not token:
        return None
    entry = token_cache.get(hash_token(token))
    if entry is None:
        return None
    now = utcnow()
    _refuse_if_ended(None, entry.expires, now)
    stale = entry.last_used is None or entry.last_used <= now - TOKEN_USE_GRANULARITY
    if stale:
        entry.last_used = now  # this request records the use; the others of the minute need not
    return dataclasses.replace(entry.caller, request_id=request_id), entry.token_id if stale else None


def _refuse_if_ended(revoked: datetime | None, expires: datetime | None, now: datetime) -> None:
    if revoked is not None:
        raise Unauthorized(f"The access token was revoked on {revoked:%Y-%m-%d %H:%M} UTC; ask the operator "
                           "for a new one ('rtmhub token create').")
    if expires is not None and expires <= now:
        raise Unauthorized(f"The access token expired on {expires:%Y-%m-%d %H:%M} UTC; ask the operator for "
                           "a new one ('rtmhub token create --expires-in DAYS').")


def touch_token(session: Session, token_id: str) -> None:
    """Record a token's use: one conditional UPDATE that writes only when ``last_used`` is stale, so
    concurrent requests of one token write once a minute at most."""
    now = utcnow()
    session.execute(update(ApiToken).where(
        ApiToken.id == token_id,
        or_(ApiToken.last_used.is_(None), ApiToken.last_used <= now - TOKEN_USE_GRANULARITY),
    ).values(last_used=now).execution_options(**{TOKEN_USE_ONLY: True}))


def require_scope(caller: Caller, scope: str, write: bool = False) -> None:
    if scope not in caller.scopes:
        raise Forbidden(f"This request needs the scope '{scope}', which the access token does not have.")
    if write and caller.read_only:
        raise Forbidden("A read-only administrator cannot change anything.")


def require_partner(caller: Caller) -> None:
    if not caller.is_partner:
        raise Forbidden("Only partner administrators can use the wholesale APIs.")


# --- tenancy -------------------------------------------------------------------------------

def scope_customers(stmt: Select, caller: Caller, partner_ids: tuple[str, ...] | None = None) -> Select:
    """Limit a query on Customer to what the caller reaches. Every customer query goes through here."""
    if caller.system and partner_ids is None:
        return stmt
    if caller.customer_id and not caller.is_partner:
        return stmt.where(Customer.id == caller.customer_id)
    ids = partner_ids if partner_ids is not None else caller.partner_ids
    # Each partner id a parameter of its own: an IN of one expanding parameter is rendered into the SQL again on
    # every execution (a tenth of a customer's look-up), and a DriverStatement takes none (decision 68).
    return stmt.where(false() if not ids else Customer.partner_id == ids[0] if len(ids) == 1
                      else Customer.partner_id.in_([literal(partner) for partner in ids]))


def scope_partners(stmt: Select, caller: Caller, column: Any = Partner.id) -> Select:
    """Limit a query on partner-level rows (partners, onboarding templates, …) to the partners the caller
    reaches: its own and its sub-partners' (``column`` holds the partner id). The operator reaches every
    partner; a customer admin none. Every partner-level list goes through here, as customers go through
    ``scope_customers``."""
    if caller.system:
        return stmt
    return stmt.where(column.in_(caller.partner_ids))


@functools.lru_cache(maxsize=512)
def _resolving(caller: Caller, partner_ids: tuple[str, ...] | None, by: str, joined: bool, lock: bool) -> Select:
    """``resolve_customer``'s statement for one caller (``request_id`` cleared: its scope is the same on every
    request) and one shape, built through ``scope_customers`` once and then reused: built on every call, its
    construction and SQLAlchemy's cache key of it cost more than running it. The reference is its one
    parameter (``ref``); the scope's values come from the caller and ``partner_ids``, both in the cache's key.
    ``joined``: the customer's partner is read in the same statement (a write's R53 check then reads nothing
    more); a locking read locks the customer's row only, as a plain SELECT ... FOR UPDATE."""
    ref: BindParameter[str] = bindparam("ref")
    by_column = {"id": Customer.id == ref, "org_id": Customer.org_id == ref}
    condition = by_column.get(by, or_(Customer.id == ref, Customer.org_id == ref))
    stmt = (select(Customer, Partner).outerjoin(Partner, Partner.id == Customer.partner_id) if joined
            else select(Customer))
    stmt = scope_customers(stmt.where(condition), caller, partner_ids)
    return stmt.with_for_update() if lock else stmt


@functools.lru_cache(maxsize=512)
def _resolving_on_driver(caller: Caller, partner_ids: tuple[str, ...] | None, by: str, joined: bool) -> DriverEntities:
    """``_resolving``'s statement run on the driver, its customer (and partner) made objects of the session."""
    return DriverEntities(_resolving(caller, partner_ids, by, joined, False), Customer, *([Partner] if joined else []))


def resolve_customer(session: Session, caller: Caller, raw_id: str | None, *,
                     by: Literal["id", "org_id", "either"] = "either", write: bool = False, deleting: bool = False,
                     partner_ids: tuple[str, ...] | None = None, lock: bool = False,
                     not_found: str | None = None) -> Customer:
    """The one way to find a customer from a reference: its customer id, its org id (decision 2: one row is
    both), or ``either``, always through ``scope_customers``, so unknown and foreign answer the same 404.
    ``raw_id`` is a raw UUID: public ids are decoded by the edge (``ids.raw``/``ids.decode``), never here.
    ``write`` adds the R53/read-only check (``deleting`` keeps a suspended sub-partner's right to delete)."""
    key = caller if caller.request_id is None else dataclasses.replace(caller, request_id=None)
    params = {"ref": raw_id or ""}
    row: Sequence[Any] | None = (session.execute(_resolving(key, partner_ids, by, False, True), params).first() if lock
                                 else _resolving_on_driver(key, partner_ids, by, write).first(session, params))
    customer = row[0] if row is not None else None
    if customer is None:
        raise NotFound(not_found or ("Organization not found; check the orgId." if by == "org_id"
                                     else "Customer not found; check the customer id."))
    if write:
        require_writable(session, caller, customer.partner_id, deleting=deleting)
    return customer


def get_customer(session: Session, caller: Caller, customer_id: str | None, *, write: bool = False,
                 deleting: bool = False, partner_ids: tuple[str, ...] | None = None,
                 lock: bool = False) -> Customer:
    """The customer by its (raw) customer id if the caller reaches it; unknown and foreign ids answer the same 404."""
    return resolve_customer(session, caller, customer_id, by="id", write=write, deleting=deleting,
                            partner_ids=partner_ids, lock=lock)


def find_in_scope(session: Session, caller: Caller, model: Any, *conditions: Any, not_found: str,
                  partner_ids: tuple[str, ...] | None = None, write: bool = False,
                  deleting: bool = False) -> tuple[Any, Customer]:
    """A row of a tenant table (one with ``customer_id``) with its customer, if the caller reaches it."""
    row = session.execute(scope_customers(
        select(model, Customer).join(Customer, Customer.id == model.customer_id).where(*conditions),
        caller, partner_ids)).first()
    if row is None:
        raise NotFound(not_found)
    found, customer = row
    if write:
        require_writable(session, caller, customer.partner_id, deleting=deleting)
    return found, customer


def require_writable(session: Session, caller: Caller, partner_id: str, deleting: bool = False) -> None:
    if caller.read_only:
        raise Forbidden("A read-only administrator cannot change anything.")
    partner = session.get(Partner, partner_id)
    _hold(session, partner)
    # R53: a suspended sub-partner keeps only the right to delete.
    if partner is not None and partner.provisioning_state == "suspended" and not deleting:
        raise Forbidden(
            f"Sub-partner '{partner.name}' is suspended: it may only delete customers and subscribers."
        )


_HELD_PARTNERS = "rtmhub_held_partners"


def _hold(session: Session, partner: Partner | None) -> None:
    """Keep the partner's row until the transaction ends. The session's identity map holds rows weakly:
    without this, the next check of the same partner in the request (the endpoint's, then the service's)
    read it again from the database."""
    if partner is not None:
        session.info.setdefault(_HELD_PARTNERS, {})[partner.id] = partner


@event.listens_for(Session, "after_transaction_end")
def _let_partners_go(session: Session, transaction: SessionTransaction) -> None:
    # A later transaction of the session reads the partner afresh, as it did before rows were held.
    if transaction.parent is None:
        session.info.pop(_HELD_PARTNERS, None)


def sub_partner_scope(session: Session, caller: Caller, sub_partner_id: str | None) -> tuple[str, ...] | None:
    """Narrow to one sub-partner for ``onBehalfOfSubPartnerOrgId`` (its raw id, decoded by the edge; a value
    that did not decode is given as ``""``); None means no narrowing."""
    if sub_partner_id is None:
        return None
    partner = session.scalar(scope_partners(
        select(Partner).where(Partner.id == sub_partner_id, Partner.parent_id.is_not(None)), caller))
    if partner is None:
        raise NotFound("Sub-partner not found; check onBehalfOfSubPartnerOrgId.")
    return partner_tree(session, partner.id)


# --- accounts and tokens -------------------------------------------------------------------

def find_partner(session: Session, name_or_id: str, *, shown: str | None = None) -> Partner:
    """A partner by raw id or by name (the edge decodes a public orgId first); ``shown`` is the reference
    as the operator typed it, for the message."""
    partner = session.get(Partner, name_or_id) or session.scalar(select(Partner).where(Partner.name == name_or_id))
    if partner is None:
        raise NotFound(f"No partner named or with id '{shown or name_or_id}'.")
    return partner


def create_admin(session: Session, caller: Caller, *, email: str, role: str, password: str | None,
                 partner: str | None = None, customer: str | None = None, shown: str | None = None) -> AdminAccount:
    """``partner`` is a raw partner id or a name, ``customer`` a raw customer id or org id (the edge decodes
    public ids); ``shown`` is the reference as the operator typed it, quoted in messages. ``password``
    None makes an account that cannot sign in until it gets a password; any password given must pass the
    password policy (``passwords.check_password``), checked after the references so that a wrong customer
    or partner is reported first."""
    if role not in ROLES:
        raise ValidationFailed(f"Unknown role '{role}'; use one of: {', '.join(ROLES)}.")
    address = normalise_email(email)
    if session.scalar(select(AdminAccount).where(AdminAccount.email_key == address.lower())):
        raise Conflict(f"An administrator with e-mail {address} already exists.")
    partner_id = customer_id = None
    if role == "customer_full_admin":
        if not customer:
            raise ValidationFailed("A customer_full_admin needs --customer CUSTOMER_ID.")
        customer_id = resolve_customer(session, caller, customer,
                                       not_found=f"Customer '{shown or customer}' not found.").id
    else:
        if not partner:
            partners = session.scalars(select(Partner).where(Partner.parent_id.is_(None))).all()
            if len(partners) != 1:
                raise ValidationFailed("Name the partner with --partner NAME_OR_ID.")
            partner_id = partners[0].id
        else:
            partner_id = find_partner(session, partner, shown=shown).id
    if password is not None:
        check_password(password, address)
    account = AdminAccount(
        email=address, email_key=address.lower(), role=role, partner_id=partner_id, customer_id=customer_id,
        password_hash=hash_password(password) if password is not None else None,
    )
    session.add(account)
    try:
        session.flush()
    except IntegrityError as exc:  # the same e-mail created at the same moment by another request
        raise Conflict(f"An administrator with e-mail {address} already exists.") from exc
    record(session, caller, "admin.create", "admin", account.id, customer_id, None,
           {"email": address, "role": role, "partnerId": partner_id, "customerId": customer_id})
    return account


def find_admin(session: Session, email: str) -> AdminAccount:
    account = session.scalar(select(AdminAccount).where(AdminAccount.email_key == email.strip().lower()))
    if account is None:
        raise NotFound(f"No administrator with e-mail {email.strip()}; 'rtmhub admin list' shows them.")
    return account


def set_password(session: Session, caller: Caller, *, email: str, password: str) -> AdminAccount:
    """Give an account a new password; the same policy as at creation."""
    account = find_admin(session, email)
    check_password(password, account.email)
    account.password_hash = hash_password(password)
    record(session, caller, "admin.password", "admin", account.id, account.customer_id, None, {"email": account.email})
    return account


def admin_exists(session: Session, email: str) -> bool:
    """Whether an administrator account has this e-mail (compared case-insensitively, D6)."""
    try:
        key = normalise_email(email).lower()
    except ValidationFailed:
        key = email.strip().lower()
    return session.scalar(select(AdminAccount.id).where(AdminAccount.email_key == key)) is not None


def create_first_admin(session: Session, caller: Caller, customer: Customer) -> AdminAccount:
    """The new customer's first customer full administrator, from ``customerInfo.primaryEmail`` (issue 9, R5):
    no password, so it cannot sign in until it sets one through a set-password link
    (``issue_set_password_link``). The provisioning checks first that no account has the e-mail."""
    return create_admin(session, caller, email=customer.primary_email, role="customer_full_admin", password=None,
                        customer=customer.id)


def issue_set_password_link(session: Session, caller: Caller, account: AdminAccount,
                            now: datetime | None = None) -> tuple[str, datetime]:
    """A new one-time set-password link token for the account and its expiry (SET_PASSWORD_LINK_DAYS). Any
    earlier link of the account stops working; its password, if it has one, works until the link is used.
    The token (256 random bits) is returned once; only its SHA-256 is stored."""
    now = now or utcnow()
    session.execute(delete(SetPasswordLink).where(SetPasswordLink.admin_id == account.id))
    token = secrets.token_urlsafe(32)
    row = SetPasswordLink(admin_id=account.id, token_hash=hash_token(token), created=now,
                          expires=now + timedelta(days=SET_PASSWORD_LINK_DAYS))
    session.add(row)
    session.flush()
    record(session, caller, "admin.link", "admin", account.id, account.customer_id, None,
           {"email": account.email, "expires": row.expires.isoformat()})
    return token, row.expires


def reset_link(session: Session, caller: Caller, *, email: str,
               customer_id: str | None = None) -> tuple[AdminAccount, str, datetime]:
    """A new set-password link for an existing administrator (any role): the first password of a customer's
    first administrator, or a forgotten one. The operator reaches every account; a partner administrator
    only the accounts ``list_admins`` shows it, and ``customer_id`` (a customer it reaches) limits the
    choice to that customer's administrators. Unknown and unreachable e-mails answer the same 404."""
    if caller.read_only:
        raise Forbidden("A read-only administrator cannot change anything.")
    if customer_id is not None:
        customer = get_customer(session, caller, customer_id, write=True)
        account = session.scalar(select(AdminAccount).where(AdminAccount.email_key == email.strip().lower(),
                                                            AdminAccount.customer_id == customer.id))
    elif caller.system:
        account = find_admin(session, email)
    else:
        account = next((a for a in list_admins(session, caller) if a.email_key == email.strip().lower()), None)
    if account is None:
        raise NotFound(f"No administrator with e-mail {email.strip()}; 'rtmhub admin list' shows them.")
    token, expires = issue_set_password_link(session, caller, account)
    return account, token, expires


def _live_link(session: Session, token: str, now: datetime) -> SetPasswordLink | None:
    if not token or len(token) > 200:
        return None
    return session.scalar(select(SetPasswordLink).where(SetPasswordLink.token_hash == hash_token(token),
                                                        SetPasswordLink.expires > now))


def link_account(session: Session, token: str, now: datetime | None = None) -> AdminAccount:
    """The account a set-password link is for, if the link still works; otherwise ``NotFound`` with one
    message for unknown, used, replaced and expired links alike (it leaks nothing)."""
    link = _live_link(session, token, now or utcnow())
    account = session.get(AdminAccount, link.admin_id) if link is not None else None
    if account is None:
        raise NotFound(LINK_INVALID)
    return account


def use_set_password_link(session: Session, token: str, password: str, now: datetime | None = None) -> AdminAccount:
    """Set the account's password through its link, once: the password policy first (a refused password
    leaves the link working), then the link is deleted by a conditional DELETE, so of two uses racing only
    one sets a password. The account's open browser sessions end (a reset locks out whoever had the old
    password)."""
    now = now or utcnow()
    account = link_account(session, token, now)
    check_password(password, account.email)
    used = session.execute(delete(SetPasswordLink).where(SetPasswordLink.token_hash == hash_token(token),
                                                         SetPasswordLink.expires > now))
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(LINK_INVALID)
    account.password_hash = hash_password(password)
    session.execute(update(WebSession).where(WebSession.admin_id == account.id, WebSession.ended.is_(None))
                    .values(ended=now))
    record(session, caller_for_account(session, account, frozenset()), "admin.password", "admin", account.id,
           account.customer_id, None, {"email": account.email, "via": "set-password link"})
    session.flush()
    return account


def list_admins(session: Session, caller: Caller) -> list[AdminAccount]:
    """Administrator accounts the caller reaches: the operator every one; a partner administrator those of
    its partners and of their customers."""
    stmt = select(AdminAccount)
    if not caller.system:
        reached = scope_customers(select(Customer.id), caller)
        stmt = stmt.where(or_(AdminAccount.partner_id.in_(caller.partner_ids), AdminAccount.customer_id.in_(reached)))
    return list(session.scalars(stmt.order_by(AdminAccount.email_key)))


def customer_admins(session: Session, caller: Caller, customer_id: str) -> list[AdminAccount]:
    """The administrator accounts of a customer the caller reaches (unknown and foreign: 404)."""
    customer = get_customer(session, caller, customer_id)
    return list(session.scalars(select(AdminAccount).where(AdminAccount.customer_id == customer.id)
                                .order_by(AdminAccount.email_key)))


def delete_admin(session: Session, caller: Caller, *, email: str) -> AdminAccount:
    """Delete an account with its tokens and sessions (database cascade). The last full administrator of a
    partner or of a customer cannot be deleted (decision 20): nobody could then manage that organisation
    from the pages or the API; create the replacement first."""
    account = find_admin(session, email)
    if caller.read_only:
        raise Forbidden("A read-only administrator cannot change anything.")
    if account.role in ("partner_full_admin", "customer_full_admin"):
        column = AdminAccount.partner_id if account.role == "partner_full_admin" else AdminAccount.customer_id
        owner = account.partner_id if account.role == "partner_full_admin" else account.customer_id
        others = session.scalar(select(func.count()).select_from(AdminAccount).where(
            column == owner, AdminAccount.role == account.role, AdminAccount.id != account.id))
        if not others:
            raise Conflict(f"{account.email} is the last {account.role} of its organisation; create another one "
                           f"with 'rtmhub admin create --role {account.role}' first, then delete this one.")
    record(session, caller, "admin.delete", "admin", account.id, account.customer_id,
           {"email": account.email, "role": account.role, "partnerId": account.partner_id,
            "customerId": account.customer_id}, None)
    session.delete(account)
    session.flush()
    return account


def create_token(session: Session, caller: Caller, *, email: str, scopes: list[str],
                 expires_in_days: int | None = None) -> str:
    """A new token for an administrator; the token itself is returned once and only its SHA-256 digest is
    kept."""
    return issue_token(session, caller, email=email, scopes=scopes, expires_in_days=expires_in_days)[1]


def issue_token(session: Session, caller: Caller, *, email: str, scopes: list[str],
                expires_in_days: int | None = None) -> tuple[ApiToken, str]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValidationFailed(
            f"Unknown scope(s) {', '.join(unknown) or '(none given)'}; use any of: {', '.join(SCOPES)}."
        )
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        raise ValidationFailed(f"--expires-in takes a whole number of days from 1 to {MAX_TOKEN_DAYS} "
                               f"(got {expires_in_days}); leave it out for a token that lasts until revoked.")
    account = session.scalar(select(AdminAccount).where(AdminAccount.email_key == email.strip().lower()))
    if account is None:
        raise NotFound(f"No administrator with e-mail {email}; create one with 'rtmhub admin create'.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    created = utcnow()
    row = ApiToken(admin_id=account.id, token_hash=hash_token(token), scopes=" ".join(sorted(set(scopes))),
                   created=created,
                   expires=created + timedelta(days=expires_in_days) if expires_in_days is not None else None)
    session.add(row)
    session.flush()
    record(session, caller, "token.create", "token", row.id, account.customer_id, None,
           {"admin": account.email, "scopes": row.scopes,
            "expires": row.expires.isoformat() if row.expires else None})
    return row, token


def list_tokens(session: Session, caller: Caller, *, email: str) -> list[ApiToken]:
    """An administrator's tokens, newest first (the rows hold digests only, never a token)."""
    account = find_admin(session, email)
    return list(session.scalars(select(ApiToken).where(ApiToken.admin_id == account.id)
                                .order_by(ApiToken.created.desc(), ApiToken.id)))


def revoke_token(session: Session, caller: Caller, token_id: str) -> ApiToken:
    """Revoke a token: this process refuses it from its next request on, every other process within
    ``TOKEN_CACHE_SECONDS`` (the token cache forgets it when the change is flushed and committed)."""
    row = session.get(ApiToken, token_id.strip())
    if row is None:
        raise NotFound(f"No token with id '{token_id}'; 'rtmhub token list --email E' shows the ids.")
    if row.revoked is not None:
        raise Conflict(f"Token {row.id} was already revoked on {row.revoked:%Y-%m-%d %H:%M} UTC.")
    row.revoked = utcnow()
    account = session.get(AdminAccount, row.admin_id)
    record(session, caller, "token.revoke", "token", row.id, account.customer_id if account else None, None,
           {"admin": account.email if account else None})
    session.flush()
    return row


def token_state(row: ApiToken, now: datetime | None = None) -> str:
    """active, expired or revoked."""
    if row.revoked is not None:
        return "revoked"
    if row.expires is not None and row.expires <= (now or utcnow()):
        return "expired"
    return "active"


# --- sign-in -------------------------------------------------------------------------------

_dummy: tuple[PasswordHasher, str] | None = None


def _dummy_hash() -> str:
    """A hash of a random password made by the current hasher (same cost as the stored hashes), made
    once: verifying against it makes an unknown e-mail take as long as a wrong password."""
    global _dummy
    if _dummy is None or _dummy[0] is not _hasher:
        _dummy = (_hasher, _hasher.hash(secrets.token_urlsafe(16)))
    return _dummy[1]


def authenticate_password(session: Session, email: str, password: str) -> AdminAccount:
    """The administrator with this e-mail (compared case-insensitively, D6) and password.

    Every refusal costs one argon2 verification and answers the same, so neither the answer nor its
    time tells whether an e-mail has an account (unknown e-mail, no password set, wrong password)."""
    key = email.strip().lower()
    account = session.scalar(select(AdminAccount).where(AdminAccount.email_key == key)) if key else None
    stored = account.password_hash if account is not None else None
    try:
        ok = _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or account is None:
        raise Unauthorized(msg("The e-mail address or password is wrong."))
    return account


def caller_for_admin(session: Session, admin_id: str, scopes: frozenset[str],
                     request_id: str | None = None) -> Caller | None:
    """The caller of a signed-in session (by administrator id); None once the account is gone."""
    account = session.get(AdminAccount, admin_id)
    return caller_for_account(session, account, scopes, request_id) if account is not None else None


def partner_of(session: Session, caller: Caller) -> Partner:
    """The caller's own partner (e.g. the owner of a template it creates)."""
    partner = session.get(Partner, caller.partner_id) if caller.partner_id else None
    if partner is None:
        raise Forbidden("Only partner administrators can do this.")
    return partner
