def test_partner_lists_its_customers(client, world):
    r = client.get("/v1/wholesale/customers", headers=world.auth("a_full"))
    assert r.status_code == 200, r.text
    ext = sorted(c["externalId"] for c in r.json()["items"])
    assert ext == ["A-CUST-1", "A1-CUST-1"]


def test_people_in_customer_org(client, world):
    r = client.get("/v1/people", params={"orgId": world.ids["ca_org"]}, headers=world.auth("a_full"))
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) == 2
