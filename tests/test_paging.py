"""Deep pages are read by seeking to the first key of the page (domain/paging.py); the offset/max contract
must give the same rows as OFFSET would: every row exactly once, in order, also when many rows share the
sort key (a CSV import creates users in the same instant) and when a subscriber has no assignment time."""
from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import update

from conftest import OPERATOR, customer_body
from rtmhub import ids
from rtmhub.domain import paging
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.models import Customer, CustomerPackage
from rtmhub.domain.partners.models import Partner
from rtmhub.domain.users.models import User

SAME = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STEP = 7


@pytest.fixture
def tied(world, db):
    """Customer A-CUST-1 gets 45 users created in one instant (40 subscribers, three of them without an
    assignment time, and 5 without a package); partner A gets 20 more customers created in one instant."""
    with db.unit_of_work() as s:
        ca = s.get(Customer, world.raw["ca"])
        rows = []
        for i in range(45):
            package = None if i % 9 == 0 else "webex_meetings"
            rows.append({"id": str(uuid.uuid4()), "customer_id": ca.id, "home_org_id": ca.org_id,
                         "email": f"tie{i}@asiakas.example", "email_key": f"tie{i}@asiakas.example",
                         "display_name": f"Tie {i}", "package": package, "basic_messaging": True,
                         "basic_space_meetings": False, "call_on_webex": False, "jabber_calling": False,
                         "jabber_with_teams": False, "status": "provisioned", "created": SAME,
                         "last_modified": SAME,
                         "package_assigned": SAME if package and i % 13 != 1 else None})
        s.execute(User.__table__.insert(), rows)
        s.execute(update(CustomerPackage).where(CustomerPackage.customer_id == ca.id,
                                                CustomerPackage.package == "webex_meetings")
                  .values(used=CustomerPackage.used + sum(1 for r in rows if r["package"])))
        pa = s.get(Partner, world.raw["pa"])
        template = world.raw["ta"]
        made = [customers.provision(s, OPERATOR, customer_body(template, f"TIE-{i}", f"Tie {i} Oy",
                                                               ["webex_meetings"]), (pa.id,)) for i in range(20)]
        s.flush()
        s.execute(update(Customer).where(Customer.id.in_([c.id for c in made])).values(created=SAME))
    return world


def _all_pages(client, path: str, params: dict, items: str = "items", page_key: str = "offset",
               size_key: str = "max", headers=None) -> list[str]:
    seen: list[str] = []
    start = 0
    while True:
        resp = client.get(path, params={**params, page_key: str(start), size_key: STEP}, headers=headers)
        assert resp.status_code == 200, resp.text
        got = [item["id"] for item in resp.json()[items]]
        seen += got
        if len(got) < STEP:
            return seen
        start += STEP


@pytest.mark.parametrize("seek_from", [1])
def test_pages_through_ties_give_every_row_once_in_the_order_of_one_page(tied, client, monkeypatch, seek_from):
    auth = tied.auth("a_full")
    org = tied.ids["ca_org"]
    licence = next(x["id"] for x in client.get("/v1/licenses", params={"orgId": org}, headers=auth).json()["items"]
                   if x["name"] == "webex_meetings" or "Meetings" in x.get("displayName", x["name"]))
    lists = [
        ("/v1/people", {"orgId": org}, "items", "offset", "max", 1000),
        ("/v1/wholesale/subscribers", {}, "items", "offset", "max", 100),
        ("/v1/wholesale/subscribers", {"sortOrder": "DESC"}, "items", "offset", "max", 100),
        ("/v1/wholesale/subscribers", {"customerId": tied.ids["ca"]}, "items", "offset", "max", 100),
        ("/v1/wholesale/customers", {}, "items", "offset", "max", 1000),
        (f"/v1/licenses/{licence}", {"includeAssignedTo": "user"}, "users", "next", "limit", 300),
    ]
    for path, params, items, page_key, size_key, whole in lists:
        one = client.get(path, params={**params, size_key: whole}, headers=auth).json()[items]
        expected = [item["id"] for item in one]
        assert len(expected) > 2 * STEP, (path, params)
        monkeypatch.setattr(paging, "SEEK_FROM", seek_from)
        paged = _all_pages(client, path, params, items, page_key, size_key, headers=auth)
        monkeypatch.undo()
        assert len(paged) == len(set(paged)), f"{path} {params}: a row twice"
        assert paged == expected, f"{path} {params}: pages differ from one page"


def test_a_deep_page_of_an_empty_or_short_list(tied, client, monkeypatch):
    monkeypatch.setattr(paging, "SEEK_FROM", 1)
    auth = tied.auth("a_full")
    resp = client.get("/v1/people", params={"orgId": tied.ids["ca_org"], "offset": 10_000, "max": 5}, headers=auth)
    assert resp.status_code == 200 and resp.json()["items"] == [], resp.text
    resp = client.get("/v1/wholesale/subscribers", params={"customerId": ids.encode("CUSTOMER", "nope"),
                                                           "offset": 3, "max": 5}, headers=auth)
    assert resp.status_code in (200, 404), resp.text


def _follow_links(client, path: str, params: dict, headers, items: str = "items",
                  size_key: str = "max") -> tuple[list[str], list[str]]:
    """Every id of a list read by following its ``Link`` header from the first page, and the next addresses."""
    seen: list[str] = []
    links: list[str] = []
    resp = client.get(path, params={**params, size_key: STEP}, headers=headers)
    while True:
        assert resp.status_code == 200, resp.text
        seen += [item["id"] for item in resp.json()[items]]
        link = resp.headers.get("link")
        if not link:
            return seen, links
        links.append(link[link.index("<") + 1:link.index(">")])
        resp = client.get(links[-1], headers=headers)


def test_following_the_link_header_reads_from_the_cursor_and_gives_every_row_once(tied, client):
    """The next address carries the key of the next page's first row (decision 62): the pages it gives are the
    whole list in its order, ties in the sort key and rows without one included; and the cursor, not the offset,
    decides where the page starts."""
    auth = tied.auth("a_full")
    org = tied.ids["ca_org"]
    licence = next(x["id"] for x in client.get("/v1/licenses", params={"orgId": org}, headers=auth).json()["items"]
                   if x["name"] == "webex_meetings" or "Meetings" in x.get("displayName", x["name"]))
    lists = [("/v1/people", {"orgId": org}, "items", "max", 1000),
             ("/v1/wholesale/subscribers", {}, "items", "max", 100),
             ("/v1/wholesale/subscribers", {"sortOrder": "DESC"}, "items", "max", 100),
             ("/v1/wholesale/subscribers", {"customerId": tied.ids["ca"]}, "items", "max", 100),
             (f"/v1/licenses/{licence}", {"includeAssignedTo": "user"}, "users", "limit", 300)]
    for path, params, items, size_key, whole in lists:
        expected = [item["id"] for item in client.get(path, params={**params, size_key: whole}, headers=auth)
                    .json()[items]]
        paged, links = _follow_links(client, path, params, auth, items, size_key)
        assert paged == expected, f"{path} {params}: the pages the Link header gives differ from one page"
        with_cursor = [link for link in links if "cursor=" in link]
        assert len(with_cursor) >= len(links) - 2, (path, params, links)  # only a row without a key has none
        # The offset of such an address no longer matters: the cursor places the page.
        second = client.get(with_cursor[0], headers=auth).json()[items]
        address = urlsplit(with_cursor[0])
        query = {**dict(parse_qsl(address.query)), "offset" if size_key == "max" else "next": "0"}
        moved = client.get(address.path, params=query, headers=auth).json()[items]
        assert moved == second and second[0]["id"] != expected[0], (path, params)


def test_a_cursor_that_is_not_this_lists_is_refused_and_a_foreign_one_reveals_nothing(tied, client):
    auth = tied.auth("a_full")
    _, people = _follow_links(client, "/v1/people", {"orgId": tied.ids["ca_org"]}, auth)
    _, ascending = _follow_links(client, "/v1/wholesale/subscribers", {}, auth)
    people_cursor = people[0].split("cursor=")[1].split("&")[0]
    asc_cursor = next(link for link in ascending if "cursor=" in link).split("cursor=")[1].split("&")[0]
    bad = ["x", "!!!", "e30", people_cursor, "W10", "WyJ4IixbXV0"]  # e30 = {}, W10 = [], WyJ4IixbXV0 = ["x",[]]
    # This order's own tag with values the database cannot compare: a text for a time, a time for a text, a NUL.
    tag = "package_assigned:a,id:a"
    forged = [base64.urlsafe_b64encode(json.dumps([tag, values]).encode()).decode() for values in (
        ["not a time", "x"], [{"t": "2026-01-01T00:00:00+00:00"}, {"t": "2026-01-01T00:00:00"}],
        ["2026-01-01 00:00:00.000000", "a\u0000b"], [1, 2], [None, "x"])]
    # SQLite compares a time's stored text, so a text that is no time only places the page after every row.
    bad += forged[1:] if tied.db.is_sqlite else forged
    for cursor in bad:
        resp = client.get("/v1/wholesale/subscribers", params={"cursor": cursor, "max": 5}, headers=auth)
        assert resp.status_code == 400, (cursor, resp.text)
        assert "Link header" in resp.json()["message"], resp.text
    resp = client.get("/v1/wholesale/subscribers", params={"cursor": asc_cursor, "sortOrder": "DESC"}, headers=auth)
    assert resp.status_code == 400, resp.text
    resp = client.get("/v1/people", params={"orgId": tied.ids["ca_org"], "cursor": asc_cursor}, headers=auth)
    assert resp.status_code == 400, resp.text
    # Another partner's administrator with partner A's cursor: still only partner B's subscribers.
    other = tied.auth("b_full")
    theirs = {item["id"] for item in client.get("/v1/wholesale/subscribers", params={"max": 100},
                                                headers=other).json()["items"]}
    resp = client.get("/v1/wholesale/subscribers", params={"cursor": asc_cursor, "max": 100}, headers=other)
    assert resp.status_code == 200, resp.text
    assert {item["id"] for item in resp.json()["items"]} <= theirs
