"""The seed's workflows in a real browser (headless Debian chromium), in English, Finnish and Swedish."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from rtmhub.demo import ADMIN_EMAIL, ADMIN_PASSWORD, CUSTOMER_ADMIN_PASSWORD, READONLY_EMAIL, READONLY_PASSWORD
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.models import Customer, CustomerPackage
from rtmhub.domain.users.models import User
from tests.web.conftest import OPERATOR, Shots

pytestmark = pytest.mark.usefixtures("clean_artifacts")

WORDS = {
    "en": {"customers": "Customers", "launch": "Launch Control Hub", "users": "Users", "manage": "Manage users",
           "manual": "Manually add users", "csv": "CSV add or edit", "next": "Next", "fully": "fully used",
           "unavailable": "unavailable", "completed_errors": "Completed with errors", "change": "Change",
           "changed": "The package was changed.", "signin": "Sign in to Partner Hub", "not_allowed": "Not allowed",
           "not_found": "Not found", "preview_done": "Completed with errors"},
    "fi": {"customers": "Asiakkaat", "launch": "Käynnistä Control Hub", "users": "Käyttäjät",
           "manage": "Käyttäjien hallinta", "manual": "Lisää käyttäjiä manuaalisesti",
           "csv": "CSV-tiedoston lisääminen tai muokkaaminen", "next": "Seuraava", "fully": "käytetty loppuun",
           "unavailable": "ei käytettävissä", "completed_errors": "Valmis, virheitä", "change": "Muuta",
           "changed": "Paketti vaihdettiin.", "signin": "Kirjaudu sisään Partner Hubiin",
           "not_allowed": "Ei sallittu", "not_found": "Ei löytynyt", "preview_done": "Valmis, virheitä"},
    "sv": {"customers": "Kunder", "launch": "Starta Control Hub", "users": "Användare",
           "manage": "Hantera användare", "manual": "Lägg till användare manuellt",
           "csv": "Lägg till eller redigera med CSV-fil", "next": "Nästa", "fully": "är förbrukat",
           "unavailable": "inte tillgängligt", "completed_errors": "Slutförd med fel", "change": "Ändra",
           "changed": "Paketet byttes.", "signin": "Logga in på Partner Hub",
           "not_allowed": "Inte tillåtet", "not_found": "Hittades inte", "preview_done": "Slutförd med fel"},
}
LABELS = {"en": ("E-mail address", "Password"), "fi": ("Sähköpostiosoite", "Salasana"),
          "sv": ("E-postadress", "Lösenord")}
# Each language's run adds its own users and numbers to the shared site.
RUN = {"en": 0, "fi": 1, "sv": 2}


def sign_in(page, email: str, password: str, lang: str) -> None:
    page.goto(f"/signin?lang={lang}")
    page.get_by_label(LABELS[lang][0]).fill(email)
    page.get_by_label(LABELS[lang][1]).fill(password)
    page.locator("form[action='/signin'] button[type=submit]").click()


def wait_task_done(page, done_text: str) -> None:
    # a locator, not wait_for_function: the Content-Security-Policy forbids evaluating strings as script
    page.locator("#task[data-running='0']").wait_for(state="attached", timeout=60_000)
    assert done_text in page.locator("#task-status").inner_text()


@pytest.mark.parametrize("lang", ["en", "fi", "sv"])
def test_partner_admin_workflows(context, web_server, lang):
    w = WORDS[lang]
    shot = Shots(lang)
    site = web_server.site
    db = site.db
    page = context.new_page()

    # Sign in -> Partner Hub home (dashboard with SVG charts).
    page.goto(f"/signin?lang={lang}")
    assert w["signin"] in page.content()
    shot(page, "sign-in")
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD, lang)
    page.wait_for_url(re.compile(r"/$"))
    assert page.locator("svg.chart").count() == 2
    shot(page, "partner-hub-home")

    # Customers -> pick the customer -> Launch Control Hub.
    page.get_by_role("link", name=w["customers"], exact=True).first.click()
    page.wait_for_url(re.compile(r"/customers$"))
    shot(page, "customers")
    page.get_by_role("link", name="Kahvila Mattila & Pojat Oy").click()
    shot(page, "customer-detail")
    page.locator("#launch").click()
    page.wait_for_url(re.compile(r"/hub/users"))
    assert "Kahvila Mattila & Pojat Oy" in page.locator("#customer-name").inner_text()
    shot(page, "control-hub-users")

    # Users -> Manage users -> Manually add users, with an over-allocation refusal.
    with db.unit_of_work() as s:
        row = s.scalar(select(CustomerPackage).where(CustomerPackage.customer_id == site.ids.mattila,
                                                     CustomerPackage.package == "webex_meetings"))
        customers.set_allocation(s, OPERATOR, site.ids.mattila, "webex_meetings", row.used + 1)
    page.locator("#manage-users").click()
    assert w["manual"] in page.content() and w["csv"] in page.content()
    shot(page, "manage-users")
    page.locator("#manual-add").click()
    page.fill("#f-r0-firstName", "Aino")
    page.fill("#f-r0-lastName", "Ääninen")
    page.fill("#f-r0-email", f"aino.aaninen.{lang}@mattila.example")
    page.select_option("#f-r0-package", "webex_meetings")
    page.fill("#f-r1-firstName", "Eero")
    page.fill("#f-r1-lastName", "Öhman")
    page.fill("#f-r1-email", f"eero.ohman.{lang}@mattila.example")
    page.select_option("#f-r1-package", "webex_meetings")
    assert page.locator("[data-calling-for='0']").is_hidden()  # calling fields only for calling packages
    shot(page, "manual-add-filled")
    page.get_by_role("button", name=w["next"]).click()
    page.wait_for_load_state()
    assert page.locator("#row-0.added").count() == 1  # the valid row was added and kept
    error = page.locator("#e-r1-package").inner_text()
    assert w["fully"] in error
    assert page.locator("#e-r2-email").count() == 0  # untouched rows are not errors
    assert w["unavailable"] in page.locator("#f-r1-package option[value=webex_meetings]").inner_text()
    assert page.locator("#f-r1-package option[value=webex_meetings]").is_disabled()
    assert page.locator("#f-r1-email").get_attribute("aria-describedby") is None  # the error is on the package
    assert page.locator("#f-r1-package").get_attribute("aria-describedby") == "e-r1-package"
    shot(page, "manual-add-over-allocation")

    # CSV add or edit with a file containing errors -> preview -> apply -> progress -> error report.
    page.goto(f"/customers/{site.ids.mattila}/hub/users/manage")
    page.locator("#csv-add").click()
    ext = f"29{RUN[lang] + 1}0"
    with db.unit_of_work(write=False) as s:
        site_url = s.get(Customer, site.ids.mattila).preferred_site_url
    csv_text = ("User ID/Email (Required),First Name,Last Name,Extension,Location,Jabber Calling,"
                "Jabber with Webex Teams,Preferred Webex Site,Webex Calling,Webex Meetings\r\n"
                f"uusi.{lang}@mattila.example,Uusi,Käyttäjä,{ext},Helsinki Kallio,FALSE,FALSE,{site_url},TRUE,FALSE\r\n"
                f"not-an-email,Väärä,Osoite,,,FALSE,FALSE,{site_url},FALSE,TRUE\r\n"
                f"liikaa.{lang}@mattila.example,Liikaa,Kokouksia,,,FALSE,FALSE,{site_url},FALSE,TRUE\r\n")
    page.set_input_files("#f-file", files=[{"name": f"users-{lang}.csv", "mimeType": "text/csv",
                                            "buffer": csv_text.encode("utf-8")}])
    shot(page, "csv-upload")
    page.locator("#upload").click()
    page.wait_for_url(re.compile(r"/tasks/"))
    wait_task_done(page, w["preview_done"])
    assert page.locator("#rows tbody tr").count() == 3
    shot(page, "csv-preview")
    page.locator("#apply").click()
    page.wait_for_url(re.compile(r"/tasks/"))
    wait_task_done(page, w["completed_errors"])
    assert page.locator("#c-failed").inner_text() == "2"
    assert page.locator("#c-added").inner_text() == "1"
    shot(page, "csv-import-done")
    with page.expect_download() as download_info:
        page.locator("#error-report").click()
    report = open(download_info.value.path(), encoding="utf-8-sig").read()
    assert "not-an-email" in report and f"liikaa.{lang}@mattila.example" in report and "Error" in report

    # Change a user's package to Webex Calling with the caller ID fields (W3).
    index = RUN[lang]
    with db.unit_of_work(write=False) as s:
        target = s.scalars(select(User).where(User.customer_id == site.ids.mattila, User.package == "webex_meetings",
                                              *(User.email.not_like(f"%.{code}@%") for code in RUN))
                           .order_by(User.created, User.id)).all()[index]
        email, uid = target.email, target.id
    page.goto(f"/customers/{site.ids.mattila}/hub/users")
    page.fill("#f-q", email)
    page.locator("form.filters button[type=submit]").click()
    page.locator(f"a[href$='/hub/users/{uid}']").click()
    shot(page, "user-detail")
    page.locator("#package-arrow").click()
    assert page.locator("[data-calling-for='package']").is_hidden()
    page.check("#f-package-webex_calling")
    assert page.locator("[data-calling-for='package']").is_visible()
    page.fill("#f-phoneNumber", f"+35891230900{RUN[lang] + 1}")
    page.fill("#f-extension", f"293{RUN[lang] + 1}")
    shot(page, "change-package")
    page.get_by_role("button", name=w["change"], exact=True).click()
    page.wait_for_url(re.compile(r"changed=1"))
    assert w["changed"] in page.content() and "Webex Calling" in page.locator("#package-arrow").inner_text()
    shot(page, "package-changed")

    # Sign out.
    page.locator("form[action='/signout'] button").click()
    page.wait_for_url(re.compile(r"/signin"))
    page.goto(f"/customers/{site.ids.mattila}/hub/users")
    assert "/signin" in page.url
    shot(page, "signed-out")


@pytest.mark.parametrize("lang", ["en", "fi", "sv"])
def test_readonly_and_customer_admin_are_kept_out(context, web_server, lang):
    w = WORDS[lang]
    shot = Shots(lang)
    site = web_server.site
    page = context.new_page()

    sign_in(page, READONLY_EMAIL, READONLY_PASSWORD, lang)
    page.wait_for_url(re.compile(r"/$"))
    page.goto(f"/customers/{site.ids.mattila}/hub/users/manage")
    assert page.locator("#manual-add").count() == 0 and page.locator("#csv-add").count() == 0
    shot(page, "readonly-manage-users")
    response = page.goto(f"/customers/{site.ids.mattila}/hub/users/add")
    assert response.status == 403 and w["not_allowed"] in page.content()
    shot(page, "readonly-refused")
    assert page.goto("/customers/new").status == 403
    page.locator("form[action='/signout'] button").click()
    page.wait_for_url(re.compile(r"/signin"))

    customer_admin = site.info["customer_admin_email"]
    sign_in(page, customer_admin, CUSTOMER_ADMIN_PASSWORD, lang)
    page.wait_for_url(re.compile(rf"/customers/{site.ids.mattila}/hub/users"))
    shot(page, "customer-admin-home")
    response = page.goto("/customers")
    assert response.status == 403 and w["not_allowed"] in page.content()
    response = page.goto(f"/customers/{site.ids.pohjola}/hub/users")
    assert response.status == 404 and w["not_found"] in page.content()
    shot(page, "customer-admin-foreign-refused")
    assert page.goto(f"/customers/{site.ids.foreign}/hub/users").status == 404
    page.locator("form[action='/signout'] button").click()


def test_phone_width(context, web_server):
    site = web_server.site
    page = context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD, "fi")
    page.wait_for_url(re.compile(r"/$"))
    page.goto(f"/customers/{site.ids.mattila}/hub/users")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the users page scrolls sideways on a phone ({width}px)"
    Shots("fi")(page, "phone-users", full_page=False)
