"""Web plumbing: signed session cookie, CSRF, sign-in throttling, languages, rendering, error pages.

Everything here is adapter code; every rule lives in the domain services.
"""
from __future__ import annotations

import base64
import gettext
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, negotiate_locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from rtmhub.domain.access import service as access
from rtmhub.domain.access.schemas import SCOPES, Caller
from rtmhub.errors import DomainError

log = logging.getLogger("rtmhub.web")
HERE = Path(__file__).parent
LANGS = ("en", "fi")
SESSION_COOKIE = "rtmhub_session"
LANG_COOKIE = "rtmhub_lang"
SESSION_MAX_AGE = 12 * 3600
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


def make_gettext(lang: str) -> Callable[..., str]:
    catalogue = translations(lang)

    def _(message: str, **values: Any) -> str:
        text = catalogue.gettext(message)
        return text.format(**values) if values else text

    return _


# --- session and CSRF ------------------------------------------------------------------------

def _key(secret: str) -> bytes:
    return hashlib.sha256(("rtmhub-web-session:" + secret).encode()).digest()


def sign(payload: dict[str, Any], secret: str) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
    mac = hmac.new(_key(secret), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def unsign(value: str | None, secret: str) -> dict[str, Any] | None:
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
    if not isinstance(payload, dict) or payload.get("iat", 0) + SESSION_MAX_AGE < time.time():
        return None
    return payload


def new_session(admin_id: str | None = None) -> dict[str, Any]:
    return {"csrf": secrets.token_urlsafe(24), "aid": admin_id, "iat": int(time.time())}


# --- sign-in throttling ----------------------------------------------------------------------

class Throttle:
    """Failed sign-ins per (e-mail, client address). Kept in this process only: with several app
    processes each counts on its own, so the effective limit is per process (documented in README)."""

    def __init__(self, limit: int = 5, window: float = 15 * 60):
        self.limit, self.window = limit, window
        self._failures: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> list[float]:
        stamps = [t for t in self._failures.get(key, []) if t > now - self.window]
        if stamps:
            self._failures[key] = stamps
        else:
            self._failures.pop(key, None)
        return stamps

    def blocked(self, key: tuple[str, str]) -> bool:
        with self._lock:
            return len(self._recent(key, time.time())) >= self.limit

    def fail(self, key: tuple[str, str]) -> None:
        with self._lock:
            now = time.time()
            self._recent(key, now)
            self._failures.setdefault(key, []).append(now)
            if len(self._failures) > 100_000:  # bounded memory under a spray of addresses
                self._failures.clear()

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()

    def clear(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(key, None)


THROTTLE = Throttle()


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
    _: Callable[..., str]
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

    def url(self, path: str, **params: Any) -> str:
        from urllib.parse import urlencode

        clean = {k: v for k, v in params.items() if v not in (None, "")}
        return path + ("?" + urlencode(clean) if clean else "")


def base_ctx(request: Request) -> Ctx:
    lang = request.state.lang
    return Ctx(request=request, lang=lang, _=make_gettext(lang))


def signed_in(request: Request, required: bool = True) -> Ctx:
    ctx = base_ctx(request)
    admin_id = request.state.web_session.get("aid")
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
    html = ENV.get_template(template).render(ctx=ctx, _=ctx._, caller=ctx.caller, **values)
    return HTMLResponse(html, status_code=http_status)


def error_page(request: Request, status: int, message: str | None = None) -> HTMLResponse:
    try:
        ctx = signed_in(request, required=False)
    except Exception:  # noqa: BLE001 - an error page must always render
        ctx = base_ctx(request)
    _ = ctx._
    titles = {400: _("The request could not be handled"), 403: _("Not allowed"), 404: _("Not found"),
              409: _("Conflict"), 413: _("Too large"), 429: _("Too many attempts"),
              500: _("Something went wrong")}
    texts = {403: _("You do not have access to this page or action."),
             404: _("The page does not exist, or it is not yours to see."),
             500: _("An unexpected error occurred. Report the tracking id to your operator.")}
    return render(ctx, "error.html", http_status=status, title=titles.get(status, titles[400]),
                  text=texts.get(status), detail=message,
                  tracking=getattr(request.state, "tracking_id", ""))


class WebRoute(APIRoute):
    """Loads the session, checks CSRF on every POST, picks the language and turns errors into pages."""

    def get_route_handler(self):
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            settings = request.app.state.settings
            session = unsign(request.cookies.get(SESSION_COOKIE), settings.secret_key)
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
            except DomainError as exc:
                response = error_page(request, exc.status if exc.status in (400, 403, 404, 409, 413) else 400,
                                      exc.message)
            except Exception as exc:  # noqa: BLE001 - a page never answers with a bare traceback
                status = getattr(exc, "status_code", None)
                if isinstance(status, int) and 400 <= status < 500:
                    response = error_page(request, status if status in (400, 413) else 400, str(exc))
                else:
                    log.exception("web page failed (tracking id %s)", getattr(request.state, "tracking_id", ""))
                    response = error_page(request, 500)
            if request.state.session_dirty or request.state.web_session is not session:
                response.set_cookie(SESSION_COOKIE, sign(request.state.web_session, settings.secret_key),
                                    max_age=SESSION_MAX_AGE, httponly=True, samesite="lax",
                                    secure=settings.env != "development", path="/")
            if request.query_params.get("lang") in LANGS:
                response.set_cookie(LANG_COOKIE, request.query_params["lang"], max_age=365 * 86400,
                                    samesite="lax", secure=settings.env != "development", path="/")
            response.headers.setdefault("Cache-Control", "no-store")
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
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
