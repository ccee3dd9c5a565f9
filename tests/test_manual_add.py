"""Manual add (POST /v1/people/bulk): base licences by default, per-user results, on both databases."""
from rtmhub.domain.packages.models import BASE_LICENCES


def _licence_ids(client, world) -> dict[str, str]:
    items = client.get("/v1/licenses", params={"orgId": world.ids["ca_org"]}, headers=world.auth("a_full")).json()
    return {item["package"]: item["id"] for item in items["items"]}


def test_manual_add_grants_base_licences_unless_told_otherwise(client, world):
    ids = _licence_ids(client, world)
    body = {"orgId": world.ids["ca_org"], "people": [
        {"emails": ["uusi.kayttaja@asiakas.example"], "firstName": "Uusi", "lastName": "Käyttäjä",
         "licenses": [ids["webex_meetings"]]},
    ]}
    r = client.post("/v1/people/bulk", json=body, headers=world.auth("a_full"))
    assert r.status_code == 200, r.text
    created = r.json()["items"][0]
    assert created["status"] == "created"
    held = set(created["person"]["licenses"])
    assert {ids[b] for b in BASE_LICENCES} <= held and ids["webex_meetings"] in held

    # A single upstream People POST assigns only what it lists.
    r = client.post("/v1/people", json={"emails": ["toinen@asiakas.example"], "firstName": "Toinen",
                                        "orgId": world.ids["ca_org"], "licenses": [ids["webex_meetings"]]},
                    headers=world.auth("a_full"))
    assert r.status_code == 200, r.text
    assert set(r.json()["licenses"]) == {ids["webex_meetings"]}
