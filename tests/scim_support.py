"""Shared set-up of the SCIM tests: the world of conftest.build_world, SCIM tokens and the base path."""
from __future__ import annotations

from dataclasses import dataclass

from conftest import OPERATOR, World
from rtmhub.domain.access import service as access

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_JSON = "application/scim+json"


@dataclass
class ScimWorld:
    world: object
    base: str  # /identity/scim/{org uuid of customer A}/v2
    other_base: str  # customer B's
    rw: dict  # headers: customer A's admin, identity:people_rw
    read: dict  # customer A's admin, identity:people_read only
    other: dict  # customer B's admin, identity:people_rw
    partner: dict  # partner A's full admin (reaches customer A)
    org_raw: str
    customer_id: str


def make_scim_world(world: World) -> ScimWorld:
    db = world.db
    with db.unit_of_work() as s:
        from rtmhub.domain.customers.models import Customer

        ca = s.get(Customer, world.raw["ca"])
        cb = s.get(Customer, world.raw["cb"])
        rw = access.create_token(s, OPERATOR, email="admin@asiakas.example", scopes=["identity:people_rw"])
        read = access.create_token(s, OPERATOR, email="admin@asiakas.example", scopes=["identity:people_read"])
        other = access.create_token(s, OPERATOR, email="admin@kund.example", scopes=["identity:people_rw"])
        partner = access.create_token(s, OPERATOR, email="full@a.example", scopes=["identity:people_rw"])
        org_a, org_b = ca.org_id, cb.org_id
    auth = lambda t: {"Authorization": f"Bearer {t}"}  # noqa: E731
    return ScimWorld(world, f"/identity/scim/{org_a}/v2", f"/identity/scim/{org_b}/v2", auth(rw), auth(read),
                     auth(other), auth(partner), org_a, world.raw["ca"])


def user_body(email: str, **extra) -> dict:
    return {"schemas": [USER], "userName": email, "name": {"givenName": "Testi", "familyName": "Henkilö"},
            "emails": [{"value": email, "type": "work", "primary": True}], **extra}


def assert_scim_error(response, status: int, scim_type: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(SCIM_JSON)
    body = response.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status) and body["detail"]
    if scim_type:
        assert body.get("scimType") == scim_type, body
    return body
