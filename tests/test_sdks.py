"""The REAL upstream clients (webexpythonsdk, wxc-sdk) against rtmhub served by uvicorn: only the base URL changes.

Each SDK talks to the `live_server` fixture (both databases). Endpoints the SDKs have no method for
(wholesale, webexpythonsdk locations) go through each client's raw session, as the reference §14 shows.
"""
from __future__ import annotations

import pytest

webexpythonsdk = pytest.importorskip("webexpythonsdk")
wxc_sdk = pytest.importorskip("wxc_sdk")

from webexpythonsdk import WebexAPI  # noqa: E402
from webexpythonsdk.exceptions import ApiError  # noqa: E402
from wxc_sdk import WebexSimpleApi  # noqa: E402
from wxc_sdk.locations import Location, LocationAddress  # noqa: E402
from wxc_sdk.people import Person  # noqa: E402
from wxc_sdk.rest import RestError  # noqa: E402

from rtmhub import ids  # noqa: E402

CUSTOMER_TEMPLATE = {
    "packages": ["webex_meetings"],
    "address": {"addressLine1": "Aleksanterinkatu 5", "city": "Helsinki", "country": "FI"},
    "customerInfo": {"language": "fi"},
}


@pytest.fixture
def pysdk(live_server, world) -> WebexAPI:
    return WebexAPI(access_token=world.tokens["a_full"], base_url=live_server.url + "/v1/",
                    wait_on_rate_limit=False)


@pytest.fixture
def wxc(live_server, world) -> WebexSimpleApi:
    api = WebexSimpleApi(tokens=world.tokens["a_full"])
    api.session.BASE = live_server.url + "/v1"
    return api


def _licence_ids(licences) -> dict[str, str]:
    """package → licence id, from the `package` addition of our licence body (falls back to the name)."""
    out = {}
    for lic in licences:
        data = getattr(lic, "_json_data", None) or lic.model_dump(by_alias=True)
        out[data.get("package") or data["name"]] = data["id"]
    return out


def _new_customer(external_id: str, template: str) -> dict:
    return {**CUSTOMER_TEMPLATE, "provisioningId": template, "externalId": external_id,
            "customerInfo": {"name": f"Customer {external_id}", "primaryEmail": f"admin@{external_id.lower()}.example",
                             "language": "fi"}}


# --- webexpythonsdk ------------------------------------------------------------------------

def test_webexpythonsdk_people_licences_orgs(pysdk, world):
    org = world.ids["ca_org"]
    licences = list(pysdk.licenses.list(orgId=org))
    by_package = _licence_ids(licences)
    calling = next(l for l in licences if l.id == by_package["webex_calling"])
    meetings = next(l for l in licences if l.id == by_package["webex_meetings"])
    # World: 1 calling user, 1 meetings user; allocations 20 and 50.
    assert (calling.totalUnits, calling.consumedUnits) == (20, 1)
    assert (meetings.totalUnits, meetings.consumedUnits) == (50, 1)
    assert pysdk.licenses.get(calling.id).name == calling.name

    people = list(pysdk.people.list(orgId=org))
    assert {p.emails[0] for p in people} == {"matti.meikalainen@asiakas.example", "maija.meikalainen@asiakas.example"}
    # max=1 makes the SDK follow the absolute Link header.
    assert len(list(pysdk.people.list(orgId=org, max=1))) == 2
    matti = pysdk.people.get(world.ids["ua"])
    assert matti.firstName == "Matti" and matti.orgId == org

    new = pysdk.people.create(["liisa@asiakas.example"], firstName="Liisa", lastName="Laine", orgId=org,
                              licenses=[meetings.id])
    assert new.id and new.emails == ["liisa@asiakas.example"] and meetings.id in new.licenses
    caller = pysdk.people.create(["pekka@asiakas.example"], firstName="Pekka", lastName="Puu", orgId=org,
                                 extension="1234", locationId=world.ids["loc_ca"], licenses=[calling.id])
    assert caller.extension == "1234" and caller.locationId == world.ids["loc_ca"]
    assert calling.id in caller.licenses
    after = _licence_ids(pysdk.licenses.list(orgId=org))
    assert pysdk.licenses.get(after["webex_calling"]).consumedUnits == 2
    assert pysdk.licenses.get(after["webex_meetings"]).consumedUnits == 2

    updated = pysdk.people.update(new.id, emails=new.emails, displayName="Liisa L.", firstName="Liisa",
                                  lastName="Laine", licenses=new.licenses)
    assert updated.displayName == "Liisa L."
    pysdk.people.delete(new.id)
    with pytest.raises(ApiError) as err:
        pysdk.people.get(new.id)
    assert err.value.status_code == 404
    assert "not found" in err.value.message.lower()
    assert err.value.tracking_id and err.value.tracking_id.startswith("RTMHUB_")

    orgs = list(pysdk.organizations.list())
    assert {world.ids["pa_org"], world.ids["ca_org"], world.ids["ca1_org"]} <= {o.id for o in orgs}
    assert world.ids["cb_org"] not in {o.id for o in orgs}
    assert pysdk.organizations.get(org).displayName == "Asiakas Oy"

    locations = list(pysdk._session.get_items("locations", params={"orgId": org}))
    assert [loc["id"] for loc in locations] == [world.ids["loc_ca"]]


def test_webexpythonsdk_wholesale(pysdk, world):
    s = pysdk._session
    created = []
    for n in range(3):
        body = s.post("wholesale/customers", json=_new_customer(f"PY-{n}", world.raw["ta"]), erc=202)
        assert body["url"].startswith("http://127.0.0.1:") and "/v1/wholesale/customers/" in body["url"]
        created.append(body["url"].rsplit("/", 1)[1])
    # 2 world customers + 3 new ones, one per page: the SDK follows `Link` four times.
    items = list(s.get_items("wholesale/customers", params={"max": 1}))
    assert len(items) == 5 and len({c["id"] for c in items}) == 5
    assert set(created) <= {c["id"] for c in items}
    one = s.get(f"wholesale/customers/{created[0]}")
    assert one["externalId"] == "PY-0" and one["status"] in ("provisioned", "provisioning")
    s.put(f"wholesale/customers/{created[0]}", json={"packages": ["webex_meetings"], "externalId": "PY-0b"}, erc=202)
    assert s.get(f"wholesale/customers/{created[0]}")["externalId"] == "PY-0b"
    s.delete(f"wholesale/customers/{created[2]}", erc=202)

    sub = s.post("wholesale/subscribers", json={
        "customerId": world.ids["ca"], "email": "olli@asiakas.example", "package": "webex_meetings",
        "provisioningParameters": {"firstName": "Olli", "lastName": "Ojala"}})
    assert sub["status"] == "provisioned" and sub["packages"] == ["webex_meetings"]
    assert s.get(f"wholesale/subscribers/{sub['id']}")["email"] == "olli@asiakas.example"
    moved = s.put(f"wholesale/subscribers/{sub['id']}", json={
        "packages": ["webex_calling"],
        "provisioningParameters": {"extension": "1500", "locationId": world.ids["loc_ca"]}})
    assert moved["packages"] == ["webex_calling"]
    s.delete(f"wholesale/subscribers/{sub['id']}")
    with pytest.raises(ApiError) as err:
        s.get(f"wholesale/subscribers/{sub['id']}")
    assert err.value.status_code == 404 and err.value.message and err.value.tracking_id

    with pytest.raises(ApiError) as err:  # duplicate externalId → 409
        s.post("wholesale/customers", json=_new_customer("PY-1", world.raw["ta"]), erc=202)
    assert err.value.status_code == 409 and err.value.message
    assert err.value.tracking_id.startswith("RTMHUB_")


# --- wxc-sdk -------------------------------------------------------------------------------

def test_wxc_sdk_people_licences_orgs(wxc, world):
    org = world.ids["ca_org"]
    licences = wxc.licenses.list(org_id=org)
    by_package = _licence_ids(licences)
    calling = next(l for l in licences if l.license_id == by_package["webex_calling"])
    assert (calling.total_units, calling.consumed_units) == (20, 1)
    assert wxc.licenses.details(calling.license_id).name == calling.name

    people = list(wxc.people.list(org_id=org, max=1))
    assert len(people) == 2
    matti = wxc.people.details(world.ids["ua"], calling_data=True)
    assert matti.extension == "1001" and matti.location_id == world.ids["loc_ca"]

    meetings_user = wxc.people.create(Person(emails=["kaisa@asiakas.example"], first_name="Kaisa",
                                             last_name="Koivu", org_id=org,
                                             licenses=[by_package["webex_meetings"]]))
    assert meetings_user.person_id and by_package["webex_meetings"] in meetings_user.licenses
    caller = wxc.people.create(Person(emails=["ville@asiakas.example"], first_name="Ville", last_name="Virta",
                                      org_id=org, extension="1300", location_id=world.ids["loc_ca"],
                                      licenses=[by_package["webex_calling"]]), calling_data=True)
    assert caller.extension == "1300" and by_package["webex_calling"] in caller.licenses
    assert next(l for l in wxc.licenses.list(org_id=org) if l.license_id == calling.license_id).consumed_units == 2

    holders = list(wxc.licenses.assigned_users(by_package["webex_meetings"], limit=1))  # follows Link
    assert {u.email for u in holders} == {"maija.meikalainen@asiakas.example", "kaisa@asiakas.example"}

    full = wxc.people.details(meetings_user.person_id)
    full.display_name = "Kaisa K."
    full.title = "Johtaja"
    updated = wxc.people.update(full)
    assert updated.display_name == "Kaisa K." and updated.title == "Johtaja"
    wxc.people.delete_person(meetings_user.person_id)
    with pytest.raises(RestError) as err:
        wxc.people.details(meetings_user.person_id)
    assert err.value.response.status_code == 404
    assert "not found" in err.value.detail.message.lower()
    assert err.value.detail.tracking_id.startswith("RTMHUB_")

    orgs = wxc.organizations.list()
    assert {world.ids["pa_org"], org} <= {o.org_id for o in orgs}
    assert wxc.organizations.details(org).display_name == "Asiakas Oy"


def test_wxc_sdk_locations(wxc, world):
    org = world.ids["ca_org"]
    listed = list(wxc.locations.list(org_id=org))
    assert [loc.location_id for loc in listed] == [world.ids["loc_ca"]]
    hq = wxc.locations.details(world.ids["loc_ca"], org_id=org)
    assert hq.name == listed[0].name and hq.address.city == "Helsinki"
    new_id = wxc.locations.create(name="Tampere", time_zone="Europe/Helsinki", preferred_language="fi_fi",
                                  announcement_language="fi_fi", address1="Hämeenkatu 1", city="Tampere",
                                  state="Pirkanmaa", postal_code="33100", country="FI", org_id=org)
    assert ids.decode("LOCATION", new_id)
    assert len(list(wxc.locations.list(org_id=org, max=1))) == 2  # follows Link
    assert [l.location_id for l in wxc.locations.list(org_id=org, name="tamp")] == [new_id]
    wxc.locations.update(new_id, Location(name="Tampere Office",
                                          address=LocationAddress(address1="Hämeenkatu 2", city="Tampere",
                                                                  state="Pirkanmaa", postal_code="33100",
                                                                  country="FI")), org_id=org)
    again = wxc.locations.details(new_id, org_id=org)
    assert again.name == "Tampere Office" and again.address.address1 == "Hämeenkatu 2"
    with pytest.raises(RestError) as err:
        wxc.locations.details(ids.encode("LOCATION", "00000000-0000-0000-0000-000000000000"), org_id=org)
    assert err.value.response.status_code == 404 and err.value.detail.message


def test_wxc_sdk_wholesale(wxc, world):
    s = wxc.session
    urls = []
    for n in range(2):
        resp, body = s._request_w_response("POST", s.ep("wholesale/customers"),
                                           json=_new_customer(f"WXC-{n}", world.raw["ta"]))
        assert resp.status_code == 202 and resp.headers["Location"] == body["url"]
        urls.append(body["url"])
    items = list(s.follow_pagination(url=s.ep("wholesale/customers"), params={"max": 1}, item_key="items"))
    assert len(items) == 4 and len({c["id"] for c in items}) == 4
    cid = urls[0].rsplit("/", 1)[1]
    assert s.rest_get(s.ep(f"wholesale/customers/{cid}"))["externalId"] == "WXC-0"
    resp, body = s._request_w_response("PUT", s.ep(f"wholesale/customers/{cid}"),
                                       json={"packages": ["webex_meetings"], "externalId": "WXC-0b"})
    assert resp.status_code == 202 and body["url"] == urls[0]
    s.rest_delete(s.ep(f"wholesale/customers/{urls[1].rsplit('/', 1)[1]}"))

    sub = s.rest_post(s.ep("wholesale/subscribers"), json={
        "customerId": world.ids["ca"], "email": "tiina@asiakas.example", "packages": ["webex_calling"],
        "provisioningParameters": {"firstName": "Tiina", "lastName": "Tuomi", "extension": "1400",
                                   "locationId": world.ids["loc_ca"]}})
    assert sub["status"] == "provisioned" and sub["personId"]
    got = s.rest_get(s.ep(f"wholesale/subscribers/{sub['id']}"))
    assert got["packages"] == ["webex_calling"]
    put = s.rest_put(s.ep(f"wholesale/subscribers/{sub['id']}"), json={"packages": ["webex_suite"]})
    assert put["packages"] == ["webex_suite"]
    listed = list(s.follow_pagination(url=s.ep("wholesale/subscribers"),
                                      params={"customerId": world.ids["ca"], "max": 1}, item_key="items"))
    assert sub["id"] in {x["id"] for x in listed} and len(listed) == 3
    s.rest_delete(s.ep(f"wholesale/subscribers/{sub['id']}"))
    with pytest.raises(RestError) as err:
        s.rest_get(s.ep(f"wholesale/subscribers/{sub['id']}"))
    assert err.value.response.status_code == 404 and err.value.detail.message

    with pytest.raises(RestError) as err:  # email already used by another user → 409
        s.rest_post(s.ep("wholesale/subscribers"), json={
            "customerId": world.ids["ca"], "email": "sven@kund.example", "package": "webex_meetings",
            "provisioningParameters": {"firstName": "S", "lastName": "S"}})
    assert err.value.response.status_code == 409
    assert "already associated" in err.value.detail.message
    assert err.value.detail.tracking_id.startswith("RTMHUB_")
