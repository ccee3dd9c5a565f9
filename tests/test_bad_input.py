"""Bad input never breaks the API: every malformed request gets a 4xx in the upstream error shape
(``{message, errors:[{description, errorCode}], trackingId}``, application/json) and writes nothing."""
from __future__ import annotations

import base64
import json
import uuid

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api_checks import assert_error_shape, diff, table_snapshot
from rtmhub import ids
from rtmhub.app import create_app
from rtmhub.jobs import runner
from rtmhub.settings import Settings


@pytest.fixture
def app(db):
    """No in-process task worker: nothing may change the tables between two snapshots but the request."""
    return create_app(Settings(database_url=db.url, inprocess_worker=False), database=db)


@pytest.fixture
def client(app):
    """Server errors come back as responses (500), not raised, so one run lists every misbehaving request."""
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as c:
        yield c


def _rand(kind: str) -> str:
    return ids.encode(kind, str(uuid.uuid4()))


def _customer(w, **over) -> dict:
    body = {
        "provisioningId": w.raw["ta"], "packages": ["webex_calling", "webex_meetings"], "externalId": "BAD-1",
        "address": {"addressLine1": "Mannerheimintie 1", "city": "Helsinki", "country": "FI"},
        "customerInfo": {"name": "Huono Oy", "primaryEmail": "admin@huono.example"},
        "provisioningParameters": {"calling": {"location": {
            "name": "HQ", "address": {"addressLine1": "Mannerheimintie 1", "city": "Helsinki", "country": "FI"},
            "timezone": "Europe/Helsinki", "language": "fi_fi"}}},
    }
    body.update(over)
    return body


def _location(**over) -> dict:
    body = {"name": "Uusi paikka", "timeZone": "Europe/Helsinki", "preferredLanguage": "fi_fi",
            "announcementLanguage": "fi_fi", "address": {"address1": "Katu 1", "city": "Espoo", "country": "FI"}}
    body.update(over)
    return body


def _cases(w) -> list[tuple[str, str, str, dict, int | None]]:
    """(label, method, url, request kwargs, expected status or None for 'any 4xx')."""
    org = {"orgId": w.ids["ca_org"]}
    ua, loc, ca, cb = w.ids["ua"], w.ids["loc_ca"], w.ids["ca"], w.ids["cb"]
    sub = {"customerId": ca, "email": "uusi.tilaaja@asiakas.example", "package": "webex_meetings"}
    person = {"emails": ["uusi@asiakas.example"], "firstName": "Uusi", "lastName": "Henkilö"}
    json_headers = {"Content-Type": "application/json"}
    wrong_type = base64.urlsafe_b64encode(f"ciscospark://us/LOCATION/{uuid.uuid4()}".encode()).decode().rstrip("=")
    cases: list[tuple[str, str, str, dict, int | None]] = []

    def add(label, method, url, status=None, **kw):
        """``_says=``: a text the refusal's message must contain (the case is refused for its own reason)."""
        cases.append((label, method, url, kw, status))

    # malformed JSON, empty bodies, bodies of the wrong JSON kind
    for method, url, params in [("POST", "/v1/people", org), ("POST", "/v1/wholesale/customers", {}),
                                ("POST", "/v1/wholesale/subscribers", {}), ("POST", "/v1/locations", org),
                                ("PUT", f"/v1/people/{ua}", {}), ("PUT", f"/v1/wholesale/customers/{ca}", {}),
                                ("PUT", f"/v1/locations/{loc}", {}), ("PATCH", "/v1/licenses/users", {}),
                                ("POST", "/v1/wholesale/customers/validate", {}),
                                ("POST", "/v1/wholesale/subscribers/validate", {})]:
        add(f"malformed JSON {method} {url}", method, url, 400, params=params, content=b'{"emails": [',
            headers=json_headers)
        add(f"truncated JSON {method} {url}", method, url, 400, params=params, content=b'{"a": 1', headers=json_headers)
        add(f"not UTF-8 {method} {url}", method, url, 400, params=params, content=b'{"a": "\xff\xfe"}',
            headers=json_headers)
        add(f"empty body {method} {url}", method, url, 400, params=params)
        add(f"empty JSON body {method} {url}", method, url, 400, params=params, content=b"", headers=json_headers)
        add(f"JSON array {method} {url}", method, url, 400, params=params, json=[person])
        add(f"JSON string {method} {url}", method, url, 400, params=params, json="webex_calling")
        add(f"JSON null {method} {url}", method, url, 400, params=params, json=None, content=b"null",
            headers=json_headers)
        add(f"JSON number {method} {url}", method, url, 400, params=params, content=b"12", headers=json_headers)
        add(f"form-encoded {method} {url}", method, url, None, params=params, data={"emails": "x@y.example"})
    # wrong JSON types
    add("packages as a string", "POST", "/v1/wholesale/customers", 400, json=_customer(w, packages="webex_calling"))
    add("packages with a number", "POST", "/v1/wholesale/customers", 400, json=_customer(w, packages=[1]))
    add("externalId false", "POST", "/v1/wholesale/customers", 400, json=_customer(w, externalId=False))
    add("address a list", "POST", "/v1/wholesale/customers", 400, json=_customer(w, address=["Katu 1"]))
    add("limit false", "POST", "/v1/wholesale/customers", 400, json=_customer(
        w, provisioningParameters={"packages": {"limits": {"webex_meetings": False}}}, packages=["webex_meetings"]))
    add("limit a string", "POST", "/v1/wholesale/customers", 400, json=_customer(
        w, provisioningParameters={"packages": {"limits": {"webex_meetings": "5"}}}, packages=["webex_meetings"]))
    add("limit negative", "POST", "/v1/wholesale/customers", 400, json=_customer(
        w, provisioningParameters={"packages": {"limits": {"webex_meetings": -1}}}, packages=["webex_meetings"]))
    add("limit fractional", "POST", "/v1/wholesale/customers", 400, json=_customer(
        w, provisioningParameters={"packages": {"limits": {"webex_meetings": 2.5}}}, packages=["webex_meetings"]))
    add("limit huge", "POST", "/v1/wholesale/customers", 400, json=_customer(
        w, provisioningParameters={"packages": {"limits": {"webex_meetings": 1e308}}}, packages=["webex_meetings"]))
    add("limit infinite", "POST", "/v1/wholesale/customers", 400, content=json.dumps(_customer(
        w, provisioningParameters={"packages": {"limits": {"webex_meetings": 1}}}, packages=["webex_meetings"])
    ).replace('"webex_meetings": 1', '"webex_meetings": Infinity').encode(), headers=json_headers)
    add("firstName false", "POST", "/v1/people", 400, params=org, json={**person, "firstName": False})
    add("emails a string", "POST", "/v1/people", 400, params=org, json={**person, "emails": "uusi@asiakas.example"})
    add("emails with a number", "POST", "/v1/people", 400, params=org, json={**person, "emails": [5]})
    add("extension a number", "POST", "/v1/people", 400, params=org, json={**person, "extension": 1234})
    add("phoneNumbers an object", "POST", "/v1/people", 400, params=org, json={**person, "phoneNumbers": {"v": 1}})
    add("licenses a string", "PUT", f"/v1/people/{ua}", 400, json={"licenses": "webex_calling"})
    add("subscriber package false", "POST", "/v1/wholesale/subscribers", 400, json={**sub, "package": False})
    add("subscriber packages a string", "POST", "/v1/wholesale/subscribers", 400,
        json={**sub, "package": None, "packages": "webex_meetings"})
    add("subscriber email a number", "POST", "/v1/wholesale/subscribers", 400, json={**sub, "email": 12})
    add("location name false", "POST", "/v1/locations", 400, params=org, json=_location(name=False))
    add("location address a string", "POST", "/v1/locations", 400, params=org, json=_location(address="Katu 1"))
    add("licence operation unknown", "PATCH", "/v1/licenses/users", 400,
        json={"personId": ua, "orgId": w.ids["ca_org"], "licenses": [{"id": _rand("LICENSE"), "operation": "x"}]})
    # bad query parameters
    for url in ("/v1/people", "/v1/wholesale/customers", "/v1/wholesale/subscribers", "/v1/locations",
                "/v1/wholesale/subPartners"):
        add(f"max=abc {url}", "GET", url, 400, params={**org, "max": "abc"})
        add(f"max=0 {url}", "GET", url, 400, params={**org, "max": "0"})
        add(f"max huge {url}", "GET", url, 400, params={**org, "max": "9" * 40})
        add(f"offset=-1 {url}", "GET", url, 400, params={**org, "offset": "-1"})
        add(f"offset=1.5 {url}", "GET", url, 400, params={**org, "offset": "1.5"})
    add("callingData=maybe", "GET", "/v1/people", 400, params={**org, "callingData": "maybe"})
    add("status unknown", "GET", "/v1/wholesale/subscribers", 400, params={"status": "whatever"})
    add("sortOrder unknown", "GET", "/v1/wholesale/subscribers", 400, params={"sortOrder": "sideways"})
    add("after not a time", "GET", "/v1/wholesale/subscribers", 400, params={"after": "yesterday"})
    add("after out of range", "GET", "/v1/wholesale/subscribers", 400, params={"after": "9" * 30})
    add("lastStatusChange huge epoch", "GET", "/v1/wholesale/subscribers", 400,
        params={"lastStatusChange": "99999999999999999"})
    add("orgId too long", "GET", "/v1/people", 400, params={"orgId": "A" * 5000})
    add("includeAssignedTo unknown", "GET", f"/v1/licenses/{_rand('LICENSE')}", None, params={"includeAssignedTo": "x"})
    add("licence next not a number", "GET", f"/v1/licenses/{_rand('LICENSE')}", None, params={"next": "abc"})
    add("provisioningState unknown", "GET", "/v1/wholesale/subPartners", 400, params={"provisioningState": "x"})
    # unknown package, bad e-mail, numbers, unknown ids
    add("unknown customer package", "POST", "/v1/wholesale/customers", 400, json=_customer(w, packages=["webex_nope"]))
    add("customer package twice", "POST", "/v1/wholesale/customers", 400,
        json=_customer(w, packages=["webex_meetings", "webex_meetings"]))
    add("no packages", "POST", "/v1/wholesale/customers", 400, json=_customer(w, packages=[]))
    add("unknown template", "POST", "/v1/wholesale/customers", 400, json=_customer(w, provisioningId="nope"))
    add("bad customer e-mail", "POST", "/v1/wholesale/customers", 400,
        json=_customer(w, customerInfo={"name": "X", "primaryEmail": "not-an-email"}))
    add("bad country", "POST", "/v1/wholesale/customers", 400,
        json=_customer(w, address={"addressLine1": "A", "city": "B", "country": "fi"}))
    add("unknown subscriber package", "POST", "/v1/wholesale/subscribers", 400, json={**sub, "package": "webex_nope"})
    add("customer-only package to a user", "POST", "/v1/wholesale/subscribers", 400,
        json={**sub, "package": "attendant_console"})
    add("two packages", "POST", "/v1/wholesale/subscribers", 400,
        json={**sub, "package": None, "packages": ["webex_meetings", "webex_calling"]})
    for bad in ("not-an-email", "a@@asiakas.example", "@asiakas.example", "a@", "x" * 300 + "@a.example",
                "ä ö@asiakas.example", "a\x00b@asiakas.example"):
        add(f"bad e-mail {bad[:20]!r} (people)", "POST", "/v1/people", 400, params=org, json={**person, "emails": [bad]})
        add(f"bad e-mail {bad[:20]!r} (subscriber)", "POST", "/v1/wholesale/subscribers", 400,
            json={**sub, "email": bad})
    add("bad e-mail (subscriber precheck)", "POST", "/v1/wholesale/subscribers/validate", 400,
        json={"email": "not-an-email"})
    calling_sub = {**sub, "package": "webex_calling",
                   "provisioningParameters": {"firstName": "A", "lastName": "B", "extension": "4321",
                                              "locationId": loc}}
    for number in ("0401234567", "358401234567", "+358", "+1234567890123456789", "+358 40 abc", "++358401234567"):
        add(f"non-E.164 {number!r} (subscriber)", "POST", "/v1/wholesale/subscribers", 400,
            json={**calling_sub, "provisioningParameters": {**calling_sub["provisioningParameters"],
                                                            "primaryPhoneNumber": number}})
        add(f"non-E.164 {number!r} (people)", "PUT", f"/v1/people/{ua}", 400,
            json={"phoneNumbers": [{"type": "work", "value": number}]})
    add("bad extension", "PUT", f"/v1/people/{ua}", 400, json={"extension": "12ab"})
    # Refused for THIS reason (the customer never bought cx_essentials, a calling package: the calling fields are
    # all given and valid), not for another one on the way.
    add("package not bought", "POST", "/v1/wholesale/subscribers", 400,
        json={**calling_sub, "package": "cx_essentials"},
        _says="The customer has no Customer Assist package (cx_essentials)")
    add("calling without number", "POST", "/v1/wholesale/subscribers", 400,
        json={**calling_sub, "provisioningParameters": {"firstName": "A", "lastName": "B", "locationId": loc}})
    add("unknown location (subscriber)", "POST", "/v1/wholesale/subscribers", 400,
        json={**calling_sub, "provisioningParameters": {**calling_sub["provisioningParameters"],
                                                        "locationId": _rand("LOCATION")}})
    add("another customer's location", "POST", "/v1/wholesale/subscribers", 400,
        json={**calling_sub, "provisioningParameters": {**calling_sub["provisioningParameters"],
                                                        "locationId": w.ids["loc_ca1"]}})
    add("unknown location (people)", "PUT", f"/v1/people/{ua}", 400, json={"locationId": _rand("LOCATION")})
    add("unknown licence (people)", "PUT", f"/v1/people/{ua}", 400, json={"licenses": [_rand("LICENSE")]})
    add("unknown customer (subscriber)", "POST", "/v1/wholesale/subscribers", 404,
        json={**sub, "customerId": _rand("CUSTOMER")})
    add("unknown customer (subscriber precheck)", "POST", "/v1/wholesale/subscribers/validate", 404,
        json={**sub, "customerId": _rand("CUSTOMER")})
    add("unknown org (people)", "POST", "/v1/people", 404, params={"orgId": _rand("ORGANIZATION")}, json=person)
    add("unknown org (location)", "POST", "/v1/locations", 404, params={"orgId": _rand("ORGANIZATION")},
        json=_location())
    add("no org (people)", "POST", "/v1/people", 400, json=person)
    add("unknown sub-partner", "POST", "/v1/wholesale/customers", 404,
        params={"onBehalfOfSubPartnerOrgId": _rand("ORGANIZATION")}, json=_customer(w))
    add("unknown customer (PUT)", "PUT", f"/v1/wholesale/customers/{_rand('CUSTOMER')}", 404,
        json={"packages": ["webex_meetings"]})
    # duplicates and allocations (ca's webex_meetings is limited to what is used, see the test)
    add("duplicate e-mail (people)", "POST", "/v1/people", 409, params=org,
        json={**person, "emails": ["matti.meikalainen@asiakas.example"]})
    add("duplicate e-mail other case (people)", "POST", "/v1/people", 409, params=org,
        json={**person, "emails": ["MATTI.Meikalainen@Asiakas.Example"]})
    add("duplicate e-mail in another customer", "POST", "/v1/people", 409, params=org,
        json={**person, "emails": ["sven@kund.example"]})
    add("duplicate e-mail (subscriber)", "POST", "/v1/wholesale/subscribers", 409,
        json={**sub, "email": "sven@kund.example"})
    add("duplicate e-mail (people PUT)", "PUT", f"/v1/people/{ua}", 409, json={"emails": ["sven@kund.example"]})
    add("duplicate phone number", "POST", "/v1/wholesale/subscribers", 409,
        json={**calling_sub, "provisioningParameters": {**calling_sub["provisioningParameters"],
                                                        "primaryPhoneNumber": "+358912345601"}})
    add("duplicate extension", "POST", "/v1/wholesale/subscribers", 409,
        json={**calling_sub, "provisioningParameters": {**calling_sub["provisioningParameters"], "extension": "1001"}})
    add("duplicate externalId", "POST", "/v1/wholesale/customers", 409, json=_customer(w, externalId="A-CUST-1"))
    add("duplicate location name", "POST", "/v1/locations", 409, params=org, json=_location(name="helsinki hq"))
    add("over-allocation (subscriber)", "POST", "/v1/wholesale/subscribers", 409, json=sub)
    add("over-allocation (people)", "POST", "/v1/people", 409, params=org,
        json={**person, "licenses": [w.ids["lic_meetings"]]})
    add("limit below use", "PUT", f"/v1/wholesale/customers/{ca}", 409, json={
        "packages": ["webex_calling", "webex_meetings", "webex_suite", "webex_voice"],
        "provisioningParameters": {"packages": {"limits": {"webex_meetings": 0}}}})
    add("remove a package in use", "PUT", f"/v1/wholesale/customers/{ca}", 409, json={"packages": ["webex_meetings"]})
    add("delete a location in use", "DELETE", f"/v1/locations/{loc}", 409)
    # garbage ids
    garbage = ["x" * 5000, "!!!***", "%00", "%F0%9F%98%80", wrong_type, "Y2lzY29zcGFyazovL3VzL1BFT1BMRS8",
               base64.urlsafe_b64encode(b"ciscospark://us/PEOPLE/not-a-uuid").decode(),
               base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(), "." * 3, "%2e%2e", str(uuid.uuid4()).upper() + "Z"]
    for g in garbage:
        for method, url, body in [("GET", "/v1/people/{}", None), ("PUT", "/v1/people/{}", {"title": "x"}),
                                  ("DELETE", "/v1/people/{}", None), ("GET", "/v1/wholesale/customers/{}", None),
                                  ("PUT", "/v1/wholesale/customers/{}", {"packages": ["webex_meetings"]}),
                                  ("DELETE", "/v1/wholesale/customers/{}", None),
                                  ("GET", "/v1/wholesale/subscribers/{}", None),
                                  ("PUT", "/v1/wholesale/subscribers/{}", {"package": "webex_meetings"}),
                                  ("DELETE", "/v1/wholesale/subscribers/{}", None),
                                  ("GET", "/v1/locations/{}", None), ("PUT", "/v1/locations/{}", {"notes": "x"}),
                                  ("DELETE", "/v1/locations/{}", None), ("GET", "/v1/licenses/{}", None),
                                  ("GET", "/v1/organizations/{}", None)]:
            add(f"garbage id {g[:16]!r} {method} {url}", method, url.format(g), None, json=body)
        for url in ("/v1/people", "/v1/locations", "/v1/licenses", "/v1/people/" + ua):
            add(f"garbage orgId {g[:16]!r} {url}", "GET", url, None, params={"orgId": g})
        add(f"garbage onBehalfOf {g[:16]!r}", "GET", "/v1/wholesale/customers", None,
            params={"onBehalfOfSubPartnerOrgId": g})
    add("another kind of id as person", "GET", f"/v1/people/{w.ids['sa']}", 404)
    add("customer id as org", "GET", f"/v1/organizations/{ca}", 404)
    add("org id as customer", "GET", f"/v1/wholesale/customers/{w.ids['ca_org']}", 404)
    add("other partner's customer id as org", "POST", "/v1/people", 404, params={"orgId": cb}, json=person)
    # unicode, emoji and NUL in names and query parameters
    for name in ("Matti\x00", "\x00", "Ma\x07tti", "Matti\x1b[31m", "Matti<script>", "Matti/Meikä", "x" * 65):
        add(f"bad first name {name[:12]!r}", "POST", "/v1/people", 400, params=org, json={**person, "firstName": name})
    add("NUL in display name", "POST", "/v1/people", 400, params=org, json={**person, "displayName": "A\x00B"})
    add("NUL in title", "PUT", f"/v1/people/{ua}", 400, json={"title": "Boss\x00"})
    add("NUL in location name", "POST", "/v1/locations", 400, params=org, json=_location(name="Paikka\x00"))
    add("NUL in location notes", "PUT", f"/v1/locations/{loc}", 400, json={"notes": "\x00"})
    add("NUL in customer name", "POST", "/v1/wholesale/customers", 400,
        json=_customer(w, customerInfo={"name": "Huono\x00 Oy", "primaryEmail": "admin@huono.example"}))
    add("NUL in externalId", "POST", "/v1/wholesale/customers", 400, json=_customer(w, externalId="BAD\x00"))
    add("NUL in address", "POST", "/v1/wholesale/customers", 400,
        json=_customer(w, address={"addressLine1": "Katu\x00 1", "city": "Helsinki", "country": "FI"}))
    add("NUL in extension", "POST", "/v1/wholesale/subscribers", 400,
        json={**calling_sub, "provisioningParameters": {**calling_sub["provisioningParameters"], "extension": "12\x00"}})
    add("NUL in customer update externalId", "PUT", f"/v1/wholesale/customers/{ca}", 400,
        json={"packages": ["webex_calling", "webex_meetings", "webex_suite", "webex_voice"], "externalId": "X\x00"})
    add("lone surrogate in name", "POST", "/v1/people", 400, params=org, headers=json_headers,
        content=json.dumps({**person, "firstName": "@@"}).replace("@@", "\\ud800").encode())
    def surrogate(body: dict) -> bytes:
        return json.dumps(body).replace("@@", "\\ud800").encode()

    add("lone surrogate in location name", "POST", "/v1/locations", 400, params=org, headers=json_headers,
        content=surrogate(_location(name="Paikka @@")))
    add("lone surrogate in title", "PUT", f"/v1/people/{ua}", 400, headers=json_headers,
        content=surrogate({"title": "@@"}))
    add("lone surrogate in externalId", "POST", "/v1/wholesale/customers", 400, headers=json_headers,
        content=surrogate(_customer(w, externalId="X@@")))
    add("lone surrogate in customer name", "POST", "/v1/wholesale/customers", 400, headers=json_headers,
        content=surrogate(_customer(w, customerInfo={"name": "@@ Oy", "primaryEmail": "admin@huono.example"})))
    add("lone surrogate in subscriber email", "POST", "/v1/wholesale/subscribers", 400, headers=json_headers,
        content=surrogate({**sub, "email": "@@x@asiakas.example"}))
    for raw in ("%ED%A0%80", "%FF%FE", "%C0%80"):
        for url, key in [("/v1/people", "displayName"), ("/v1/wholesale/customers", "externalId"),
                         ("/v1/locations", "name"), ("/v1/wholesale/subscribers", "email")]:
            add(f"invalid UTF-8 {raw} in {key} {url}", "GET", f"{url}?orgId={w.ids['ca_org']}&{key}={raw}", -1)
    for q in ("\x00", "a\x00b", "%", "_", "\\", "😀" * 300, "\ud7ff\U0010ffff"):
        for url, key in [("/v1/people", "displayName"), ("/v1/people", "email"), ("/v1/people", "id"),
                         ("/v1/people", "locationId"), ("/v1/locations", "name"), ("/v1/locations", "id"),
                         ("/v1/wholesale/customers", "externalId"), ("/v1/wholesale/customers", "orgId"),
                         ("/v1/wholesale/customers", "status"), ("/v1/wholesale/subscribers", "email"),
                         ("/v1/wholesale/subscribers", "externalCustomerId"),
                         ("/v1/wholesale/subscribers", "customerId"), ("/v1/wholesale/subscribers", "personId")]:
            # reads: refused or answered, never a 5xx; checked by the caller of _cases
            add(f"query {key}={q[:6]!r} {url}", "GET", url, -1, params={**org, key: q})
    return cases


def test_bad_input_is_refused_cleanly(world, client, db):
    w = world
    with db.unit_of_work() as s:
        from sqlalchemy import select

        from rtmhub.domain.customers.models import CustomerPackage
        w.ids["lic_meetings"] = ids.encode("LICENSE", s.scalar(select(CustomerPackage.id).where(
            CustomerPackage.customer_id == w.raw["ca"], CustomerPackage.package == "webex_meetings")))
    # ca's webex_meetings allocation down to what is in use, so one more is an over-allocation.
    resp = client.put(f"/v1/wholesale/customers/{w.ids['ca']}", headers=w.auth("a_full"), json={
        "packages": ["webex_calling", "webex_meetings", "webex_suite", "webex_voice"],
        "provisioningParameters": {"packages": {"limits": {"webex_meetings": 1}}}})
    assert resp.status_code == 202, resp.text
    before = table_snapshot(db)
    failures = []
    cases = _cases(w)
    for label, method, url, kwargs, status in cases:
        try:
            says = kwargs.pop("_says", None)
            resp = client.request(method, url, headers={**w.auth("a_full"), **kwargs.pop("headers", {})}, **kwargs)
            if status == -1:  # a read that may succeed
                assert resp.status_code < 500, f"{resp.status_code} {resp.text[:300]}"
                assert resp.headers["content-type"].startswith("application/json"), resp.headers["content-type"]
                if resp.status_code >= 400:
                    assert_error_shape(resp, None, label)
                continue
            body = assert_error_shape(resp, status, label)
            assert says is None or says in body["message"], f"{label}: refused for another reason: {body['message']}"
            after = table_snapshot(db)
            if after != before:
                before, was = after, before  # report this case only, not every later one
                raise AssertionError(f"{resp.status_code}, wrote: {diff(was, after)[:300]}")
        except AssertionError as exc:
            failures.append(f"{label}: {str(exc).splitlines()[0][:400]}")
    assert not failures, f"{len(failures)} of {len(cases)} bad requests misbehaved:\n" + "\n".join(failures)


def test_oversized_bodies_get_413(world, client, db):
    before = table_snapshot(db)
    big = {"emails": ["iso@asiakas.example"], "firstName": "Iso", "title": "x" * (10 * 1024 * 1024)}
    resp = client.post("/v1/people", params={"orgId": world.ids["ca_org"]}, json=big, headers=world.auth("a_full"))
    assert_error_shape(resp, 413, "10 MB JSON body")

    def chunks():
        yield b'{"emails": ["iso@asiakas.example"], "firstName": "Iso", "title": "'
        for _ in range(160):
            yield b"x" * 65536
        yield b'"}'

    resp = client.post("/v1/people", params={"orgId": world.ids["ca_org"]}, content=chunks(),
                       headers={**world.auth("a_full"), "Content-Type": "application/json"})
    assert_error_shape(resp, 413, "10 MB chunked body without Content-Length")
    resp = client.post("/v1/wholesale/customers", content=b"{}", headers={
        **world.auth("a_full"), "Content-Type": "application/json", "Content-Length": "99999999999999999999"})
    assert_error_shape(resp, 413, "absurd Content-Length")
    # Even without a token, a huge body is refused before anything else: 413, before the 401 a token-less
    # request gets (the body limit is the outermost layer, so nobody can make the server read 10 MB).
    resp = client.post("/v1/wholesale/subscribers", json=big)
    assert_error_shape(resp, 413, "10 MB body without a token")
    resp = client.post("/v1/wholesale/subscribers", json={"email": "x@y.example"})
    assert_error_shape(resp, 401, "a small body without a token")
    assert table_snapshot(db) == before


# --- fuzz ---------------------------------------------------------------------------------

FIELDS = ["emails", "displayName", "firstName", "lastName", "phoneNumbers", "extension", "locationId", "orgId",
          "licenses", "title", "timezone", "callerIdNumber", "customerId", "email", "package", "packages",
          "provisioningParameters", "provisioningId", "externalId", "address", "customerInfo", "name",
          "timeZone", "preferredLanguage", "announcementLanguage", "notes", "limits", "value", "type", "primary"]
json_scalars = st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70) | st.floats(allow_nan=False, allow_infinity=False) | st.text(
    max_size=30)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=5), max_leaves=12)
json_objects = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), json_values, max_size=8)
FUZZ_TARGETS = ["POST /v1/people", "POST /v1/wholesale/customers", "POST /v1/wholesale/subscribers",
                "POST /v1/locations", "PUT /v1/people/{ua}", "PUT /v1/wholesale/subscribers/{sa}"]


def test_fuzzed_json_bodies_never_break_the_api(world, client, db):
    w = world

    @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    @given(target=st.sampled_from(FUZZ_TARGETS), body=json_objects, with_org=st.booleans())
    def probe(target, body, with_org):
        method, path = target.split(" ")
        url = path.format(ua=w.ids["ua"], sa=w.ids["sa"])
        params = {"orgId": w.ids["ca_org"]} if with_org and "people" in url or "locations" in url else {}
        resp = client.request(method, url, params=params, json=body, headers=w.auth("a_full"))
        assert resp.status_code < 500, f"{target} {body!r}: {resp.status_code} {resp.text[:300]}"
        assert resp.headers["content-type"].startswith("application/json"), resp.headers["content-type"]
        if resp.status_code >= 400:
            assert_error_shape(resp, None, f"{target} {body!r}")

    probe()


# --- NUL in multipart bodies (finding 4), over real HTTP ------------------------------------------

CSV_OK = b"User ID/Email (Required),First Name\r\nuusi@asiakas.example,Uusi\r\n"


def _multipart(fields: list[tuple[bytes, bytes]], files: list[tuple[bytes, bytes, bytes]]) -> tuple[bytes, str]:
    """A multipart body built by hand: httpx would refuse (or encode) a NUL in a name."""
    boundary = b"rtmhubBoundary7MA4YWxk"
    out = bytearray()
    for name, value in fields:
        out += b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name + b'"\r\n\r\n' + value + b"\r\n"
    for name, filename, content in files:
        out += (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name + b'"; filename="' + filename
                + b'"\r\nContent-Type: text/csv\r\n\r\n' + content + b"\r\n")
    out += b"--" + boundary + b"--\r\n"
    return bytes(out), f"multipart/form-data; boundary={boundary.decode()}"


def test_nul_in_multipart_names_and_values_is_400(world, live_server, db):
    """NUL in a field name, field value or file name: 400 in the upstream shape, before sign-in too, and
    nothing stored. A NUL inside the CSV file itself is the CSV reader's: a clear file error (400)."""
    import httpx

    org = world.ids["ca_org"].encode()
    imports = {
        "NUL in a field value": ([(b"orgId", org), (b"mode", b"add\x00")], [(b"file", b"users.csv", CSV_OK)]),
        "NUL in a field name": ([(b"orgId", org), (b"mo\x00de", b"add")], [(b"file", b"users.csv", CSV_OK)]),
        "NUL in a file name": ([(b"orgId", org)], [(b"file", b"users\x00.csv", CSV_OK)]),
        "NUL in a file field name": ([(b"orgId", org)], [(b"fi\x00le", b"users.csv", CSV_OK)]),
    }
    before = table_snapshot(db)
    with httpx.Client(base_url=live_server.url, timeout=20) as http:
        for label, (fields, files) in imports.items():
            body, content_type = _multipart(fields, files)
            resp = http.post("/v1/userImports", content=body,
                             headers={**world.auth("a_full"), "Content-Type": content_type})
            assert_error_shape(resp, 400, label)
            assert "NUL" in resp.json()["message"], label
        for label, fields in {"sign-in: NUL in the e-mail": [(b"email", b"full@a.example\x00"), (b"password", b"x")],
                              "sign-in: NUL in a field name": [(b"em\x00ail", b"a"), (b"password", b"x")]}.items():
            body, content_type = _multipart(fields, [])
            resp = http.post("/signin", content=body, headers={"Content-Type": content_type})
            assert_error_shape(resp, 400, label)
        body, content_type = _multipart([], [(b"file", b"a\x00.csv", CSV_OK)])
        assert_error_shape(http.post("/signin", content=body, headers={"Content-Type": content_type}), 400,
                           "sign-in: NUL in a file name")
        assert table_snapshot(db) == before
        # NUL in the file content is the CSV reader's: the header is checked at upload, the rest when the task
        # runs, which then fails with a file error naming the line (no 500, no NUL stored anywhere).
        body, content_type = _multipart([(b"orgId", org)], [(b"file", b"users.csv", CSV_OK + b"x\x00@a.example,X\r\n")])
        auth = world.auth("a_full")
        resp = http.post("/v1/userImports", content=body, headers={**auth, "Content-Type": content_type})
        assert resp.status_code == 202, resp.text
        assert runner.run_pending(db, "test-worker")
        task = http.get(f"/v1/tasks/{resp.json()['id']}", headers=world.auth("a_full")).json()
        assert task["status"] == "failed" and task["message"].startswith("Line 3 contains NUL"), task
        # The scanner does not refuse what it must not: the same upload without NUL is accepted.
        body, content_type = _multipart([(b"orgId", org), (b"mode", b"add")], [(b"file", b"users.csv", CSV_OK)])
        resp = http.post("/v1/userImports", content=body, headers={**auth, "Content-Type": content_type})
        assert resp.status_code == 202, resp.text


# --- paging parameters are bounded before the database --------------------------------------------

def test_paging_parameters_are_bounded(world, client):
    """Every offset-like parameter of the API takes 0..10,000,000 and answers 400 beyond (20 digits were a 500
    on both databases); the pages clamp their page number instead."""
    auth = world.auth("a_full")
    org = {"orgId": world.ids["ca_org"]}
    licences = client.get("/v1/licenses", params=org, headers=auth).json()["items"]
    licence = f"/v1/licenses/{licences[0]['id']}"
    task = client.post("/v1/userImports", headers=auth, data=org,
                       files={"file": ("u.csv", CSV_OK, "text/csv")}).json()["id"]
    lists = [("/v1/people", org, "offset"), ("/v1/locations", org, "offset"), ("/v1/wholesale/customers", {}, "offset"),
             ("/v1/wholesale/subscribers", {}, "offset"), ("/v1/wholesale/subPartners", {}, "offset"),
             ("/v1/tasks", {}, "offset"), (f"/v1/tasks/{task}/rows", {}, "offset"),
             ("/v1/wholesale/billing/reports", {}, "offset"),
             (licence, {"includeAssignedTo": "user"}, "next")]
    for url, params, key in lists:
        for value in ("10000001", "9" * 20, "-1"):
            assert_error_shape(client.get(url, params={**params, key: value}, headers=auth), 400, f"{url} {key}={value}")
        resp = client.get(url, params={**params, key: "10000000"}, headers=auth)
        assert resp.status_code == 200, f"{url}: {resp.text}"
    for url, params, _ in lists[:-1]:
        for value in ("0", "9" * 20):
            assert_error_shape(client.get(url, params={**params, "max": value}, headers=auth), 400, f"{url} max={value}")


def test_page_numbers_are_clamped():
    from starlette.requests import Request

    from rtmhub.web.forms import MAX_PAGE, PAGE, page_args

    def page(value: str) -> int:
        return page_args(Request({"type": "http", "query_string": f"page={value}".encode(), "headers": []}))

    assert [page("3"), page("0"), page("-5"), page("x"), page("9" * 5000)] == [3, 1, 1, 1, MAX_PAGE]
    assert (MAX_PAGE - 1) * PAGE <= 10_000_000
