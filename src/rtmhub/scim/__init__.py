"""The SCIM 2.0 face (RFC 7643/7644) under /identity/scim/{orgId}/v2: directory sync from Microsoft Entra ID,
Okta or any SCIM client, over the same users service and rules as the API and the pages."""
from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    from rtmhub.scim import routes

    app.include_router(routes.router)
