"""Our responses validated against the UPSTREAM component schemas (reference/webex-wholesale-openapi.yaml),
plus the status codes and headers of the contract.

The YAML is OpenAPI 3.0: its component schemas are JSON Schema (draft-4 flavoured) apart from `nullable`,
which is converted here. `#/components/schemas/...` references resolve through a `referencing` registry that
holds the converted document. The upstream `Location` component is a known defect (summary §6), so /locations
responses are checked against the shape the summary gives, written out below.
"""
from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import jsonschema
import pytest
import referencing
import yaml
from referencing.jsonschema import DRAFT7

from tests.conftest import skip_or_fail

# The upstream contract is third-party and stays outside the repository: in ../shared/reference next to the
# project's folder, or wherever RTMHUB_REFERENCE_DIR says. Missing, its tests skip, and fail when CI=true.
REFERENCE_DIR = Path(os.environ.get("RTMHUB_REFERENCE_DIR")
                     or Path(__file__).resolve().parents[2] / "shared" / "reference")
SPEC_PATH = REFERENCE_DIR / "webex-wholesale-openapi.yaml"
SPEC_URI = "urn:webex-wholesale-openapi"
LINK_NEXT = re.compile(r'^<(http://[^>]+)>; rel="next"$')

# §6: what GET /locations and GET /locations/{id} really return (operation examples, old extract, wxc-sdk model).
LOCATION = {
    "type": "object",
    "required": ["id", "name", "timeZone", "address"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "name": {"type": "string"},
        "orgId": {"type": "string"},
        "timeZone": {"type": "string"},
        "preferredLanguage": {"type": "string"},
        "announcementLanguage": {"type": "string"},
        "address": {
            "type": "object",
            "required": ["address1", "city", "country"],
            "properties": {k: {"type": "string"} for k in
                           ("address1", "address2", "city", "state", "postalCode", "country")},
        },
        "latitude": {"type": "string"},
        "longitude": {"type": "string"},
        "notes": {"type": "string"},
    },
}
LOCATIONS = {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": LOCATION}}}

# Every error body: the ErrorResponse shape that the SDKs parse (§1). Upstream's ErrorDetail.errorCode enum is
# the licence-PATCH list (§8), so generic errors are checked with an integer errorCode; PATCH /licenses/users 400
# is checked against LicenseError as is.
GENERIC_ERROR = {
    "allOf": [{"$ref": f"{SPEC_URI}#/components/schemas/ErrorResponse_generic"}],
    "required": ["message", "errors", "trackingId"],
    "properties": {"message": {"minLength": 1}, "trackingId": {"minLength": 1},
                   "errors": {"minItems": 1, "items": {"required": ["description"],
                                                       "properties": {"description": {"type": "string"}}}}},
}


def _convert(node):
    """OpenAPI 3.0 schema → JSON Schema: `nullable: true` widens the type; everything else is kept."""
    if isinstance(node, list):
        return [_convert(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _convert(v) for k, v in node.items()}
    if out.pop("nullable", False):
        if "type" in out:
            out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def upstream_validator():
    """A `check(body, schema)` over the converted upstream components (`schema`: a component name or a JSON
    Schema that may `$ref` them), or None when the upstream file is not there. `check.spec` is the raw YAML."""
    if not SPEC_PATH.exists():
        return None
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    doc = {"components": {"schemas": _convert(spec["components"]["schemas"])}}
    generic = copy.deepcopy(doc["components"]["schemas"]["ErrorResponse"])
    generic["properties"]["errors"]["items"] = {"type": "object", "properties": {"errorCode": {"type": "integer"}}}
    doc["components"]["schemas"]["ErrorResponse_generic"] = generic
    registry = referencing.Registry().with_resource(SPEC_URI, DRAFT7.create_resource(doc))

    def check(body, schema: str | dict) -> None:
        target = {"$ref": f"{SPEC_URI}#/components/schemas/{schema}"} if isinstance(schema, str) else schema
        validator = jsonschema.Draft7Validator(target, registry=registry)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        assert not errors, f"{schema if isinstance(schema, str) else 'schema'}: " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors[:5])

    check.spec = spec
    return check


@pytest.fixture(scope="module")
def upstream():
    check = upstream_validator()
    if check is None:
        skip_or_fail(f"upstream contract not found at {SPEC_PATH} (it lives outside the repository, in "
                     "../shared/reference or RTMHUB_REFERENCE_DIR); the contract tests need it")
    return check


def _ok(r, status: int = 200):
    assert r.status_code == status, r.text
    if status != 204 and r.content:
        assert r.headers["content-type"].startswith("application/json")
    return r.json() if r.content else None


def _error(r, status: int, check):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    check(body, GENERIC_ERROR)
    assert body["trackingId"] == r.headers["trackingid"]
    return body


def _next(r) -> str:
    m = LINK_NEXT.match(r.headers.get("link", ""))
    assert m, f"no absolute Link rel=next: {r.headers.get('link')!r}"
    return m.group(1)


def test_upstream_spec_declares_what_we_check(upstream):
    """Guards the test itself: the operations and components used below exist in the upstream file."""
    paths = upstream.spec["paths"]
    assert "202" in paths["/wholesale/customers"]["post"]["responses"]
    assert "201" in paths["/locations"]["post"]["responses"]
    assert paths["/locations/{locationId}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Location"}  # the §6 defect is still there; LOCATION above replaces it
    for name in ("Customer", "Subscriber", "Person", "License", "Organization", "SubPartner", "ErrorResponse",
                 "ReportId", "Report", "WholesaleBillingReportsListResponse"):
        assert name in upstream.spec["components"]["schemas"]


def test_wholesale_customers(client, world, upstream):
    h = world.auth("a_full")
    listed = _ok(client.get("/v1/wholesale/customers", headers=h))
    upstream(listed, "CustomerListResponse")
    assert len(listed["items"]) == 2
    one = _ok(client.get(f"/v1/wholesale/customers/{world.ids['ca']}", headers=h,
                         params={"includePackageLicenseInfo": "true"}))
    upstream(one, "Customer")
    assert one["orgId"] == world.ids["ca_org"]
    assert all(p["licenseIds"] for p in one["resourceDetails"]["packages"])

    body = {"provisioningId": world.raw["ta"], "externalId": "CONTRACT-1", "packages": ["webex_meetings"],
            "address": {"addressLine1": "Kauppakatu 1", "city": "Oulu", "country": "FI"},
            "customerInfo": {"name": "Sopimus Oy", "primaryEmail": "admin@sopimus.example"}}
    r = client.post("/v1/wholesale/customers", headers=h, json=body)
    created = _ok(r, 202)
    upstream(created, "ResourceURL")
    assert r.headers["location"] == created["url"]
    assert re.match(r"^https?://[^/]+/v1/wholesale/customers/[A-Za-z0-9_=-]+$", created["url"])
    cid = created["url"].rsplit("/", 1)[1]
    upstream(_ok(client.get(f"/v1/wholesale/customers/{cid}", headers=h)), "Customer")

    r = client.put(f"/v1/wholesale/customers/{cid}", headers=h,
                   json={"packages": ["webex_meetings"], "externalId": "CONTRACT-1b"})
    updated = _ok(r, 202)
    upstream(updated, "ResourceURL")
    assert r.headers["location"] == updated["url"] == created["url"]

    # Paging: three customers, max=1 → two absolute next links, the last page has none.
    seen, url = [], "/v1/wholesale/customers?max=1"
    for _ in range(5):
        r = client.get(url, headers=h)
        page = _ok(r)
        upstream(page, "CustomerListResponse")
        seen += [c["id"] for c in page["items"]]
        if "link" not in r.headers:
            break
        url = _next(r)
    assert len(seen) == 3 == len(set(seen))

    r = client.delete(f"/v1/wholesale/customers/{cid}", headers=h)
    assert r.status_code == 202 and not r.content

    _error(client.get("/v1/wholesale/customers/bm90LWFuLWlk", headers=h), 404, upstream)
    _error(client.post("/v1/wholesale/customers", headers=h, json={**body, "externalId": "A-CUST-1"}), 409, upstream)
    _error(client.get("/v1/wholesale/customers", headers={"Authorization": "Bearer nope"}), 401, upstream)
    _error(client.get("/v1/wholesale/customers", headers=world.auth("a_noscope")), 403, upstream)


def test_wholesale_subscribers_and_sub_partners(client, world, upstream):
    h = world.auth("a_full")
    listed = _ok(client.get("/v1/wholesale/subscribers", headers=h))
    upstream(listed, "SubscriberListResponse")
    assert {s["email"] for s in listed["items"]} >= {"matti.meikalainen@asiakas.example"}
    r = client.get("/v1/wholesale/subscribers", headers=h, params={"max": 1})
    upstream(_ok(r), "SubscriberListResponse")
    _next(r)

    r = client.post("/v1/wholesale/subscribers", headers=h, json={
        "customerId": world.ids["ca"], "email": "sopimus@asiakas.example", "packages": ["webex_calling"],
        "provisioningParameters": {"firstName": "Sopi", "lastName": "Mus", "extension": "1777",
                                   "locationId": world.ids["loc_ca"]}})
    created = _ok(r, 200)
    upstream(created, "Subscriber")
    assert r.headers["location"].endswith(f"/v1/wholesale/subscribers/{created['id']}")
    r = client.get(f"/v1/wholesale/subscribers/{created['id']}", headers=h)
    upstream(_ok(r), "Subscriber")
    r = client.put(f"/v1/wholesale/subscribers/{created['id']}", headers=h, json={"package": "webex_suite"})
    upstream(_ok(r), "Subscriber")
    r = client.delete(f"/v1/wholesale/subscribers/{created['id']}", headers=h)
    assert r.status_code == 204 and not r.content
    _error(client.get(f"/v1/wholesale/subscribers/{created['id']}", headers=h), 404, upstream)
    _error(client.post("/v1/wholesale/subscribers", headers=h, json={"customerId": world.ids["ca"]}), 400, upstream)

    subs = _ok(client.get("/v1/wholesale/subPartners", headers=h))
    upstream(subs, "SubPartnersListResponse")
    assert [s["orgId"] for s in subs["items"]] == [world.ids["pa1_org"]]


def test_wholesale_billing_reports(client, world, upstream):
    from datetime import UTC, datetime, timedelta

    h = world.auth("a_full")
    today = datetime.now(UTC).date()
    body = {"billingStartDate": (today - timedelta(days=9)).isoformat(),
            "billingEndDate": (today - timedelta(days=1)).isoformat(), "type": "CUSTOMER"}
    created = _ok(client.post("/v1/wholesale/billing/reports", headers=h, json=body))
    upstream(created, "ReportId")
    assert (created["billingStartDate"], created["type"], created["internal"]) == (body["billingStartDate"],
                                                                                   "CUSTOMER", False)
    second = _ok(client.post("/v1/wholesale/billing/reports", headers=h, json={**body, "type": "USER"}))
    upstream(_ok(client.get("/v1/wholesale/billing/reports", headers=h)), "WholesaleBillingReportsListResponse")
    r = client.get("/v1/wholesale/billing/reports", headers=h, params={"max": 1})
    upstream(_ok(r), "WholesaleBillingReportsListResponse")
    _next(r)
    report = _ok(client.get(f"/v1/wholesale/billing/reports/{created['id']}", headers=h))
    upstream(report, "Report")
    r = client.delete(f"/v1/wholesale/billing/reports/{second['id']}", headers=h)
    assert r.status_code == 204 and not r.content
    _error(client.get(f"/v1/wholesale/billing/reports/{second['id']}", headers=h), 404, upstream)
    _error(client.post("/v1/wholesale/billing/reports", headers=h, json={**body, "billingEndDate": "tomorrow"}),
           400, upstream)


def test_people_and_licences(client, world, upstream):
    h = world.auth("a_full")
    org = world.ids["ca_org"]
    r = client.get("/v1/people", headers=h, params={"orgId": org, "max": 1})
    upstream(_ok(r), "PersonCollectionResponse")
    second = client.get(_next(r), headers=h)
    upstream(_ok(second), "PersonCollectionResponse")
    listed = _ok(client.get("/v1/people", headers=h, params={"orgId": org, "id": f"{world.ids['ua']},bm9wZQ"}))
    upstream(listed, "PersonCollectionResponse")
    assert listed["notFoundIds"] == ["bm9wZQ"]
    upstream(_ok(client.get(f"/v1/people/{world.ids['ua']}", headers=h, params={"callingData": "true"})), "Person")

    licences = _ok(client.get("/v1/licenses", headers=h, params={"orgId": org}))
    upstream(licences, "LicenseCollectionResponse")
    for lic in licences["items"]:
        assert {"id", "name", "totalUnits", "consumedUnits"} <= lic.keys()  # wxc-sdk requires these (§14)
    meetings = next(lic for lic in licences["items"] if lic.get("package") == "webex_meetings")
    r = client.get(f"/v1/licenses/{meetings['id']}", headers=h, params={"includeAssignedTo": "user", "limit": 1})
    one = _ok(r)
    upstream(one, "LicensewithUsers")
    assert one["consumedUnits"] == 1 and len(one["users"]) == 1

    r = client.post("/v1/people", headers=h, params={"orgId": org}, json={
        "emails": ["uusi@asiakas.example"], "firstName": "Uusi", "lastName": "Käyttäjä",
        "licenses": [meetings["id"]]})
    person = _ok(r, 200)
    upstream(person, "Person")
    r = client.put(f"/v1/people/{person['id']}", headers=h, json={
        "emails": person["emails"], "displayName": "Uusi K.", "licenses": person["licenses"]})
    upstream(_ok(r), "Person")
    r = client.delete(f"/v1/people/{person['id']}", headers=h)
    assert r.status_code == 204 and not r.content
    _error(client.get(f"/v1/people/{person['id']}", headers=h), 404, upstream)
    _error(client.post("/v1/people", headers=h, params={"orgId": org},
                       json={"emails": ["matti.meikalainen@asiakas.example"], "firstName": "M"}), 409, upstream)

    r = client.patch("/v1/licenses/users", headers=h, json={
        "orgId": org, "personId": world.ids["um"], "licenses": [{"id": "bm9wZQ", "operation": "add"}]})
    assert r.status_code == 400
    upstream(r.json(), "LicenseError")
    _error(r, 400, upstream)


def test_organizations_and_locations(client, world, upstream):
    h = world.auth("a_full")
    orgs = _ok(client.get("/v1/organizations", headers=h))
    upstream(orgs, "OrganizationCollectionResponse")
    for o in orgs["items"]:
        assert {"id", "displayName", "created"} <= o.keys()  # wxc-sdk requires these (§14)
    upstream(_ok(client.get(f"/v1/organizations/{world.ids['ca_org']}", headers=h)), "Organization")
    upstream(_ok(client.get(f"/v1/organizations/{world.ids['pa_org']}", headers=h)), "Organization")
    _error(client.get(f"/v1/organizations/{world.ids['cb_org']}", headers=h), 404, upstream)

    org = world.ids["ca_org"]
    upstream(_ok(client.get("/v1/locations", headers=h, params={"orgId": org})), LOCATIONS)
    r = client.post("/v1/locations", headers=h, params={"orgId": org}, json={
        "name": "Turku", "timeZone": "Europe/Helsinki", "preferredLanguage": "fi_fi",
        "announcementLanguage": "fi_fi", "latitude": "60.45", "longitude": "22.27",
        "address": {"address1": "Aurakatu 1", "city": "Turku", "state": "Varsinais-Suomi",
                    "postalCode": "20100", "country": "FI"}})
    created = _ok(r, 201)
    upstream(created, upstream.spec["paths"]["/locations"]["post"]["responses"]["201"]["content"][
        "application/json"]["schema"])
    r = client.get("/v1/locations", headers=h, params={"orgId": org, "max": 1})
    upstream(_ok(r), LOCATIONS)
    upstream(_ok(client.get(_next(r), headers=h)), LOCATIONS)
    r = client.put(f"/v1/locations/{created['id']}", headers=h, params={"orgId": org}, json={"name": "Turku 2"})
    assert r.status_code == 204 and not r.content
    one = _ok(client.get(f"/v1/locations/{created['id']}", headers=h, params={"orgId": org}))
    upstream(one, LOCATION)
    assert one["name"] == "Turku 2" and one["latitude"] == "60.45"
    _error(client.post("/v1/locations", headers=h, params={"orgId": org}, json={"name": "x"}), 400, upstream)
    r = client.delete(f"/v1/locations/{created['id']}", headers=h, params={"orgId": org})
    assert r.status_code == 204 and not r.content
    _error(client.get(f"/v1/locations/{created['id']}", headers=h, params={"orgId": org}), 404, upstream)


def test_unparseable_body_and_wrong_method_are_contract_errors(client, world, upstream):
    h = {**world.auth("a_full"), "Content-Type": "application/json"}
    _error(client.post("/v1/wholesale/customers", headers=h, content=b"{not json"), 400, upstream)
    _error(client.patch("/v1/wholesale/customers", headers=h, content=b"{}"), 405, upstream)
    _error(client.get("/v1/nothing-here", headers=h), 404, upstream)


def test_next_links_use_the_public_url(app, client, world):
    """Behind a proxy (`public_url` set) every `Link: rel="next"` must point at the public base, not the host the
    request reached, or the SDKs that follow it as given would leave the proxy."""
    app.state.settings = app.state.settings.model_copy(update={"public_url": "http://hub.example:8443/"})
    h = world.auth("a_full")
    org = world.ids["ca_org"]
    licences = client.get("/v1/licenses", headers=h, params={"orgId": org}).json()["items"]
    meetings = next(lic for lic in licences if lic.get("package") == "webex_meetings")
    client.post("/v1/people", headers=h, params={"orgId": org}, json={
        "emails": ["toinen@asiakas.example"], "firstName": "Toinen", "licenses": [meetings["id"]]})
    for path, params in [("/v1/people", {"orgId": org, "max": 1}),
                         ("/v1/wholesale/customers", {"max": 1}),
                         ("/v1/wholesale/subscribers", {"max": 1}),
                         (f"/v1/licenses/{meetings['id']}", {"includeAssignedTo": "user", "limit": 1})]:
        r = client.get(path, headers=h, params=params)
        assert r.status_code == 200, r.text
        assert _next(r).startswith(f"http://hub.example:8443{path}?"), (path, r.headers["link"])
