"""Server-rendered Partner Hub and Control Hub pages (Jinja2, en/fi), mounted at / by rtmhub.app."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """The pages at / and their static files at /static.

    Routes match in the order they are included: each module declares its fixed paths before the
    parameterised ones (``/customers/new`` before ``/customers/{cid}``, ``/hub/users/add`` … before
    ``/hub/users/{uid}``), and no path of one module is shadowed by another's."""
    from fastapi.staticfiles import StaticFiles

    from rtmhub.web.pages import (
        audit,
        hub_licences,
        hub_org,
        hub_users,
        partner_hub,
        reports,
        set_password,
        signin,
        sub_partners,
        tasks,
    )

    for page in (signin, set_password, sub_partners, partner_hub, hub_users, hub_org, hub_licences, tasks, audit,
                 reports):
        app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
