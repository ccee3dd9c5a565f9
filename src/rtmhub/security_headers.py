"""Security headers on every HTTP response: pages, API, static files, documentation and errors.

The middleware wraps the application's whole middleware stack (see ``install``), so even the 500 answer
that Starlette's outermost error middleware renders carries the headers. A header a response already
sets is left as it is.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Everything from this server only; no inline script, no inline event handler, no inline style, no plugin,
# no framing. Images may be data: URIs (Swagger UI's icons are).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# Redoc renders its styles with styled-components (inline <style> elements) and runs its search in a
# worker made from a blob: URL. Allowed on that one page only; its script still comes from 'self' alone.
CSP_REDOC = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'") + "; worker-src 'self' blob:"
HSTS = "max-age=31536000"  # a year; no includeSubDomains: other hosts of the operator's domain are not ours


def policy_for(path: str) -> str:
    return CSP_REDOC if path == "/redoc" else CSP


class SecurityHeaders:
    """Adds Content-Security-Policy, X-Frame-Options, X-Content-Type-Options, Referrer-Policy and, when the
    public URL is https, Strict-Transport-Security to every HTTP response."""

    def __init__(self, app: ASGIApp, hsts: bool):
        self.app = app
        self.fixed = [("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"),
                      ("Referrer-Policy", "same-origin")]
        if hsts:
            self.fixed.append(("Strict-Transport-Security", HSTS))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = policy_for(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", csp)
                for name, value in self.fixed:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: Any, public_url: str) -> None:
    """Wraps the whole middleware stack, outside Starlette's ServerErrorMiddleware (which ``add_middleware``
    cannot reach), so every answer of ``app`` gets the headers."""
    build: Callable[[], ASGIApp] = app.build_middleware_stack
    hsts = public_url.lower().startswith("https://")
    app.build_middleware_stack = lambda: SecurityHeaders(build(), hsts=hsts)
