"""Row ids (decision 53): UUIDs of version 7, made in the order they sort in, so that inserts land at the end of
each index; and the short forms shown where a whole id is too long stay distinct for ids made at one instant."""
from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tests.conftest import OPERATOR, customer_body

from rtmhub import ids
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.models import MeetingSite
from rtmhub.domain.partners import service as partners
from rtmhub.domain.partners.models import Partner


def test_new_ids_are_version_7_and_sort_in_the_order_they_were_made():
    made = [ids.new_uuid() for _ in range(2000)]
    assert len(set(made)) == len(made)
    assert made == sorted(made)
    assert {uuid.UUID(i).version for i in made} == {7}
    assert all(str(uuid.UUID(i)) == i for i in made)  # the canonical lower-case form the rows keep
    # Still what every public id wraps: it decodes back to the same row id.
    assert ids.decode("PEOPLE", ids.encode("PEOPLE", made[0])) == made[0]


def test_short_forms_of_ids_made_at_one_instant_differ():
    made = [ids.new_uuid() for _ in range(200)]
    assert len({i[:8] for i in made}) < 3  # the leading characters are the time: why short() takes the last
    assert len({ids.short(i) for i in made}) == len(made)


def test_customers_of_one_name_onboarded_together_get_sites_of_their_own(db):
    with db.unit_of_work() as s:
        partner = partners.create_partner(s, OPERATOR, "Partner S")
        template = partners.create_template(s, OPERATOR, partner, "S default", "FI", "fi")
        made = [customers.provision(s, OPERATOR, customer_body(template.provisioning_id, f"SAME-{n}", "Sama Oy",
                                                               ["webex_meetings"]), (partner.id,))
                for n in range(3)]
        urls = [c.preferred_site_url for c in made]
        assert len(set(urls)) == 3, urls
        assert all(u.startswith("sama-oy-") and u.endswith(".webex.com") for u in urls)
        stored = set(s.scalars(select(MeetingSite.url).where(MeetingSite.customer_id.in_([c.id for c in made]))))
        assert stored == set(urls)


def test_partners_made_together_get_subscription_ids_of_their_own(db):
    with db.unit_of_work() as s:
        made = [partners.create_partner(s, OPERATOR, f"Partner {n}") for n in range(5)]
        s.flush()
        subscriptions = {s.get(Partner, p.id).subscription_id for p in made}
    assert len(subscriptions) == 5


def _parsed_uuid(value: str) -> bool:
    """What an id had to be before the pattern: a string uuid.UUID reads and writes back the same, case aside."""
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _edited(value: uuid.UUID, at: int, put: str) -> str:
    """A canonical id with one character replaced (or dropped): a hyphen lost, a letter that is no hex digit."""
    text = str(value)
    return text[:at] + put + text[at + 1:]


@settings(max_examples=400, deadline=None)
@given(st.one_of(
    st.uuids().map(str), st.uuids().map(lambda u: str(u).upper()), st.uuids().map(lambda u: u.hex),
    st.uuids().map(lambda u: "{" + str(u) + "}"), st.uuids().map(lambda u: u.urn),
    st.uuids().map(lambda u: str(u) + "\n"), st.uuids().map(lambda u: " " + str(u)),
    st.builds(_edited, st.uuids(), st.sampled_from([8, 13, 18, 23]), st.sampled_from(["", "0", "--"])),
    st.builds(_edited, st.uuids(), st.integers(0, 35), st.sampled_from(["", "-", "g", "G", "0", "F", " ", "é", "--"])),
    st.text(alphabet="0123456789abcdefABCDEF-xg{}\n ", min_size=30, max_size=40), st.text(max_size=40)))
def test_the_uuid_pattern_takes_exactly_what_uuid_parsing_took(value):
    assert ids._is_uuid(value) == _parsed_uuid(value)
    assert (ids.decode("PEOPLE", ids.encode("PEOPLE", value)) == value) == _parsed_uuid(value)
