"""Customer rules (domain/customers/service.py) observed through the service: each refusal of provision,
update, precheck and set_allocation by its field, message word for word and code; each acceptance by what was
written (packages, allocations, the first location, the meeting site). Written against `make mutation`
(docs/testing.md)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from rtmhub import ids
from rtmhub.domain.access.models import AdminAccount
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.models import Customer, CustomerPackage, MeetingSite
from rtmhub.domain.customers.schemas import CustomerCreate, CustomerPrecheck, CustomerUpdate
from rtmhub.domain.locations.models import Location
from rtmhub.domain.partners.models import Partner
from rtmhub.domain.usage.models import AllocationInterval, PackageInterval
from rtmhub.domain.users.models import User
from rtmhub.errors import Conflict, NotFound, ValidationFailed

from tests.conftest import OPERATOR, customer_body

LIMITS = "provisioningParameters.packages.limits"


def problems(error) -> list[tuple[str | None, str, int | None]]:
    return [(e.field, str(e.description), e.error_code) for e in error.errors]


def _body(world, packages, **over) -> dict:
    body = customer_body(world.raw["ta_pid"], over.pop("external_id", "A-MUT-1"), "Mutaatio Oy", packages,
                         over.pop("limits", None)).model_dump(exclude_none=True)
    body.update(over)
    return body


def _provision(db, world, body: dict) -> str:
    with db.unit_of_work() as s:
        return customers.provision(s, OPERATOR, CustomerCreate.model_validate(body), (world.raw["pa"],)).id


def _refused(db, world, body: dict, error=ValidationFailed) -> list:
    with pytest.raises(error) as caught, db.unit_of_work() as s:
        customers.provision(s, OPERATOR, CustomerCreate.model_validate(body), (world.raw["pa"],))
    assert type(caught.value) is error
    return problems(caught.value)


@pytest.fixture
def w(world, db):
    with db.unit_of_work(write=False) as s:
        from rtmhub.domain.partners.models import OnboardingTemplate
        world.raw["ta_pid"] = s.scalar(select(OnboardingTemplate.provisioning_id).where(
            OnboardingTemplate.partner_id == world.raw["pa"]))
    return world


def _packages(db, customer_id: str) -> dict[str, int | None]:
    with db.unit_of_work(write=False) as s:
        return {p.package: p.allocation for p in s.scalars(select(CustomerPackage).where(
            CustomerPackage.customer_id == customer_id))}


# --- packages and limits -------------------------------------------------------------------

def test_package_list_refusals(w, db):
    assert _refused(db, w, _body(w, [])) == [("packages", "packages must list at least one package.", None)]
    assert _refused(db, w, _body(w, ["webex_meetings", "webex_nope", "x"]))[0] == (
        "packages", f"Unknown package(s) webex_nope, x; use any of: {', '.join(customers.CUSTOMER_PACKAGES)}.",
        None)
    assert _refused(db, w, _body(w, ["webex_meetings", "webex_meetings"])) == [
        ("packages", "packages lists the same package twice.", None)]
    assert _refused(db, w, _body(w, ["webex_meetings", "attendant_console"])) == [
        ("packages", "attendant_console requires one of webex_calling, webex_suite, cx_essentials on the same "
                     "customer.", None)]


def test_limit_refusals(w, db):
    assert _refused(db, w, _body(w, ["webex_meetings"], limits={"cx_voice_ports": 1})) == [
        (LIMITS, f"No limit can be set for 'cx_voice_ports'; limits exist for: {', '.join(customers.LIMIT_KEYS)}.",
         None)]
    assert _refused(db, w, _body(w, ["webex_meetings"], limits={"webex_suite": 1})) == [
        (LIMITS, "A limit is given for webex_suite, which is not in packages; add it or drop the limit.", None)]
    for bad in (-1, 10_000_001):
        assert _refused(db, w, _body(w, ["webex_meetings"], limits={"webex_meetings": bad})) == [
            (LIMITS, f"The limit of webex_meetings must be a whole number from 0 to 10000000 (got {bad}).", None)]


def test_limits_at_the_bounds_are_written(w, db):
    cid = _provision(db, w, _body(w, ["webex_meetings", "webex_calling", "webex_suite"],
                                  limits={"webex_meetings": 0, "webex_calling": 10_000_000}))
    assert _packages(db, cid) == {"webex_meetings": 0, "webex_calling": 10_000_000, "webex_suite": None,
                                  "basic_messaging": None, "basic_space_meetings": None, "call_on_webex": None}


# --- address, calling location, customer info -----------------------------------------------

def test_address_and_location_refusals(w, db):
    body = _body(w, ["webex_calling"])
    body["address"] = {**body["address"], "addressLine1": " ", "city": "", "country": "fi"}
    got = _refused(db, w, body)
    assert got == [
        ("address.country", "address.country 'fi' must be a two-letter ISO 3166 country code in capitals, e.g. 'FI'.",
         None),
        ("address.addressLine1", "address.addressLine1 is required.", None),
        ("address.city", "address.city is required.", None)]
    body = _body(w, ["webex_calling"])
    location = body["provisioningParameters"]["calling"]["location"]
    location.update(name=" ", timezone="Mars/Olympus", language="suomi")
    location["address"] = {**location["address"], "city": " "}
    body["provisioningParameters"]["meetings"] = {"timezone": "Venus/Maxwell"}
    prefix = "provisioningParameters.calling.location"
    assert _refused(db, w, body) == [
        (f"{prefix}.name", "The location name is required.", None),
        (f"{prefix}.address.city", f"{prefix}.address.city is required.", None),
        (f"{prefix}.timezone", f"{prefix}.timezone 'Mars/Olympus' is not a known time zone; use an IANA name such as "
                               "'Europe/Helsinki'.", None),
        (f"{prefix}.language", f"{prefix}.language 'suomi' must be a language code like 'en', 'fi' or 'en_us'.", None),
        ("provisioningParameters.meetings.timezone", "provisioningParameters.meetings.timezone 'Venus/Maxwell' is not "
                                                     "a known time zone; use an IANA name such as 'Europe/Helsinki'.",
         None)]


@pytest.mark.parametrize("blank", ["", "  "])
def test_the_first_locations_time_zone_and_language_are_required(w, db, blank):
    body = _body(w, ["webex_calling"])
    body["provisioningParameters"]["calling"]["location"].update(timezone=blank, language=blank)
    prefix = "provisioningParameters.calling.location"
    assert _refused(db, w, body) == [
        (f"{prefix}.timezone", f"{prefix}.timezone is required (an IANA time zone such as 'Europe/Helsinki').",
         None),
        (f"{prefix}.language", f"{prefix}.language is required (e.g. 'en' or 'fi_FI').", None)]


def test_calling_needs_the_first_location(w, db):
    body = _body(w, ["webex_calling"])
    del body["provisioningParameters"]["calling"]
    assert _refused(db, w, body) == [(
        "provisioningParameters.calling.location",
        "Calling packages need provisioningParameters.calling.location (name, address, timezone, language) for the "
        "first location.", None)]
    # Meetings alone need no location: none is made, and the meeting site is.
    cid = _provision(db, w, {**body, "packages": ["webex_meetings"]})
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(Location.id).where(Location.customer_id == cid)) is None
        customer = s.get(Customer, cid)
        site = s.scalar(select(MeetingSite).where(MeetingSite.customer_id == cid))
        assert site.url == customer.preferred_site_url == f"mutaatio-oy-{ids.short(customer.org_id)}.webex.com"
        assert site.timezone == customer.meetings_timezone == "Europe/Helsinki"
    assert customers.needs_first_location(["webex_meetings"]) is False
    assert customers.needs_first_location(["webex_meetings", "webex_voice"]) is True


def test_customer_info_refusals(w, db):
    body = _body(w, ["webex_meetings"])
    body["customerInfo"] = {"name": "50% Oy", "primaryEmail": "ei-at-merkkia.example", "language": "suomi"}
    assert _refused(db, w, body) == [
        ("customerInfo.name", "customerInfo.name is required and must not contain '%'.", None),
        ("customerInfo.primaryEmail", "customerInfo.primaryEmail: 'ei-at-merkkia.example' must contain exactly one "
                                      "'@' (username@domain).", 4802),
        ("customerInfo.language", "customerInfo.language 'suomi' must be a language code like 'en', 'fi' or "
                                  "'en_us'.", None)]
    body["customerInfo"] = {"name": "Oy", "primaryEmail": "uusi@mutaatio.example"}
    assert _refused(db, w, {**body, "externalId": " "}) == [("externalId", "externalId must not be empty.", None)]
    assert _refused(db, w, {**body, "orgId": "x"}) == [
        ("orgId", "rtmhub provisions new organisations only: leave out orgId and give customerInfo.", None)]


def test_conflicts_are_409_with_their_codes(w, db):
    body = _body(w, ["webex_meetings"], external_id="A-CUST-1")
    body["customerInfo"] = {"name": "Oy", "primaryEmail": "vapaa@mutaatio.example"}
    assert _refused(db, w, body, Conflict) == [
        ("externalId", "A customer with externalId 'A-CUST-1' already exists.", 409)]
    body = _body(w, ["webex_meetings"])
    body["customerInfo"] = {"name": "Oy", "primaryEmail": "Matti.Meikalainen@asiakas.example"}
    assert _refused(db, w, body, Conflict) == [
        ("customerInfo.primaryEmail", "The email Matti.Meikalainen@asiakas.example is already associated with an "
                                      "existing user.", 10022)]
    body["customerInfo"] = {"name": "Oy", "primaryEmail": " full@a.example "}
    assert _refused(db, w, body, Conflict) == [
        ("customerInfo.primaryEmail", "The email full@a.example already belongs to an administrator account, and it "
                                      "would become this customer's first administrator; give another "
                                      "primaryEmail.", 409)]
    # A conflict with a plain refusal beside it is a 400.
    body["address"] = {**body["address"], "country": "fi"}
    assert [p[0] for p in _refused(db, w, body)] == ["address.country", "customerInfo.primaryEmail"]


def test_unknown_template_and_no_partner(w, db):
    body = _body(w, ["webex_meetings"], provisioningId="nope")
    assert _refused(db, w, body) == [(None, "provisioningId 'nope' does not name an onboarding template of yours; "
                                            "list them with 'rtmhub templates list'.", None)]
    with pytest.raises(ValidationFailed) as caught, db.unit_of_work() as s:
        customers.provision(s, OPERATOR, CustomerCreate.model_validate(_body(w, ["webex_meetings"])))
    assert str(caught.value) == ("The operator must act for a partner; give onBehalfOfSubPartnerOrgId or use a "
                                 "partner administrator's token.")


def test_a_partner_onboards_with_its_own_or_its_parents_template_only(w, db):
    # Partner A1 is A's sub-partner: A1's administrator may use A1's and A's templates, not B's.
    for n, (template, allowed) in enumerate(((w.raw["ta1"], True), (w.raw["ta"], True), (w.raw["tb"], False))):
        body = _body(w, ["webex_meetings"], provisioningId=template, external_id=f"A1-TPL-{n}")
        with db.unit_of_work() as s:
            caller = _partner_caller(s, "full@a1.example")
            data = CustomerCreate.model_validate(body)
            if allowed:
                assert customers.provision(s, caller, data).partner_id == w.raw["pa1"]
                continue
            with pytest.raises(ValidationFailed) as caught:
                customers.provision(s, caller, data)
            assert str(caught.value) == (f"provisioningId '{template}' does not name an onboarding template of yours; "
                                         "list them with 'rtmhub templates list'.")


@pytest.mark.parametrize("language, stored", [("sv", "sv"), (None, "fi")])
def test_the_customers_language_is_its_own_else_the_templates(w, db, language, stored):
    body = _body(w, ["webex_meetings"])  # the template of partner A speaks Finnish
    body["customerInfo"]["language"] = language
    with db.unit_of_work(write=False) as s:
        from rtmhub.domain.partners.models import OnboardingTemplate
        assert s.scalar(select(OnboardingTemplate.language).where(
            OnboardingTemplate.provisioning_id == w.raw["ta_pid"])) == "fi"
    cid = _provision(db, w, body)
    with db.unit_of_work(write=False) as s:
        assert s.get(Customer, cid).language == stored


@pytest.mark.parametrize("name, slug", [("  Kahvila -- Ääni & Kuva!  ", "kahvila-ni-kuva"), ("Åäö", "site"),
                                        ("Pitkä " + "nimi" * 12, "pitk-" + ("nimi" * 12)[:35])])
def test_the_meeting_sites_name_comes_from_the_customers_name(w, db, name, slug):
    # Lower-case ASCII letters and digits, every other run a single '-', none at the ends, 40 at most.
    body = _body(w, ["webex_meetings"])
    body["customerInfo"]["name"] = name
    cid = _provision(db, w, body)
    with db.unit_of_work(write=False) as s:
        customer = s.get(Customer, cid)
        assert customer.preferred_site_url == f"{slug}-{ids.short(customer.org_id)}.webex.com"
    assert len(slug) <= 40


def test_an_external_id_is_unique_within_the_partner_only(w, db):
    # B-CUST-1 is partner B's; partner A may use the same externalId for a customer of its own.
    body = _body(w, ["webex_meetings"], external_id="B-CUST-1")
    body["customerInfo"]["primaryEmail"] = "admin@a-oma-1.example"
    cid = _provision(db, w, body)
    with db.unit_of_work(write=False) as s:
        assert (s.get(Customer, cid).external_id, s.get(Customer, cid).partner_id) == ("B-CUST-1", w.raw["pa"])


def test_a_new_organisation_needs_customer_info(w, db):
    body = _body(w, ["webex_meetings"])
    del body["customerInfo"]
    assert _refused(db, w, body) == [
        ("customerInfo", "customerInfo (name, primaryEmail) is required for a new organisation.", None)]
    body["orgId"] = "an-existing-organisation"  # asked to take an existing organisation: only that is refused
    assert _refused(db, w, body) == [
        ("orgId", "rtmhub provisions new organisations only: leave out orgId and give customerInfo.", None)]


def test_provision_writes_the_customer(w, db):
    body = _body(w, ["webex_calling", "webex_meetings"], limits={"webex_calling": 5})
    body["address"].update(addressLine2="B 12", stateOrProvince="Uusimaa")
    body["provisioningParameters"]["calling"]["location"]["address"].update(
        addressLine2="C 3", stateOrProvince="Uusimaa", zipOrPostalCode="00101")
    body["provisioningParameters"]["calling"]["location"]["emergencyLocationIdentifier"] = "ELIN-0042"
    cid = _provision(db, w, body)
    with db.unit_of_work(write=False) as s:
        c = s.get(Customer, cid)
        assert (c.name, c.primary_email, c.language, c.external_id, c.status, c.country, c.city) == (
            "Mutaatio Oy", "admin@a-mut-1.example", "fi", "A-MUT-1", "provisioned", "FI", "Helsinki")
        assert (c.address_line1, c.address_line2, c.state_or_province, c.zip_or_postal_code) == (
            "Mannerheimintie 1", "B 12", "Uusimaa", "00100")
        from rtmhub.domain.partners.models import OnboardingTemplate
        assert s.get(OnboardingTemplate, c.template_id).provisioning_id == w.raw["ta_pid"]
        loc = s.scalar(select(Location).where(Location.customer_id == cid))
        assert (loc.name, loc.time_zone, loc.preferred_language, loc.announcement_language, loc.city) == (
            "Helsinki HQ", "Europe/Helsinki", "fi_fi", "fi_fi", "Helsinki")
        assert (loc.address1, loc.address2, loc.state, loc.postal_code, loc.emergency_location_identifier) == (
            "Mannerheimintie 1", "C 3", "Uusimaa", "00101", "ELIN-0042")
        assert customers.snapshot(s, c) == {"name": "Mutaatio Oy", "externalId": "A-MUT-1", "status": "provisioned",
                                            "country": "FI", "packages": {"webex_calling": 5, "webex_meetings": None}}
    with db.unit_of_work(write=False) as s:
        customers.precheck(s, OPERATOR, CustomerPrecheck.model_validate(
            {k: v for k, v in _body(w, ["webex_meetings"], external_id="A-MUT-2").items() if k != "customerInfo"}),
            (w.raw["pa"],))


# --- update and set_allocation ---------------------------------------------------------------

def _update(db, w, cid, **body):
    with db.unit_of_work() as s:
        customers.update(s, OPERATOR, cid, CustomerUpdate.model_validate(body))


def test_update_refuses_removing_or_limiting_a_package_in_use(w, db):
    ca = w.raw["ca"]  # webex_calling: 1 user (ua); webex_meetings: 1 user (um)
    with pytest.raises(Conflict) as caught:
        _update(db, w, ca, packages=["webex_calling", "webex_suite", "webex_voice"])
    assert str(caught.value) == ("1 user holds Webex Meetings; give the user another package before removing "
                                 "webex_meetings from the customer.")
    with pytest.raises(Conflict) as caught:
        _update(db, w, ca, packages=["webex_calling", "webex_meetings", "webex_suite", "webex_voice"],
                provisioningParameters={"packages": {"limits": {"webex_meetings": 0}}})
    assert str(caught.value) == ("Webex Meetings cannot be limited to 0: 1 units are assigned. Free units first or "
                                 "choose a limit of at least that many.")
    assert _packages(db, ca)["webex_meetings"] == 50


def test_update_writes_packages_limits_and_external_id(w, db):
    ca = w.raw["ca"]
    _update(db, w, ca, packages=["webex_calling", "webex_meetings", "webex_voice", "cx_essentials"],
            externalId="A-CUST-1B", provisioningParameters={"packages": {"limits": {"webex_meetings": 1,
                                                                                     "cx_essentials": 3}}})
    assert _packages(db, ca) == {"webex_calling": 20, "webex_meetings": 1, "webex_voice": None, "cx_essentials": 3,
                                 "basic_messaging": None, "basic_space_meetings": None, "call_on_webex": None}
    with db.unit_of_work(write=False) as s:
        assert s.get(Customer, ca).external_id == "A-CUST-1B"


def test_update_answers_a_taken_external_id_as_provision_does(w, db):
    """Decision 50: a taken externalId is a Conflict (409) on update as on provision; beside a plain refusal
    it is a ValidationFailed (400) carrying both problems. The customer's own externalId, or another partner's,
    is not taken."""
    other = _provision(db, w, _body(w, ["webex_meetings"]))
    with pytest.raises(Conflict) as caught:
        _update(db, w, other, packages=["webex_meetings"], externalId="A-CUST-1")
    assert type(caught.value) is Conflict
    assert str(caught.value) == "A customer with externalId 'A-CUST-1' already exists."
    assert problems(caught.value) == [("externalId", "A customer with externalId 'A-CUST-1' already exists.", 409)]
    with pytest.raises(ValidationFailed) as caught:
        _update(db, w, other, packages=["webex_meetings"], externalId="A-CUST-1",
                address={"addressLine1": "Katu 1", "city": "Turku", "country": "fi"})
    assert type(caught.value) is ValidationFailed
    assert [(p[0], p[2]) for p in problems(caught.value)] == [("address.country", None), ("externalId", 409)]
    assert str(caught.value) == ("address.country 'fi' must be a two-letter ISO 3166 country code in capitals, "
                                 "e.g. 'FI'.; A customer with externalId 'A-CUST-1' already exists.")
    with db.unit_of_work(write=False) as s:
        assert s.get(Customer, other).external_id == "A-MUT-1"
    _update(db, w, other, packages=["webex_meetings"], externalId="A-MUT-1")  # its own: unchanged, accepted
    _update(db, w, other, packages=["webex_meetings"], externalId="A1-CUST-1")  # partner A1's customer's
    with db.unit_of_work(write=False) as s:
        assert s.get(Customer, other).external_id == "A1-CUST-1"


@pytest.mark.parametrize("value", [-1, 10_000_001])
def test_set_allocation_bounds(w, db, value):
    with pytest.raises(ValidationFailed) as caught, db.unit_of_work() as s:
        customers.set_allocation(s, OPERATOR, w.raw["ca"], "webex_meetings", value)
    assert str(caught.value) == ("The allocation of Webex Meetings must be a whole number from 0 to 10,000,000, or "
                                 f"none for unlimited (got {value}).")
    with pytest.raises(NotFound) as caught, db.unit_of_work() as s:
        customers.set_allocation(s, OPERATOR, w.raw["ca"], "cx_essentials", 1)
    assert str(caught.value) == "The customer has no package cx_essentials."


def test_package_use_and_full(w, db):
    with db.unit_of_work() as s:
        customers.set_allocation(s, OPERATOR, w.raw["ca"], "webex_meetings", 1)
    with db.unit_of_work(write=False) as s:
        c = s.get(Customer, w.raw["ca"])
        use = customers.package_use(s, c, "webex_meetings")
        assert (use.used, use.allocation, use.full, use.calling) == (1, 1, True, False)
        calling = customers.package_use(s, c, "webex_calling")
        assert (calling.used, calling.allocation, calling.full, calling.calling) == (1, 20, False, True)
        assert customers.package_use(s, c, "cx_essentials") is None
        assert [p.id for p in customers.package_choices(s, c)] == ["webex_calling", "webex_meetings", "webex_suite",
                                                                   "webex_voice"]


# --- the operator's and the onboarding form's views ---------------------------------------------

def test_units_by_package_sums_every_customer(w, db):
    with db.unit_of_work() as s:
        customers.set_allocation(s, OPERATOR, w.raw["ca"], "webex_calling", 20)
        rows = {r.package: r for r in customers.units_by_package(s)}
        with_counts = {p: (r.used, r.allocated, r.customers) for p, r in rows.items()}
        expected = {}
        for row in s.scalars(select(CustomerPackage)):
            used, allocated, count = expected.get(row.package, (0, 0, 0))
            allocated = None if allocated is None or row.allocation is None else allocated + row.allocation
            expected[row.package] = (used + row.used, allocated, count + 1)
    assert with_counts == expected
    assert list(rows) == sorted(rows)
    assert with_counts["webex_meetings"][0] == 2  # um in ca, ua1 in ca1


def test_onboarding_choices_and_templates(w, db):
    choices = customers.onboarding_choices()
    assert [c[0] for c in choices] == list(customers.ONBOARDING_PACKAGES)
    by_id = {c[0]: c for c in choices}
    assert by_id["webex_calling"][2:] == (True, True)
    assert by_id["webex_meetings"][2:] == (True, False)
    assert by_id["cisco_calling_plan"][2:] == (False, False)
    assert by_id["webex_meetings"][1] == "Webex Meetings"
    with db.unit_of_work(write=False) as s:
        names = [t.name for t in customers.onboarding_templates(s, OPERATOR)]
        assert names == sorted(names) and {"A default", "A1 default", "B default"} <= set(names)


def test_package_use_reads_the_customers_own_row(w, db):
    with db.unit_of_work() as s:
        customers.set_allocation(s, OPERATOR, w.raw["ca1"], "webex_meetings", 7)
    with db.unit_of_work(write=False) as s:
        use = customers.package_use(s, s.get(Customer, w.raw["ca1"]), "webex_meetings")
        assert (use.used, use.allocation, use.full) == (1, 7, False)  # ca1's row, not ca's (50)


def test_usage_summary_ranks_the_fullest(w, db):
    """The fullest limited package of each customer, fullest customers first; an allocation of 0 counts as full
    (ratio 1.0), a tie is broken by the customer's name, and `nearest` customers at most."""
    with db.unit_of_work() as s:
        customers.set_allocation(s, OPERATOR, w.raw["ca"], "webex_calling", 2)        # 1 of 2: 0.5
        customers.set_allocation(s, OPERATOR, w.raw["ca1"], "webex_calling", 0)       # 0 allowed: full
    with db.unit_of_work(write=False) as s:
        summary = customers.usage_summary(s, OPERATOR)
        first = customers.usage_summary(s, OPERATOR, nearest=1)
        names = {c.id: c.name for c in s.scalars(select(Customer))}
    got = [(c.customer_id, c.customer_name, c.package, c.used, c.allocation, c.ratio) for c in summary.nearest_full]
    assert got[:2] == [(w.raw["ca1"], names[w.raw["ca1"]], "webex_calling", 0, 0, 1.0),
                       (w.raw["ca"], names[w.raw["ca"]], "webex_calling", 1, 2, 0.5)]
    assert [c.customer_id for c in first.nearest_full] == [w.raw["ca1"]]
    assert summary.customer_count == 3


# --- what each change records: the audit event and the allocation ledger ----------------------

def _events(db, action: str) -> list[tuple]:
    with db.unit_of_work(write=False) as s:
        return [(e.actor, e.entity_type, e.entity_id, e.customer_id, e.partner_id, e.before, e.after)
                for e in s.scalars(select(AuditEvent).where(AuditEvent.action == action))]


def _open_allocations(db, customer_id: str) -> dict[str, tuple]:
    with db.unit_of_work(write=False) as s:
        return {r.package: (r.allocation, r.external_id, r.customer_name) for r in s.scalars(
            select(AllocationInterval).where(AllocationInterval.customer_id == customer_id,
                                             AllocationInterval.ended.is_(None)))}


def test_provision_is_audited_and_ledgered(w, db):
    cid = _provision(db, w, _body(w, ["webex_meetings", "webex_calling"], limits={"webex_calling": 4}))
    after = {"name": "Mutaatio Oy", "externalId": "A-MUT-1", "status": "provisioned", "country": "FI",
             "packages": {"webex_meetings": None, "webex_calling": 4}}
    assert _events(db, "customer.provision")[-1] == (OPERATOR.actor, "customer", cid, cid, w.raw["pa"], None, after)
    assert _open_allocations(db, cid) == {
        p: (a, "A-MUT-1", "Mutaatio Oy") for p, a in {
            "webex_meetings": None, "webex_calling": 4, "basic_messaging": None, "basic_space_meetings": None,
            "call_on_webex": None}.items()}
    with db.unit_of_work(write=False) as s:
        admin = s.scalar(select(AdminAccount).where(AdminAccount.customer_id == cid))
        assert (admin.email, admin.role, admin.password_hash) == ("admin@a-mut-1.example", "customer_full_admin",
                                                                  None)
        rows = s.scalars(select(CustomerPackage).where(CustomerPackage.customer_id == cid)).all()
        partner = s.get(Partner, w.raw["pa"])
        assert {r.subscription_id for r in rows} == {partner.subscription_id}


def test_update_writes_address_and_timezone_and_is_audited(w, db):
    ca = w.raw["ca"]
    before = {"name": "Asiakas Oy", "externalId": "A-CUST-1", "status": "provisioned", "country": "FI",
              "packages": {"webex_calling": 20, "webex_meetings": 50, "webex_suite": None, "webex_voice": None}}
    _update(db, w, ca, packages=["webex_calling", "webex_meetings", "webex_suite", "webex_voice", "cx_essentials"],
            externalId="A-CUST-1C",
            address={"addressLine1": "Linnankatu 2", "addressLine2": "B 4", "city": "Turku", "country": "SE",
                     "stateOrProvince": "Varsinais-Suomi", "zipOrPostalCode": "20100"},
            provisioningParameters={"meetings": {"timezone": "Europe/Stockholm"},
                                    "packages": {"limits": {"webex_meetings": 40}}})
    after = {**before, "externalId": "A-CUST-1C", "country": "SE",
             "packages": {**before["packages"], "webex_meetings": 40, "cx_essentials": None}}
    assert _events(db, "customer.update") == [(OPERATOR.actor, "customer", ca, ca, w.raw["pa"], before, after)]
    with db.unit_of_work(write=False) as s:
        c = s.get(Customer, ca)
        assert (c.address_line1, c.address_line2, c.city, c.state_or_province, c.zip_or_postal_code, c.country,
                c.meetings_timezone) == ("Linnankatu 2", "B 4", "Turku", "Varsinais-Suomi", "20100", "SE",
                                         "Europe/Stockholm")
        added = s.scalar(select(CustomerPackage).where(CustomerPackage.customer_id == ca,
                                                       CustomerPackage.package == "cx_essentials"))
        assert added.subscription_id == s.get(Partner, w.raw["pa"]).subscription_id
        assert s.scalar(select(func.count()).select_from(Location).where(Location.customer_id == ca)) == 1
    allocations = _open_allocations(db, ca)
    assert {p: a[0] for p, a in allocations.items()} == {
        "webex_calling": 20, "webex_meetings": 40, "webex_suite": None, "webex_voice": None, "cx_essentials": None,
        "basic_messaging": None, "basic_space_meetings": None, "call_on_webex": None}
    assert {a[1] for a in allocations.values()} == {"A-CUST-1C"}


def test_set_allocation_accepts_the_bounds_and_is_audited(w, db):
    ca = w.raw["ca"]  # webex_meetings: 50, 1 used
    for value in (1, None, 10_000_000):
        with db.unit_of_work() as s:
            customers.set_allocation(s, OPERATOR, ca, "webex_meetings", value)
        assert _packages(db, ca)["webex_meetings"] == value
        assert _open_allocations(db, ca)["webex_meetings"][0] == value
    events = _events(db, "customer.allocation")
    assert [(e[:5]) for e in events] == [(OPERATOR.actor, "customer", ca, ca, w.raw["pa"])] * 3
    assert [(e[5]["packages"]["webex_meetings"], e[6]["packages"]["webex_meetings"]) for e in events] == [
        (50, 1), (1, None), (None, 10_000_000)]
    with db.unit_of_work() as s:
        customers.set_allocation(s, OPERATOR, w.raw["ca1"], "webex_calling", 0)  # nothing used: 0 is allowed
    assert _packages(db, w.raw["ca1"])["webex_calling"] == 0
    with pytest.raises(Conflict) as caught, db.unit_of_work() as s:
        customers.set_allocation(s, OPERATOR, ca, "webex_meetings", 0)
    assert str(caught.value) == ("Webex Meetings cannot be limited to 0: 1 units are assigned. Free units first or "
                                 "choose a limit of at least that many.")


def test_remove_deletes_the_customer_and_its_rows_only(w, db):
    ca, ca1 = w.raw["ca"], w.raw["ca1"]
    before = {"name": "Asiakas Oy", "externalId": "A-CUST-1", "status": "provisioned", "country": "FI",
              "packages": {"webex_calling": 20, "webex_meetings": 50, "webex_suite": None, "webex_voice": None}}
    models = (User, Location, CustomerPackage, MeetingSite, AdminAccount, Customer)

    def counts(cid):
        with db.unit_of_work(write=False) as s:
            return [s.scalar(select(func.count()).select_from(m).where(
                (m.id if m is Customer else m.customer_id) == cid)) for m in models]

    kept = counts(ca1)
    assert all(counts(ca)) and all(kept[:3]) and kept[4:] == [1, 1]
    with db.unit_of_work() as s:
        customers.remove(s, OPERATOR, ca)
    assert counts(ca) == [0] * 6
    assert counts(ca1) == kept
    assert _events(db, "customer.delete") == [(OPERATOR.actor, "customer", ca, ca, w.raw["pa"], before, None)]
    assert _open_allocations(db, ca) == {}
    assert _open_allocations(db, ca1) != {}
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(PackageInterval).where(
            PackageInterval.customer_id == ca, PackageInterval.ended.is_(None))) == 0


def test_list_customers_filters(w, db):
    ca, ca1, cb = w.raw["ca"], w.raw["ca1"], w.raw["cb"]
    Filter = customers.CustomerFilter

    def ids(flt, **kw):
        with db.unit_of_work(write=False) as s:
            return [c.id for c in customers.list_customers(s, OPERATOR, flt, **kw)]

    assert ids(Filter()) == [ca, ca1, cb]  # by creation
    assert ids(Filter(), offset=1, limit=1) == [ca1]
    assert ids(Filter(), partner_ids=(w.raw["pa1"],)) == [ca1]
    assert ids(Filter(external_id="A1-CUST-1")) == [ca1]
    with db.unit_of_work(write=False) as s:
        org = s.get(Customer, cb).org_id
    assert ids(Filter(org_id=org)) == [cb]
    assert ids(Filter(statuses=["provisioned"])) == [ca, ca1, cb]
    assert ids(Filter(statuses=["error", "pending_customer_action"])) == []
    assert ids(Filter(search=" KUND ")) == [cb]  # the name, any case, the term trimmed
    assert ids(Filter(search="a1-cust")) == [ca1]  # the external id
    assert ids(Filter(search="oy")) == [ca, ca1]
    with db.unit_of_work() as s:  # set-up: cb made in the same instant as ca
        s.get(Customer, cb).created = s.get(Customer, ca).created
    assert ids(Filter()) == [*sorted([ca, cb]), ca1]  # then by id


def _partner_caller(s, email: str):
    from rtmhub.domain.access import service as access
    from rtmhub.domain.access.schemas import SCOPES
    account = s.scalar(select(AdminAccount).where(AdminAccount.email_key == email))
    return access.caller_for_account(s, account, frozenset(SCOPES))


def test_units_by_package_sums_limited_allocations(w, db):
    """A package every customer holds with a limit sums them; one unlimited customer makes it None."""
    with db.unit_of_work() as s:
        customers.set_allocation(s, OPERATOR, w.raw["cb"], "webex_calling", 7)  # ca 20, ca1 5
        rows = {r.package: (r.used, r.allocated, r.customers) for r in customers.units_by_package(s)}
    assert rows["webex_calling"] == (2, 32, 3)
    assert rows["webex_meetings"] == (2, None, 3)  # ca1 and cb unlimited
    assert rows["webex_suite"] == (0, None, 1)


def test_onboarding_templates_by_name_in_the_callers_reach(w, db):
    from rtmhub.domain.partners import service as partners
    with db.unit_of_work() as s:
        partners.create_template(s, OPERATOR, s.get(Partner, w.raw["pa1"]), "0 Ensin", "FI", "fi")
    with db.unit_of_work(write=False) as s:
        assert [t.name for t in customers.onboarding_templates(s, OPERATOR)] == [
            "0 Ensin", "A default", "A1 default", "B default"]
        assert [t.name for t in customers.onboarding_templates(s, _partner_caller(s, "full@a.example"))] == [
            "0 Ensin", "A default", "A1 default"]
        assert [t.name for t in customers.onboarding_templates(s, _partner_caller(s, "full@b.example"))] == [
            "B default"]


def test_package_use_names_the_package(w, db):
    with db.unit_of_work(write=False) as s:
        c = s.get(Customer, w.raw["ca"])
        assert customers.package_use(s, c, "webex_meetings").name == "Webex Meetings"
        assert [(p.id, p.name) for p in customers.package_choices(s, c)][:2] == [
            ("webex_calling", "Webex Calling"), ("webex_meetings", "Webex Meetings")]


def test_a_read_only_admin_cannot_remove_a_customer(w, db):
    from rtmhub.errors import Forbidden
    with pytest.raises(Forbidden) as caught, db.unit_of_work() as s:
        customers.remove(s, _partner_caller(s, "ro@a.example"), w.raw["ca"])
    assert str(caught.value) == "A read-only administrator cannot change anything."
    with db.unit_of_work(write=False) as s:
        assert s.get(Customer, w.raw["ca"]) is not None


def _limit(s, customer_id: str, package: str, allocation: int | None, used: int | None = None) -> None:
    row = s.scalar(select(CustomerPackage).where(CustomerPackage.customer_id == customer_id,
                                                 CustomerPackage.package == package))
    row.allocation = allocation
    if used is not None:
        row.used = used  # set-up only: the ranking reads the counters as they stand


def test_usage_summary_ranks_each_customers_fullest_package(w, db):
    """Each customer's fullest package whichever was added first; an allocation of 1 is a ratio like any other;
    six customers by default."""
    ca, ca1, cb = w.raw["ca"], w.raw["ca1"], w.raw["cb"]
    with db.unit_of_work() as s:
        _limit(s, ca, "webex_calling", 20)                  # 1/20
        _limit(s, ca, "webex_meetings", 2)                  # 1/2: ca's fullest, added after webex_calling
        _limit(s, ca1, "webex_calling", 4, used=3)          # 3/4: ca1's fullest, added first
        _limit(s, ca1, "webex_meetings", 8)                 # 1/8
        _limit(s, cb, "webex_calling", 1, used=0)           # 0/1
    with db.unit_of_work(write=False) as s:
        got = [(c.customer_id, c.package, c.used, c.allocation, c.ratio)
               for c in customers.usage_summary(s, OPERATOR).nearest_full]
    assert got == [(ca1, "webex_calling", 3, 4, 0.75), (ca, "webex_meetings", 1, 2, 0.5), (cb, "webex_calling", 0, 1,
                                                                                            0.0)]
    for n in range(4):
        _provision(db, w, _body(w, ["webex_meetings"], external_id=f"A-MUT-R{n}", limits={"webex_meetings": 10}))
    with db.unit_of_work(write=False) as s:
        assert len(customers.usage_summary(s, OPERATOR).nearest_full) == 6
        assert len(customers.usage_summary(s, OPERATOR, nearest=7).nearest_full) == 7


def test_usage_summary_breaks_ties_by_name_then_id(w, db):
    ca, ca1, cb = w.raw["ca"], w.raw["ca1"], w.raw["cb"]
    by_id = sorted([ca, ca1, cb])
    with db.unit_of_work() as s:
        for cid in (ca, ca1, cb):
            _limit(s, cid, "webex_calling", 2, used=1)  # every customer at 0.5
            _limit(s, cid, "webex_meetings", None)
        # Names in the reverse order of the ids, then two of them the same.
        for cid, name in zip(by_id, ("C Oy", "B Oy", "A Oy"), strict=True):
            s.get(Customer, cid).name = name
    with db.unit_of_work(write=False) as s:
        assert [c.customer_id for c in customers.usage_summary(s, OPERATOR).nearest_full] == by_id[::-1]
    with db.unit_of_work() as s:
        for cid in by_id:
            s.get(Customer, cid).name = "Sama Oy"
    with db.unit_of_work(write=False) as s:
        assert [c.customer_id for c in customers.usage_summary(s, OPERATOR).nearest_full] == by_id


def test_usage_summary_of_a_partner_without_customers(w, db):
    from rtmhub.domain.access.schemas import Caller
    from rtmhub.domain.partners import service as partners
    with db.unit_of_work() as s:
        empty = partners.create_partner(s, OPERATOR, "Partner C").id
    caller = Caller(actor="c@example", role="partner_full_admin", partner_id=empty, partner_ids=(empty,))
    with db.unit_of_work(write=False) as s:
        summary = customers.usage_summary(s, caller)
    assert (summary.customer_count, summary.totals, summary.nearest_full) == (0, [], [])


def test_remove_and_set_allocation_keep_to_the_callers_reach(w, db):
    """On behalf of sub-partner A1, partner A's own customer is out of reach; a read-only admin changes nothing."""
    from rtmhub.errors import Forbidden
    with pytest.raises(NotFound), db.unit_of_work() as s:
        customers.remove(s, OPERATOR, w.raw["ca"], (w.raw["pa1"],))
    with pytest.raises(Forbidden) as caught, db.unit_of_work() as s:
        customers.set_allocation(s, _partner_caller(s, "ro@a.example"), w.raw["ca"], "webex_meetings", 60)
    assert str(caught.value) == "A read-only administrator cannot change anything."
    assert _packages(db, w.raw["ca"])["webex_meetings"] == 50
    with db.unit_of_work() as s:
        customers.remove(s, OPERATOR, w.raw["ca1"], (w.raw["pa1"],))
    with db.unit_of_work(write=False) as s:
        assert s.get(Customer, w.raw["ca"]) is not None and s.get(Customer, w.raw["ca1"]) is None


def test_update_refusals(w, db):
    ca = w.raw["ca"]
    packages = ["webex_calling", "webex_meetings", "webex_suite", "webex_voice"]
    with pytest.raises(ValidationFailed) as caught:
        _update(db, w, ca, packages=[])
    assert problems(caught.value) == [("packages", "packages must list at least one package.", None)]
    with pytest.raises(ValidationFailed) as caught:
        _update(db, w, ca, packages=packages, provisioningParameters={"packages": {"limits": {"webex_meetings": -1}}})
    assert problems(caught.value) == [
        (LIMITS, "The limit of webex_meetings must be a whole number from 0 to 10000000 (got -1).", None)]
    with pytest.raises(NotFound):  # on behalf of sub-partner A1, A's own customer is out of reach
        with db.unit_of_work() as s:
            customers.update(s, OPERATOR, ca, CustomerUpdate.model_validate({"packages": packages}), (w.raw["pa1"],))
    with db.unit_of_work() as s:  # A1's own customer is reached on its behalf
        customers.update(s, OPERATOR, w.raw["ca1"], CustomerUpdate.model_validate(
            {"packages": ["webex_calling", "webex_meetings"], "externalId": "A1-CUST-1B"}), (w.raw["pa1"],))
    with db.unit_of_work() as s:
        s.scalar(select(CustomerPackage).where(CustomerPackage.customer_id == ca,
                                               CustomerPackage.package == "webex_suite")).used = 2  # set-up
    with pytest.raises(Conflict) as caught:
        _update(db, w, ca, packages=["webex_calling", "webex_meetings", "webex_voice"])
    assert str(caught.value) == ("2 users hold Webex Suite; give them another package before removing webex_suite "
                                 "from the customer.")
    with db.unit_of_work(write=False) as s:
        c = s.get(Customer, ca)
        assert (c.external_id, c.address_line1, c.city, c.meetings_timezone) == (
            "A-CUST-1", "Mannerheimintie 1", "Helsinki", "Europe/Helsinki")


def test_update_adds_the_first_location_and_the_meeting_site(w, db):
    """A customer without a location gains one with its first calling package (and needs it given); a customer
    without a meeting site gains one with its first meeting package. Leaving the address out keeps it."""
    body = _body(w, ["webex_calling"])
    cid = _provision(db, w, {**body, "packages": ["webex_ai_agent"],
                             "provisioningParameters": {"meetings": {"timezone": "Europe/Oslo"}}})
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(Location.id).where(Location.customer_id == cid)) is None
        assert s.scalar(select(MeetingSite.id).where(MeetingSite.customer_id == cid)) is None
    with pytest.raises(ValidationFailed) as caught:
        _update(db, w, cid, packages=["webex_ai_agent", "webex_voice"])
    assert problems(caught.value) == [(
        "provisioningParameters.calling.location",
        "Calling packages need provisioningParameters.calling.location (name, address, timezone, language) for the "
        "first location.", None)]
    location = body["provisioningParameters"]["calling"]
    _update(db, w, cid, packages=["webex_ai_agent", "webex_voice", "webex_meetings"],
            provisioningParameters={"calling": location})
    with db.unit_of_work(write=False) as s:
        c = s.get(Customer, cid)
        loc = s.scalar(select(Location).where(Location.customer_id == cid))
        assert (loc.name, loc.city, loc.time_zone, loc.preferred_language) == (
            "Helsinki HQ", "Helsinki", "Europe/Helsinki", "fi_fi")
        site = s.scalar(select(MeetingSite).where(MeetingSite.customer_id == cid))
        assert site.url == c.preferred_site_url == f"mutaatio-oy-{ids.short(c.org_id)}.webex.com"
        assert site.timezone == "Europe/Oslo"
        assert (c.address_line1, c.city, c.country, c.meetings_timezone) == (
            "Mannerheimintie 1", "Helsinki", "FI", "Europe/Oslo")
    # With a location, more calling packages need none; the one location stays the only one.
    _update(db, w, cid, packages=["webex_ai_agent", "webex_voice", "webex_meetings", "webex_calling"])
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Location).where(Location.customer_id == cid)) == 1
        assert s.scalar(select(func.count()).select_from(MeetingSite).where(MeetingSite.customer_id == cid)) == 1


def test_list_customers_gives_a_hundred_by_default(w, db):
    with db.unit_of_work() as s:  # set-up: 98 plain customer rows of partner A beside the world's three
        s.add_all(Customer(partner_id=w.raw["pa"], name=f"Rivi {n}", primary_email=f"r{n}@rivi.example",
                           address_line1="Katu 1", city="Helsinki", country="FI", external_id=f"R-{n}")
                  for n in range(98))
    with db.unit_of_work(write=False) as s:
        assert len(customers.list_customers(s, OPERATOR, customers.CustomerFilter())) == 100
        assert len(customers.list_customers(s, OPERATOR, customers.CustomerFilter(), limit=None)) == 101


def test_packages_in_the_order_they_were_added_then_by_name(w, db):
    """A package added later comes last even when its name sorts first; two added in the same instant go by
    name."""
    ca = w.raw["ca"]
    _update(db, w, ca, packages=["webex_calling", "webex_meetings", "webex_suite", "webex_voice", "cx_essentials"])
    added = ["webex_calling", "webex_meetings", "webex_suite", "webex_voice", "cx_essentials"]

    def orders():
        with db.unit_of_work(write=False) as s:
            return ([p.package for p in customers.packages_of(s, ca)],
                    [p.package for p in customers.packages_by_customer(s, OPERATOR, [ca])[ca]])

    assert orders() == (added, added)
    with db.unit_of_work() as s:  # set-up: cx_essentials made in the same instant as webex_voice
        rows = {p.package: p for p in s.scalars(select(CustomerPackage).where(CustomerPackage.customer_id == ca))}
        rows["cx_essentials"].created = rows["webex_voice"].created
    tied = ["webex_calling", "webex_meetings", "webex_suite", "cx_essentials", "webex_voice"]
    assert orders() == (tied, tied)
