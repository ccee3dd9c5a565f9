"""Sign-in and sign-out."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from rtmhub.domain.access import service as access
from rtmhub.errors import Unauthorized
from rtmhub.web.support import THROTTLE, WebRoute, base_ctx, new_session, reading, render, safe_next, signed_in

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/signin")
def signin_page(request: Request):
    ctx = signed_in(request, required=False)
    if ctx.caller is not None:
        return RedirectResponse("/", status_code=303)
    return render(ctx, "signin.html", next=safe_next(request.query_params.get("next")), email="", error=None)


@router.post("/signin")
def signin(request: Request):
    ctx = base_ctx(request)
    form = ctx.form
    email = str(form.get("email", "")).strip()[:200]
    password = str(form.get("password", ""))[:1024]
    target = safe_next(str(form.get("next", "/")))
    key = (email.lower(), request.client.host if request.client else "-")
    if THROTTLE.blocked(key):
        return render(ctx, "signin.html", http_status=429, next=target, email=email,
                      error=ctx._("Too many failed sign-ins. Wait 15 minutes and try again."))
    try:
        with reading(ctx) as s:
            admin_id = access.authenticate_password(s, email, password).id
    except Unauthorized:
        THROTTLE.fail(key)
        return render(ctx, "signin.html", http_status=401, next=target, email=email,
                      error=ctx._("The e-mail address or password is wrong."))
    THROTTLE.clear(key)
    request.state.web_session = new_session(admin_id)  # a fresh session (and CSRF token) at sign-in
    return RedirectResponse(target, status_code=303)


@router.post("/signout")
def signout(request: Request):
    request.state.web_session = new_session()
    return RedirectResponse("/signin", status_code=303)
