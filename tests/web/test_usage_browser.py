"""The usage charts and billing reports in a real browser (headless Debian chromium), in English and Finnish,
over the demo data set and its ninety days of ledger history."""
from __future__ import annotations

import re

import pytest

from rtmhub.demo import ADMIN_EMAIL, ADMIN_PASSWORD, CUSTOMER_ADMIN_PASSWORD
from tests.web.conftest import Shots
from tests.web.test_browser import sign_in

pytestmark = pytest.mark.usefixtures("clean_artifacts")

WORDS = {
    "en": {"reports": "Reports", "title": "Units in use per package", "licences": "Licences",
           "table": "Daily figures as a table", "create": "Create report", "completed": "Completed",
           "download": "Download CSV", "delete": "Delete", "deleted": "The billing report was deleted."},
    "fi": {"reports": "Raportit", "title": "Käytössä olevat yksiköt paketeittain", "licences": "Lisenssit",
           "table": "Päivittäiset luvut taulukkona", "create": "Luo raportti", "completed": "Valmis",
           "download": "Lataa CSV", "delete": "Poista", "deleted": "Laskutusraportti poistettiin."},
}
DEMO_PACKAGES = {"webex_calling", "webex_calling_standard", "webex_suite", "webex_voice", "webex_meetings",
                 "cx_essentials"}


def lines_drawn(page) -> dict[str, list[float]]:
    """The y of every point of each package's line, as the browser has it."""
    out = {}
    for line in page.locator("svg.usage-chart polyline.series").all():
        points = line.get_attribute("points").split()
        out[line.get_attribute("data-package")] = [float(p.split(",")[1]) for p in points]
        box = line.bounding_box()
        assert box and box["width"] > 100  # laid out and drawn across the chart
    return out


@pytest.mark.parametrize("lang", ["en", "fi"])
def test_reports_page_and_licences_page_draw_the_history(context, web_server, lang):
    w = WORDS[lang]
    shot = Shots(lang)
    site = web_server.site
    page = context.new_page()
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD, lang)
    page.wait_for_url(re.compile(r"/$"))

    # Partner Hub -> Reports: one line per package over 90 days, with history (the lines are not flat)
    page.get_by_role("link", name=w["reports"], exact=True).click()
    page.wait_for_url(re.compile(r"/reports$"))
    chart = page.get_by_role("img", name=w["title"])
    assert chart.count() == 1
    drawn = lines_drawn(page)
    assert set(drawn) == DEMO_PACKAGES
    assert all(len(ys) == 90 for ys in drawn.values())
    assert any(len(set(ys)) > 3 for ys in drawn.values()), "the demo history should make the lines move"
    assert page.locator("svg.usage-chart .legend text").count() == len(DEMO_PACKAGES)
    # the figures as a table, behind a disclosure a keyboard opens
    page.get_by_text(w["table"]).first.focus()
    page.keyboard.press("Enter")
    assert page.locator("#usage-table tbody tr").first.is_visible()
    assert page.locator("#usage-table tbody tr").count() == 90
    assert page.locator("#customer-usage tbody tr").count() == 8  # the demo customers' packages
    shot(page, "reports")

    # a billing report through the form: the in-process worker makes it, the page downloads it
    page.locator("#create-report").click()
    page.wait_for_url(re.compile(r"/reports\?done=created"))
    row = page.locator("#billing-reports tbody tr").first
    for _ in range(60):  # the worker polls every second or so; reload until the report is made
        if page.get_by_role("link", name=w["download"]).count():
            break
        page.wait_for_timeout(500)
        page.reload()
    assert w["completed"] in row.inner_text()
    with page.expect_download() as download_info:
        page.get_by_role("link", name=w["download"]).first.click()
    content = open(download_info.value.path(), encoding="utf-8-sig").read()
    assert "Kahvila Mattila & Pojat Oy" in content and "webex_calling" in content
    shot(page, "billing-report-made")
    page.locator("#billing-reports tbody tr").first.get_by_role("button").click()
    page.wait_for_url(re.compile(r"done=deleted"))
    assert w["deleted"] in page.content()

    # A customer's Control Hub -> Licences: its own packages only
    page.goto(f"/customers/{site.ids.mattila}/hub/users")
    page.get_by_role("link", name=w["licences"], exact=True).click()
    page.wait_for_url(re.compile(r"/hub/licences$"))
    assert page.get_by_role("img", name=w["title"]).count() == 1
    drawn = lines_drawn(page)
    assert set(drawn) == {"webex_calling", "webex_meetings"}
    assert len(set(drawn["webex_calling"])) > 3
    assert page.locator("#licence-use tbody tr").count() == 3  # calling, meetings, common area calling
    shot(page, "control-hub-licences")
    page.locator("form[action='/signout'] button").click()
    page.wait_for_url(re.compile(r"/signin"))

    # the customer's own administrator reaches its Licences page, not the Reports page
    sign_in(page, site.info["customer_admin_email"], CUSTOMER_ADMIN_PASSWORD, lang)
    page.wait_for_url(re.compile(r"/hub/users"))
    page.get_by_role("link", name=w["licences"], exact=True).click()
    page.wait_for_url(re.compile(r"/hub/licences$"))
    assert set(lines_drawn(page)) == {"webex_calling", "webex_meetings"}
    assert page.goto("/reports").status == 403
    page.goto(f"/customers/{site.ids.mattila}/hub/users")
    page.locator("form[action='/signout'] button").click()
