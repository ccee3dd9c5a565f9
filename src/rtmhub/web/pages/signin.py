"""Sign-in and sign-out."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from rtmhub.domain.access import service as access
from rtmhub.domain.access import sessions
from rtmhub.errors import Unauthorized
from rtmhub.web.support import (
    WebRoute,
    base_ctx,
    client_address,
    lifetimes,
    new_session,
    reading,
    render,
    safe_next,
    signed_in,
)

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/signin")
def signin_page(request: Request):
    ctx = signed_in(request, required=False)
    if ctx.caller is not None:
        return RedirectResponse("/", status_code=303)
    # After a set-password link was used (pages/set_password.py): say so above the form.
    notice = ctx._("Your password is set. Sign in with your e-mail address and the new password.") \
        if request.query_params.get("password") == "set" else None
    return render(ctx, "signin.html", next=safe_next(request.query_params.get("next")), email="", error=None,
                  notice=notice)


@router.post("/signin")
def signin(request: Request):
    ctx = base_ctx(request)
    settings = request.app.state.settings
    form = ctx.form
    email = str(form.get("email", "")).strip()[:200]
    password = str(form.get("password", ""))[:1024]
    target = safe_next(str(form.get("next", "/")))
    client = client_address(request, settings.trusted_networks)
    with reading(ctx) as s:
        blocked = sessions.sign_in_blocked(s, email, client)
    if blocked:
        return render(ctx, "signin.html", http_status=429, next=target, email=email,
                      error=ctx._("Too many failed sign-ins. Wait 15 minutes and try again."))
    try:
        with reading(ctx) as s:
            admin_id = access.authenticate_password(s, email, password).id
    except Unauthorized:
        with ctx.db.unit_of_work() as s:
            sessions.record_failure(s, email, client)
        return render(ctx, "signin.html", http_status=401, next=target, email=email,
                      error=ctx._("The e-mail address or password is wrong."))
    with ctx.db.unit_of_work() as s:
        sessions.clear_email_failures(s, email)
        sessions.end(s, request.state.web_session.get("sid"))  # a session already open in this browser
        session_id = sessions.start(s, admin_id, lifetimes(settings))
    request.state.web_session = new_session(session_id)  # a fresh session (and CSRF token) at sign-in
    return RedirectResponse(target, status_code=303)


@router.post("/signout")
def signout(request: Request):
    # Ended in the database, so the old cookie and its CSRF token stop working in every process.
    with base_ctx(request).db.unit_of_work() as s:
        sessions.end(s, request.state.web_session.get("sid"))
    request.state.web_session = new_session()
    return RedirectResponse("/signin", status_code=303)
