"""A realistic, deterministic demo data set, loaded through the domain services only.

``load_demo`` runs in the caller's unit of work (it never commits) and returns the sign-in
information to show the operator. The same input always gives the same names, numbers and
allocations (seeded random), so screenshots and scripts can rely on them.
"""
from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from rtmhub import ids
from rtmhub.db import utcnow
from rtmhub.demo_history import Holder, backdate
from rtmhub.domain.access import service as access
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.schemas import CustomerCreate
from rtmhub.domain.locations import service as locations
from rtmhub.domain.locations.schemas import LocationCreate
from rtmhub.domain.packages.models import CALLING_PACKAGES, PACKAGES
from rtmhub.domain.partners import service as partners
from rtmhub.domain.users import service as users
from rtmhub.domain.users.schemas import UserFields

DEMO_URL = "http://127.0.0.1:8000"
PARTNER_NAME = "Demo Partner"
SUB_PARTNER_NAME = "Demo Sub-Partner"
ADMIN_EMAIL = "admin@demo-partner.example"
ADMIN_PASSWORD = "demo-partner-2026"
READONLY_EMAIL = "readonly@demo-partner.example"
READONLY_PASSWORD = "demo-viewer-2026"  # the policy refuses passwords holding the e-mail's name
CUSTOMER_ADMIN_PASSWORD = "demo-customer-2026"
SEED = 20260101

FIRST_NAMES = (
    "Aino", "Eero", "Elina", "Yrjö", "Väinö", "Kyösti", "Matti", "Liisa", "Jussi", "Päivi", "Hannu", "Sirkka",
    "Tuomas", "Minna", "Åsa", "Björn", "Mikko", "Sanna", "Åke", "Kaisa", "Pekka", "Riikka", "Ville", "Hilkka",
    "Antti", "Johanna", "Ilkka", "Tiina", "Märta", "Oskari", "Henna", "Lauri", "Saara", "Jyrki", "Eveliina",
    "Tapio", "Pirjo", "Kalle", "Kristiina", "Sämpsä", "Niilo", "Helmi", "Veeti", "Seija", "Göran", "Ylva",
)
LAST_NAMES = (
    "Mäkinen", "Järvinen", "Hämäläinen", "Lähteenmäki", "Söderström", "Kärkkäinen", "Virtanen", "Korhonen",
    "Nieminen", "Mäkelä", "Heikkinen", "Koskinen", "Lehtonen", "Räsänen", "Pöyhönen", "Väisänen",
    "Åberg", "Öhman", "Lindqvist", "Salminen", "Heinonen", "Ylönen", "Kivelä", "Jääskeläinen", "Törmä",
    "Ström", "Björklund", "Lyytikäinen", "Hyvönen", "Kähkönen", "Tähtinen", "Saarinen",
)
DEPARTMENTS = ("Myynti", "Talous", "Asiakaspalvelu", "Tuotanto", "Hallinto", "Logistiikka", "IT")
TITLES = ("Asiantuntija", "Päällikkö", "Suunnittelija", "Koordinaattori", "Myyjä", "Johtaja", "Assistentti")


@dataclass
class _Site:
    name: str
    address: str
    city: str
    postal_code: str
    number_prefix: str  # E.164 prefix; a user's number is prefix + 4 digits
    extension_start: int


@dataclass
class _CustomerPlan:
    key: str
    name: str
    domain: str
    external_id: str
    sub_partner: bool
    packages: dict[str, int | None]  # allocation per package; None = unlimited
    users: dict[str, int]  # how many users get each package
    sites: list[_Site] = field(default_factory=list)


PLANS = (
    _CustomerPlan(
        key="mattila", name="Kahvila Mattila & Pojat Oy", domain="mattila", external_id="DEMO-1001",
        sub_partner=False,
        packages={"webex_calling": 50, "webex_meetings": 30, "common_area_calling": 5},
        users={"webex_calling": 48, "webex_meetings": 20},
        sites=[_Site("Helsinki Kallio", "Hämeentie 42", "Helsinki", "00530", "+35891230", 2000)],
    ),
    _CustomerPlan(
        key="pohjola", name="Pohjolan Rakennus ja Sähkö Oy", domain="pohjolan-rakennus", external_id="DEMO-1002",
        sub_partner=False,
        packages={"webex_suite": 100, "webex_calling_standard": 40, "webex_meetings": None},
        users={"webex_suite": 45, "webex_calling_standard": 15, "webex_meetings": 20},
        sites=[
            _Site("Tampere Hervanta", "Insinöörinkatu 23", "Tampere", "33720", "+35832450", 3000),
            _Site("Oulu Linnanmaa", "Yliopistokatu 9", "Oulu", "90570", "+35885120", 5000),
        ],
    ),
    _CustomerPlan(
        key="saaristo", name="Saariston Logistiikka Ab", domain="saaristo-logistiikka", external_id="DEMO-2001",
        sub_partner=True,
        packages={"webex_voice": 60, "webex_meetings": 25, "cx_essentials": 10},
        users={"webex_voice": 30, "webex_meetings": 15, "cx_essentials": 7},
        sites=[_Site("Turku Satama", "Linnankatu 90", "Turku", "20100", "+35822740", 4000)],
    ),
)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum() or c == "-")


def _address(site: _Site) -> dict[str, Any]:
    return {"addressLine1": site.address, "city": site.city, "zipOrPostalCode": site.postal_code, "country": "FI"}


def load_demo(session: Session, caller: Caller) -> dict[str, Any]:
    """Create the demo partner, sub-partner, templates, customers, locations, users and admins."""
    rng = random.Random(SEED)
    partner = partners.create_partner(session, caller, PARTNER_NAME)
    sub = partners.create_partner(session, caller, SUB_PARTNER_NAME, parent=partner, state="active")
    template = partners.create_template(session, caller, partner, "Suomi (FI)", "FI", "fi")
    sub_template = partners.create_template(session, caller, sub, "Sub-partner Suomi (FI)", "FI", "fi")
    access.create_admin(session, caller, email=ADMIN_EMAIL, role="partner_full_admin", password=ADMIN_PASSWORD,
                        partner=partner.id)
    access.create_admin(session, caller, email=READONLY_EMAIL, role="partner_readonly_admin",
                        password=READONLY_PASSWORD, partner=partner.id)

    used_emails: set[str] = set()
    summary: list[dict[str, Any]] = []
    customer_admin = None
    now = utcnow()
    for index, plan in enumerate(PLANS):
        owner, tpl = (sub, sub_template) if plan.sub_partner else (partner, template)
        first_site = plan.sites[0]
        data = CustomerCreate.model_validate({
            "provisioningId": tpl.provisioning_id,
            "packages": list(plan.packages),
            "externalId": plan.external_id,
            "address": _address(first_site),
            "customerInfo": {"name": plan.name, "primaryEmail": f"it@{plan.domain}.example", "language": "fi"},
            "provisioningParameters": {
                "calling": {"location": {
                    "name": first_site.name, "address": _address(first_site), "timezone": "Europe/Helsinki",
                    "language": "fi_FI",
                }},
                "meetings": {"timezone": "Europe/Helsinki"},
                "packages": {"limits": {k: v for k, v in plan.packages.items() if v is not None}},
            },
        })
        customer = customers.provision(session, caller, data, partner_ids=(owner.id,))
        site_locations = [locations.list_locations(session, customer)[0]]
        for site in plan.sites[1:]:
            site_locations.append(locations.create_location(session, caller, customer, LocationCreate.model_validate({
                "name": site.name, "timeZone": "Europe/Helsinki", "preferredLanguage": "fi_FI",
                "announcementLanguage": "fi_FI",
                "address": {"address1": site.address, "city": site.city, "postalCode": site.postal_code,
                            "country": "FI"},
            })))

        counters = [0] * len(plan.sites)
        created = 0
        holders: list[Holder] = []
        for package, count in plan.users.items():
            for _ in range(count):
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                local = f"{_ascii(first)}.{_ascii(last)}"
                email, n = f"{local}@{plan.domain}.example", 2
                while email in used_emails:
                    email, n = f"{local}{n}@{plan.domain}.example", n + 1
                used_emails.add(email)
                fields: dict[str, Any] = {
                    "email": email, "first_name": first, "last_name": last, "package": package,
                    "basic_messaging": True, "basic_space_meetings": True, "call_on_webex": True,
                    "department": rng.choice(DEPARTMENTS), "title": rng.choice(TITLES), "language": "fi_FI",
                    "timezone": "Europe/Helsinki", "jabber_calling": True,
                }
                if PACKAGES[package].meetings and customer.preferred_site_url:
                    fields["preferred_site_url"] = customer.preferred_site_url  # R23
                if package in CALLING_PACKAGES:
                    i = rng.randrange(len(plan.sites))
                    site = plan.sites[i]
                    fields["extension"] = str(site.extension_start + counters[i] + 1)
                    if rng.random() < 0.85:  # some calling users have only an extension
                        fields["phone_number"] = f"{site.number_prefix}{counters[i] + 101:04d}"
                    fields["location_id"] = site_locations[i].id
                    counters[i] += 1
                user = users.create_user(session, caller, customer, UserFields(**fields))
                holders.append(Holder(user.id, user.email, package))
                created += 1
        # A history of its own random stream, so the users above stay the same as before it existed.
        history = random.Random(SEED + index)
        gone = [f"{_ascii(history.choice(FIRST_NAMES))}.{_ascii(history.choice(LAST_NAMES))}.{n}@{plan.domain}.example"
                for n in range(1, len(holders) + 1)]
        backdate(session, customer, holders, history, now, gone)
        if customer_admin is None:
            customer_admin = f"admin@{plan.domain}.example"
            access.create_admin(session, caller, email=customer_admin, role="customer_full_admin",
                                password=CUSTOMER_ADMIN_PASSWORD, customer=customer.id)
        summary.append({"name": customer.name, "id": ids.encode("CUSTOMER", customer.id), "users": created})

    return {
        "url": DEMO_URL,
        "email": ADMIN_EMAIL,
        "password": ADMIN_PASSWORD,
        "readonly_email": READONLY_EMAIL,
        "readonly_password": READONLY_PASSWORD,
        "customer_admin_email": customer_admin,
        "customer_admin_password": CUSTOMER_ADMIN_PASSWORD,
        "partner": PARTNER_NAME,
        "sub_partner": SUB_PARTNER_NAME,
        "customers": summary,
        "users": sum(c["users"] for c in summary),
    }
