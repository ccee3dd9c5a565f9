"""Signed-in browser sessions and the sign-in throttle, both kept in the database.

Every app process reads the same rows, so signing out, going idle or failing to sign in is seen by all
of them at once (issue 8). The cookie carries only a random session id; the row stores its SHA-256, so a
copy of the table does not let anyone sign in.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from rtmhub.db import utcnow
from rtmhub.domain.access.models import SignInFailure, WebSession

# last_seen is written at most this often: a page view then costs a read, not a write (on SQLite a write
# waits for the database's one write lock).
TOUCH_EVERY = timedelta(minutes=1)

# Throttle: failed sign-ins counted over WINDOW, per e-mail and per client address, each on its own.
WINDOW = timedelta(minutes=15)
EMAIL_LIMIT = 5     # guesses at one account's password, from anywhere
CLIENT_LIMIT = 20   # guesses from one address, over any accounts (an office behind one NAT has room)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Lifetimes:
    """How long a session lives: ``idle`` since its last use, ``absolute`` since sign-in."""

    idle: timedelta
    absolute: timedelta


@dataclass(frozen=True)
class ActiveSession:
    admin_id: str
    needs_touch: bool  # last_seen is older than TOUCH_EVERY: the caller should call touch() in a write unit


def start(session: Session, admin_id: str, lifetimes: Lifetimes, now: datetime | None = None) -> str:
    """A new session for the administrator; returns the random id that goes into the cookie (only its
    digest is stored). The administrator's finished sessions are pruned here, so rows do not pile up."""
    now = now or utcnow()
    session.execute(delete(WebSession).where(
        WebSession.admin_id == admin_id,
        or_(WebSession.ended.is_not(None), WebSession.created < now - lifetimes.absolute,
            WebSession.last_seen < now - lifetimes.idle)))
    raw = secrets.token_urlsafe(32)
    session.add(WebSession(id=_digest(raw), admin_id=admin_id, created=now, last_seen=now))
    session.flush()
    return raw


def validate(session: Session, raw: str | None, lifetimes: Lifetimes,
             now: datetime | None = None) -> ActiveSession | None:
    """The session behind a cookie's id, or None when it is unknown, signed out, idle too long or older
    than the absolute lifetime. Reads only."""
    if not raw or len(raw) > 200:
        return None
    now = now or utcnow()
    row = session.get(WebSession, _digest(raw))
    if row is None or row.ended is not None:
        return None
    if row.created > now + TOUCH_EVERY:  # made "in the future": a clock was wrong, trust nothing
        return None
    if now - row.created > lifetimes.absolute or now - row.last_seen > lifetimes.idle:
        return None
    return ActiveSession(admin_id=row.admin_id, needs_touch=now - row.last_seen >= TOUCH_EVERY)


def touch(session: Session, raw: str, now: datetime | None = None) -> None:
    """Records that the session was used now. Conditional, so concurrent requests and a sign-out that
    came first are both harmless."""
    now = now or utcnow()
    session.execute(update(WebSession).where(
        WebSession.id == _digest(raw), WebSession.ended.is_(None), WebSession.last_seen < now - TOUCH_EVERY,
    ).values(last_seen=now))


def end(session: Session, raw: str | None, now: datetime | None = None) -> None:
    """Signs the session out: from now on its cookie (and the CSRF token in it) is refused everywhere."""
    if not raw or len(raw) > 200:
        return
    session.execute(update(WebSession).where(WebSession.id == _digest(raw), WebSession.ended.is_(None))
                    .values(ended=now or utcnow()))


# --- sign-in throttle ------------------------------------------------------------------------------

def _keys(email: str, client: str) -> tuple[str, str]:
    # The e-mail is stored as a digest: the table never holds the addresses people typed.
    return "email:" + _digest(email.strip().lower()), "client:" + client[:190]


def sign_in_blocked(session: Session, email: str, client: str, now: datetime | None = None) -> bool:
    """True when the e-mail or the client address has reached its limit of failures within WINDOW. Each
    key has its own count: failures spread over many e-mails still count against the one address, and
    nothing another e-mail or address does lowers this one's count."""
    now = now or utcnow()
    email_key, client_key = _keys(email, client)
    counts = dict(session.execute(
        select(SignInFailure.key, func.count()).where(
            SignInFailure.key.in_((email_key, client_key)), SignInFailure.at > now - WINDOW)
        .group_by(SignInFailure.key)).all())
    return counts.get(email_key, 0) >= EMAIL_LIMIT or counts.get(client_key, 0) >= CLIENT_LIMIT


def record_failure(session: Session, email: str, client: str, now: datetime | None = None) -> None:
    """Counts one failed sign-in against both keys, and prunes failures older than WINDOW."""
    now = now or utcnow()
    session.execute(delete(SignInFailure).where(SignInFailure.at <= now - WINDOW))
    for key in _keys(email, client):
        session.add(SignInFailure(key=key, at=now))
    session.flush()


def clear_email_failures(session: Session, email: str) -> None:
    """After a correct password: the account's own count starts again. The client address keeps its
    count, or one valid account would let an address reset its guessing budget at will."""
    email_key, _client_key = _keys(email, "")
    session.execute(delete(SignInFailure).where(SignInFailure.key == email_key))
