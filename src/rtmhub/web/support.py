"""Web plumbing: signed session cookie backed by a session row, CSRF, client address, languages, rendering,
error pages.

Everything here is adapter code; every rule lives in the domain services.
"""
from __future__ import annotations

import base64
import gettext
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, negotiate_locale
from babel.dates import format_date, format_datetime, format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from rtmhub.db import is_locked
from rtmhub.domain.access import service as access
from rtmhub.domain.access import sessions
from rtmhub.domain.access.schemas import SCOPES, Caller
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.partners import service as partners
from rtmhub.errors import DomainError, Message, Unavailable
from rtmhub.web import field_labels

log = logging.getLogger("rtmhub.web")
HERE = Path(__file__).parent
LANGS = ("en", "fi", "sv")
SESSION_COOKIE = "rtmhub_session"
LANG_COOKIE = "rtmhub_lang"
SESSION_MAX_AGE = 12 * 3600  # default; the app uses settings.session_max_hours
DISPLAY_TZ = ZoneInfo("Europe/Helsinki")


# --- languages -------------------------------------------------------------------------------

@lru_cache
def translations(lang: str) -> gettext.NullTranslations:
    """The .po catalogue compiled in memory (no binary .mo files are kept in the repository)."""
    po = HERE / "locale" / lang / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def pick_lang(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LANGS:
        return cookie
    header = request.headers.get("accept-language", "")
    preferred = []
    for part in header.split(","):
        tag = part.split(";")[0].strip().replace("-", "_")
        if tag:
            preferred.append(tag)
    found = negotiate_locale(preferred, list(LANGS), sep="_") if preferred else None
    if found is None:
        for tag in preferred:
            if tag.split("_")[0].lower() in LANGS:
                return tag.split("_")[0].lower()
    return found or "en"


class Gettext:
    """``_(text, **values)`` in one language. ``text`` may be a domain ``Message``: then its own values
    are used, its plural form is chosen by its count, and the fields it names are said as the page's
    labels (decision 40). ``ngettext`` is for the pages' own counted texts."""

    def __init__(self, lang: str):
        self.lang = lang
        self.catalogue = translations(lang)

    def __call__(self, message: str, **values: Any) -> str:
        if isinstance(message, Message) and not values:
            return self.say(message)
        return self._fill(self.catalogue.gettext(message), values)

    def _fill(self, text: str, values: dict[str, Any]) -> str:
        if not values:
            return text
        # A value that is itself a Message (e.g. zxcvbn's warning inside the password refusal) is said in
        # the reader's language too.
        return text.format(**{k: self.say(v) if isinstance(v, Message) else v for k, v in values.items()})

    def ngettext(self, singular: str, plural: str, count: Any, /, **values: Any) -> str:
        """The form for ``count`` things (the catalogue's Plural-Forms); ``{n}`` is the count unless given."""
        try:
            n = int(count)
        except (TypeError, ValueError):
            n = 2  # not a number: the form that does not claim "one"
        values.setdefault("n", count)
        return self._fill(self.catalogue.ngettext(singular, plural, n), values)

    def say(self, message: Message, csv: bool = False) -> str:
        """A domain message for a page; ``csv``: a CSV row's message, naming columns as the file does."""
        params = message.params
        if self.lang != "en":
            params = field_labels.localise_params(message.template, params, self.lang, self, csv=csv)
        if message.plural is not None and message.count in message.params:
            return self.ngettext(message.template, message.plural, message.params[message.count], **params)
        return self._fill(self.catalogue.gettext(message.template), params)


def make_gettext(lang: str) -> Gettext:
    return Gettext(lang)


# --- session and CSRF ------------------------------------------------------------------------
# The cookie is signed (it cannot be forged) and holds a CSRF token, its issue time and, once signed in,
# a random session id. The id is only valid while its row in web_sessions is (domain/access/sessions.py):
# signing out or going idle ends it for every process at once, and with it the cookie's CSRF token.

CLOCK_SKEW = 60  # seconds an issue time may lie ahead of this process's clock (several machines)


def _key(secret: str) -> bytes:
    return hashlib.sha256(("rtmhub-web-session:" + secret).encode()).digest()


def sign(payload: dict[str, Any], secret: str) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
    mac = hmac.new(_key(secret), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def unsign(value: str | None, secret: str, max_age: float = SESSION_MAX_AGE) -> dict[str, Any] | None:
    if not value or "." not in value or len(value) > 4096:
        return None
    body, _, mac = value.rpartition(".")
    expected = hmac.new(_key(secret), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("csrf"), str):
        return None
    issued, now = payload.get("iat"), time.time()
    # An issue time in the future is refused: it would stretch the cookie's lifetime past max_age.
    if not isinstance(issued, int | float) or issued + max_age < now or issued > now + CLOCK_SKEW:
        return None
    return payload


def new_session(session_id: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"csrf": secrets.token_urlsafe(24), "iat": int(time.time())}
    if session_id:
        payload["sid"] = session_id
    return payload


def lifetimes(settings: Any) -> sessions.Lifetimes:
    return sessions.Lifetimes(idle=timedelta(minutes=settings.session_idle_minutes),
                              absolute=timedelta(hours=settings.session_max_hours))


def _signed_in_admin(request: Request, payload: dict[str, Any]) -> str | None:
    """The administrator of the cookie's session id, or None when its row says it has ended. Runs in a
    worker thread (database calls)."""
    db, settings = request.app.state.db, request.app.state.settings
    sid = payload.get("sid")
    if not isinstance(sid, str):
        return None
    with db.unit_of_work(write=False) as s:
        active = sessions.validate(s, sid, lifetimes(settings))
    if active is None:
        return None
    if active.needs_touch:
        try:
            with db.unit_of_work() as s:
                sessions.touch(s, sid)
        except (SQLAlchemyError, Unavailable):
            # A busy database delays the idle clock by a minute at most; not a reason to refuse the page.
            log.warning("could not record session use (tracking id %s)", getattr(request.state, "tracking_id", ""))
    return active.admin_id


def client_address(request: Request, trusted: tuple[Any, ...]) -> str:
    """The address the request came from. The direct peer, unless the peer is a trusted proxy: then the
    right-most X-Forwarded-For entry that is not itself a trusted proxy (entries left of it were written
    by the client and prove nothing). The server must not rewrite the peer from headers itself."""
    peer = request.client.host if request.client else "-"
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for line in request.headers.getlist("x-forwarded-for") for h in line.split(",")]
    address = peer
    for hop in reversed([h for h in hops if h]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address  # garbage from beyond the last trusted proxy: count it against that proxy
        address = hop
        if not _trusted(hop, trusted):
            return hop
    return address


def _trusted(address: str, trusted: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in trusted)


# --- rendering -------------------------------------------------------------------------------

def _idify(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in str(name))


ENV = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html", "svg"]),
                  trim_blocks=True, lstrip_blocks=True)
ENV.filters["idify"] = _idify


class LoginRequired(Exception):
    pass


class CsrfRefused(Exception):
    pass


@dataclass
class Ctx:
    request: Request
    lang: str
    _: Gettext
    caller: Caller | None = None
    email: str | None = None

    @property
    def csrf(self) -> str:
        return self.request.state.web_session["csrf"]

    @property
    def can_write(self) -> bool:
        return self.caller is not None and not self.caller.read_only

    @property
    def db(self):
        return self.request.app.state.db

    @property
    def form(self):
        return getattr(self.request.state, "form", None) or {}

    def num(self, value: float | int | None) -> str:
        return "" if value is None else format_decimal(value, locale=self.lang)

    def pct(self, value: float) -> str:
        return format_percent(value, locale=self.lang)

    def dt(self, value) -> str:
        if value is None:
            return ""
        return format_datetime(value, "short", tzinfo=DISPLAY_TZ, locale=Locale.parse(self.lang))

    def day(self, value, skeleton: str | None = None) -> str:
        """A calendar day (a ``date``, no time zone): the locale's medium form, or ``skeleton`` (e.g.
        "MMMd") for short axis labels."""
        if value is None:
            return ""
        if skeleton:
            return format_skeleton(skeleton, value, locale=Locale.parse(self.lang))
        return format_date(value, "medium", locale=Locale.parse(self.lang))

    def url(self, path: str, **params: Any) -> str:
        from urllib.parse import urlencode

        clean = {k: v for k, v in params.items() if v not in (None, "")}
        return path + ("?" + urlencode(clean) if clean else "")


def base_ctx(request: Request) -> Ctx:
    lang = request.state.lang
    return Ctx(request=request, lang=lang, _=make_gettext(lang))


def signed_in(request: Request, required: bool = True) -> Ctx:
    ctx = base_ctx(request)
    admin_id = getattr(request.state, "admin_id", None)
    if admin_id:
        with ctx.db.unit_of_work(write=False) as s:
            ctx.caller = access.caller_for_admin(s, admin_id, frozenset(SCOPES),
                                                 request_id=getattr(request.state, "tracking_id", None))
            ctx.email = ctx.caller.actor if ctx.caller is not None else None  # the account's e-mail
    if ctx.caller is None and required:
        raise LoginRequired()
    return ctx


@contextmanager
def reading(ctx: Ctx) -> Iterator[Session]:
    """A read-only unit of work whose loaded rows stay readable after it ends (for the template)."""
    with ctx.db.unit_of_work(write=False) as session:
        try:
            yield session
        finally:
            session.expunge_all()  # the closing rollback would otherwise expire every loaded row


def render(ctx: Ctx, template: str, http_status: int = 200, **values: Any) -> HTMLResponse:
    html = ENV.get_template(template).render(ctx=ctx, _=ctx._, _n=ctx._.ngettext, caller=ctx.caller, **values)
    return HTMLResponse(html, status_code=http_status)


def error_page(request: Request, status: int, message: str | None = None) -> HTMLResponse:
    try:
        ctx = signed_in(request, required=False)
    except Exception:  # noqa: BLE001 - an error page must always render
        ctx = base_ctx(request)
    _ = ctx._
    titles = {400: _("The request could not be handled"), 403: _("Not allowed"), 404: _("Not found"),
              409: _("Conflict"), 413: _("Too large"), 429: _("Too many attempts"),
              500: _("Something went wrong"), 503: _("Busy, try again")}
    texts = {403: _("You do not have access to this page or action."),
             404: _("The page does not exist, or it is not yours to see."),
             500: _("An unexpected error occurred. Report the tracking id to your operator."),
             503: _("The service is busy with another change. Wait a few seconds and try again; nothing was "
                    "changed.")}
    return render(ctx, "error.html", http_status=status, title=titles.get(status, titles[400]),
                  text=texts.get(status), detail=_.say(message) if isinstance(message, Message) else message,
                  tracking=getattr(request.state, "tracking_id", ""))


class WebRoute(APIRoute):
    """Loads the session, checks CSRF on every POST, picks the language and turns errors into pages."""

    def get_route_handler(self):
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            settings = request.app.state.settings
            max_age = settings.session_max_hours * 3600
            session = unsign(request.cookies.get(SESSION_COOKIE), settings.secret_key, max_age)
            request.state.admin_id = None
            if session is not None and "sid" in session:
                request.state.admin_id = await run_in_threadpool(_signed_in_admin, request, session)
                if request.state.admin_id is None:
                    session = None  # signed out, idle or expired: the cookie and its CSRF token are void
            dirty = session is None
            request.state.web_session = session or new_session()
            request.state.session_dirty = dirty
            request.state.lang = pick_lang(request)
            try:
                if request.method == "POST":
                    form = await request.form(max_files=2, max_fields=1000)
                    request.state.form = form
                    token = form.get("csrf_token")
                    if session is None or not isinstance(token, str) or not hmac.compare_digest(
                            token, session.get("csrf", "")):
                        raise CsrfRefused()
                response = await original(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = RedirectResponse(f"/signin?next={_quote(target)}", status_code=303)
            except CsrfRefused:
                _ = make_gettext(request.state.lang)
                response = error_page(request, 403, _(
                    "The form has expired or did not come from this site. Reload the page and try again."))
            except Unavailable as exc:
                # The write lock stayed taken longer than a request waits (decision 23).
                response = error_page(request, 503)
                response.headers["Retry-After"] = str(exc.retry_after)
            except DomainError as exc:
                response = error_page(request, exc.status if exc.status in (400, 403, 404, 409, 413) else 400,
                                      exc.message)
            except Exception as exc:  # noqa: BLE001 - a page never answers with a bare traceback
                status = getattr(exc, "status_code", None)
                if is_locked(exc):
                    response = error_page(request, 503)
                    response.headers["Retry-After"] = "2"
                elif isinstance(status, int) and 400 <= status < 500:
                    response = error_page(request, status if status in (400, 413) else 400, str(exc))
                else:
                    log.exception("web page failed (tracking id %s)", getattr(request.state, "tracking_id", ""))
                    response = error_page(request, 500)
            if request.state.session_dirty or request.state.web_session is not session:
                response.set_cookie(SESSION_COOKIE, sign(request.state.web_session, settings.secret_key),
                                    max_age=max_age, httponly=True, samesite="lax",
                                    secure=settings.env != "development", path="/")
            if request.query_params.get("lang") in LANGS:
                response.set_cookie(LANG_COOKIE, request.query_params["lang"], max_age=365 * 86400,
                                    samesite="lax", secure=settings.env != "development", path="/")
            response.headers.setdefault("Cache-Control", "no-store")  # the other headers: security_headers.py
            return response

        return handler


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def safe_next(value: str | None) -> str:
    """Only a local path may be a redirect target."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def suspended_partner(ctx: Ctx, customer: Customer | None = None) -> str | None:
    """The name of the suspended sub-partner (R53) that a page belongs to: the customer's partner on a
    customer's pages, else the signed-in administrator's own; None when it is active. base.html shows the
    notice from this on every page."""
    if ctx.caller is None:
        return None
    partner_id = customer.partner_id if customer is not None else ctx.caller.partner_id
    if not partner_id:
        return None
    with reading(ctx) as s:
        partner = partners.suspended_partner(s, partner_id)
        return partner.name if partner is not None else None


# Every page's base.html shows the R53 notice from this (not registered by one page module for all).
ENV.globals["suspended_partner"] = suspended_partner
