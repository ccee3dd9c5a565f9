"""Issue 9, R5 in a real browser (headless Debian chromium): a partner onboards a customer, copies the
first administrator's one-time set-password link from the result page, and the administrator sets its
password through it and signs in; the link then no longer works."""
from __future__ import annotations

import re

import pytest

from rtmhub.demo import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.web.conftest import Shots
from tests.web.test_browser import sign_in

pytestmark = pytest.mark.usefixtures("clean_artifacts")
NEW_PASSWORD = "marble otter sings at dawn"


@pytest.mark.parametrize("lang", ["en", "fi"])
def test_first_admin_sets_its_password_through_the_onboarding_link(context, web_server, lang):
    shot = Shots(lang)
    page = context.new_page()
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD, lang)
    page.wait_for_url(re.compile(r"/$"))
    page.goto("/customers/new")
    email = f"paakayttaja.{lang}@selain.example"
    page.locator("#f-name").fill(f"Selain {lang} Oy")
    page.locator("#f-primaryEmail").fill(email)
    page.locator("#f-externalId").fill(f"R5-BROWSER-{lang}")
    page.locator("#f-addressLine1").fill("Esplanadi 1")
    page.locator("#f-city").fill("Helsinki")
    page.locator("#f-pkg-webex_meetings").check()
    page.locator("form[action='/customers/new'] button[type=submit]").click()
    link_box = page.locator("#set-password-link")
    link_box.wait_for()
    assert email in page.content()
    link = link_box.input_value()
    assert "/set-password/" in link
    shot(page, "onboarded-with-set-password-link")
    page.locator("form[action='/signout'] button").click()
    page.wait_for_url(re.compile(r"/signin"))

    page.goto("/" + link.split("/", 3)[3])
    assert email in page.content()
    shot(page, "set-password")
    page.locator("#f-password").fill(NEW_PASSWORD)
    page.locator("#f-password2").fill(NEW_PASSWORD)
    page.locator("button[type=submit].primary").click()
    page.locator("#signin-notice").wait_for()
    shot(page, "password-set-sign-in")
    sign_in(page, email, NEW_PASSWORD, lang)
    page.wait_for_url(re.compile(r"/hub/users$"))

    page.goto("/" + link.split("/", 3)[3])
    assert page.locator("#link-invalid").is_visible()
    shot(page, "set-password-link-used")
