"""The directory synchronisation page in a real browser (headless Debian chromium), in English and Finnish:
enable, create a token (shown once), map a directory group to Webex Meetings with one unit left (one member
gets it, one waits), read the sync events, disable. Each language uses a customer of its own."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.web.conftest import FOREIGN_ADMIN, OPERATOR, Shots
from tests.web.test_browser import sign_in

from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.schemas import CustomerCreate
from rtmhub.domain.directory import groups
from rtmhub.domain.directory import service as directory
from rtmhub.domain.partners.models import OnboardingTemplate, Partner
from rtmhub.domain.users import service as users
from rtmhub.domain.users.schemas import UserFields

pytestmark = pytest.mark.usefixtures("clean_artifacts")

WORDS = {
    "en": {"enable": "Enable", "token": "Create token", "map": "Map", "disable": "Disable", "on": "On", "off": "Off",
           "waiting": "Webex Meetings full: 1 user waiting", "group": "Group", "package": "Package",
           "title": "Directory synchronisation", "wait": "Waiting for the package"},
    "fi": {"enable": "Ota käyttöön", "token": "Luo tunnus", "map": "Liitä", "disable": "Poista käytöstä",
           "on": "Käytössä", "off": "Pois käytöstä", "waiting": "Webex Meetings täynnä: 1 käyttäjä odottaa",
           "group": "Ryhmä", "package": "Paketti", "title": "Hakemistosynkronointi", "wait": "Odottaa pakettia"},
}


def directory_customer(site, lang: str) -> str:
    """A customer of the other partner with one Webex Meetings unit, whose directory sent a group of two."""
    with site.db.unit_of_work() as s:
        partner = s.scalar(select(Partner).where(Partner.name == "Other Partner"))
        template = s.scalar(select(OnboardingTemplate).where(OnboardingTemplate.partner_id == partner.id))
        customer = customers.provision(s, OPERATOR, CustomerCreate.model_validate({
            "provisioningId": template.provisioning_id, "packages": ["webex_meetings"],
            "externalId": f"DIRSYNC-{lang}",
            "address": {"addressLine1": "Storgatan 1", "city": "Stockholm", "country": "SE"},
            "customerInfo": {"name": f"Katalog AB {lang}", "primaryEmail": f"it.{lang}@katalog.example",
                             "language": "sv"},
            "provisioningParameters": {"packages": {"limits": {"webex_meetings": 1}}},
        }), (partner.id,))
        caller = directory.directory_caller(s, customer)
        group = groups.create_group(s, caller, customer, "Sales")
        for i in range(2):
            user = users.create_user(s, caller, customer, UserFields(
                email=f"member{i}.{lang}@katalog.example", first_name=f"Member{i}", last_name="Katalog"))
            groups.update_group(s, caller, customer, group, add=[user.id])
        return customer.id


@pytest.mark.parametrize("lang", ["en", "fi"])
def test_directory_page(context, web_server, lang):
    w = WORDS[lang]
    shot = Shots(lang)
    cid = directory_customer(web_server.site, lang)
    page = context.new_page()
    sign_in(page, FOREIGN_ADMIN[0], FOREIGN_ADMIN[1], lang)
    page.goto(f"/customers/{cid}/hub/users/directory-sync?lang={lang}")
    assert page.locator("h1").inner_text() == w["title"]
    assert page.locator("#dirsync-state").inner_text() == w["off"]
    assert "/identity/scim/" in page.locator("#scim-url").inner_text()
    shot(page, "directory-off")
    page.get_by_role("button", name=w["enable"], exact=True).click()
    assert page.locator("#dirsync-state").inner_text() == w["on"]
    page.get_by_role("button", name=w["token"], exact=True).click()
    token = page.locator("#token-value").inner_text()
    assert token.startswith("rtm_")
    shot(page, "directory-token")
    page.get_by_label(w["group"], exact=True).select_option("Sales")
    page.get_by_label(w["package"], exact=True).select_option("webex_meetings")
    page.get_by_role("button", name=w["map"], exact=True).click()
    assert w["waiting"] in page.locator("#waiting-webex_meetings").inner_text()
    assert page.locator("#mappings tbody tr").count() == 1
    assert page.locator("#events tbody tr").count() >= 4  # enable, token, map, grant, wait
    newest = page.locator("#events tbody tr").first.inner_text()
    assert w["wait"] in newest and f"member1.{lang}@" in newest  # the one who joined first got the unit
    assert token not in page.content()  # shown once
    shot(page, "directory-mapped")
    page.get_by_role("button", name=w["disable"], exact=True).click()
    assert page.locator("#dirsync-state").inner_text() == w["off"]
    page.close()
