"""The public set-password page: an administrator opens its one-time link (issue 9, R5), chooses a
password under the same policy as everywhere (``access/passwords.py``) and then signs in at /signin.

Opening the link (GET) changes nothing, so a mail scanner that follows it does not use it up; only the
form's POST uses it. An unknown, used, replaced or expired link gets one and the same answer (404 and
the same words), so the page tells nobody which tokens exist.
"""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from rtmhub.domain.access import service as access
from rtmhub.errors import NotFound, ValidationFailed
from rtmhub.web.forms import localised, opened
from rtmhub.web.support import Ctx, WebRoute, reading, render, signed_in

router = APIRouter(route_class=WebRoute, include_in_schema=False)


def _invalid(ctx: Ctx):
    return render(ctx, "set_password.html", http_status=404, invalid=True, email="", error=None)


@router.get("/set-password/{token}")
def set_password_page(request: Request, token: str):
    ctx = signed_in(request, required=False)
    try:
        with reading(ctx) as s:
            email = access.link_account(s, token).email
    except NotFound:
        return _invalid(ctx)
    return render(ctx, "set_password.html", invalid=False, email=email, error=None)


@router.post("/set-password/{token}")
def set_password(request: Request, token: str):
    ctx = signed_in(request, required=False)
    form = ctx.form
    password = str(form.get("password", ""))[:access.MAX_PASSWORD_FORM]
    repeated = str(form.get("password2", ""))[:access.MAX_PASSWORD_FORM]
    try:
        with reading(ctx) as s:
            email = access.link_account(s, token).email
        if password != repeated:
            return render(ctx, "set_password.html", http_status=400, invalid=False, email=email,
                          error=ctx._("The two passwords differ; type the same password in both fields."))
        with ctx.db.unit_of_work() as s:
            access.use_set_password_link(s, token, password)
    except NotFound:
        return _invalid(ctx)
    except ValidationFailed as exc:
        return render(ctx, "set_password.html", http_status=400, invalid=False, email=email,
                      error=localised(ctx, None, None, exc.message))
    return RedirectResponse("/signin?password=set", status_code=303)


# --- Partner Hub: a new link for a customer's administrator -----------------------------------

@router.post("/customers/{cid}/admins/link")
def new_link(request: Request, cid: str):
    """A new set-password link for one of the customer's administrators (the customer page's button): the
    first password of an administrator created by the API's onboarding, or a forgotten one. Shown once."""
    ctx = opened(request, partner=True, write=True)
    email = str(ctx.form.get("email", "")).strip()[:200]
    with ctx.db.unit_of_work() as s:
        customer = access.get_customer(s, ctx.caller, cid)
        admin, token, expires = access.reset_link(s, ctx.caller, email=email, customer_id=customer.id)
        values = {"customer_id": customer.id, "customer_name": customer.name, "email": admin.email,
                  "expires": expires}
    link = request.app.state.settings.base_url(str(request.base_url)) + access.SET_PASSWORD_PATH + token
    return render(ctx, "admin_link.html", hub=False, link=link, **values)
