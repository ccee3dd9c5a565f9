"""Accessibility: axe-core (WCAG 2.1 A and AA rules) on every page of the seed path and the Control Hub.

axe-core comes from the npm registry (tests/web/package.json, installed by the ``axe_source`` fixture).
Each page, including the states that show form errors, is checked once per language; any violation of
impact serious or critical fails the test, listed with its rule, the elements and axe's help text.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy import select

from rtmhub.demo import ADMIN_EMAIL, ADMIN_PASSWORD
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.locations.models import Location
from rtmhub.domain.users.models import User
from tests.web.test_browser import sign_in

WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")
RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                                      targets: v.nodes.map(n => n.target.join(" "))}));
}"""


class Axe:
    """Runs axe on the page as it stands and keeps the serious and critical findings per page."""

    def __init__(self, source: str):
        self.source = source
        self.found: list[str] = []
        self.checked: list[str] = []

    def __call__(self, page, label: str) -> None:
        page.wait_for_load_state()
        # page.evaluate goes through the DevTools protocol, which the page's Content-Security-Policy
        # does not govern; the pages themselves keep their strict policy.
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(self.source)
        self.checked.append(label)
        for v in page.evaluate(RUN_AXE, WCAG):
            if v["impact"] in BLOCKING:
                self.found.append(f"{label} ({page.url}): [{v['impact']}] {v['id']}: {v['help']}\n"
                                  f"    elements: {', '.join(v['targets'])}\n    see {v['helpUrl']}")

    def assert_clean(self) -> None:
        assert not self.found, (f"{len(self.found)} serious or critical accessibility violation(s) on "
                                f"{len(self.checked)} pages:\n" + "\n".join(self.found))


def _submit(page, form: str = "main form[method=post]") -> None:
    """Send a form that must be refused, and check that it came back showing its errors."""
    with page.expect_navigation():
        page.locator(f"{form} button[type=submit]").last.click()
    assert page.locator("main [role=alert]").count() and page.locator("main [aria-invalid=true]").count(), \
        f"{page.url} did not come back with errors"


@pytest.mark.parametrize("lang", ["en", "fi"])
def test_pages_have_no_serious_accessibility_violations(context, web_server, axe_source, lang):
    site = web_server.site
    axe = Axe(axe_source)
    page = context.new_page()
    cid = site.ids.pohjola
    hub = f"/customers/{cid}/hub"
    with site.db.unit_of_work(write=False) as s:
        site_url = s.get(Customer, cid).preferred_site_url
        uid = s.scalars(select(User.id).where(User.customer_id == cid, User.package == "webex_meetings")
                       .order_by(User.created, User.id)).first()
        lid = s.scalars(select(Location.id).where(Location.customer_id == cid).order_by(Location.name)).first()

    # Sign-in, refused first: the error state.
    page.goto(f"/signin?lang={lang}")
    axe(page, "sign-in")
    sign_in(page, ADMIN_EMAIL, "not the password", lang)
    page.locator("#signin-error").wait_for()
    axe(page, "sign-in refused")
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD, lang)
    page.wait_for_url(re.compile(r"/$"))
    axe(page, "Partner Hub home")

    for path, label in [("/customers", "customers"), ("/customers/new", "onboarding"),
                        (f"/customers/{cid}", "customer"), (f"/customers/{cid}/allocations", "allocations"),
                        ("/templates", "onboarding templates"), ("/sub-partners", "sub-partners"),
                        ("/reports", "reports"), ("/audit", "audit log"), ("/tasks", "tasks")]:
        page.goto(path)
        axe(page, label)
        if label == "onboarding":
            _submit(page)
            axe(page, "onboarding with errors")
        elif label == "allocations":
            page.locator("main form input[type=number]").first.fill("-1")
            _submit(page)
            axe(page, "allocations with errors")

    # The Control Hub.
    for path, label in [(f"{hub}/users", "hub users"), (f"{hub}/users/manage", "hub manage users"),
                        (f"{hub}/users/{uid}", "hub user"), (f"{hub}/users/{uid}/package", "hub package change"),
                        (f"{hub}/users/directory-sync", "hub directory sync"), (f"{hub}/licences", "hub licences"),
                        (f"{hub}/locations", "hub locations"), (f"{hub}/locations/{lid}", "hub location"),
                        (f"{hub}/locations/new", "hub new location"), (f"{hub}/settings", "hub settings"),
                        (f"{hub}/tasks", "hub tasks"), (f"{hub}/audit", "hub audit log"),
                        (f"{hub}/users/add", "hub manual add"), (f"{hub}/users/csv", "hub CSV")]:
        page.goto(path)
        axe(page, label)
        if label == "hub new location":
            _submit(page)
            axe(page, "hub new location with errors")
        elif label == "hub settings":
            page.fill("#f-name", "")
            _submit(page)
            axe(page, "hub settings with errors")
        elif label == "hub package change":
            page.locator("#f-package-webex_calling_standard").check()
            _submit(page, "#package-form")
            axe(page, "hub package change with errors")
        elif label == "hub manual add":
            page.fill("#f-r0-firstName", "Virhe")
            page.fill("#f-r0-email", "not-an-email")
            _submit(page, "#add-form")
            axe(page, "hub manual add with errors")
        elif label == "hub CSV":
            _submit(page)
            axe(page, "hub CSV without a file")

    # A CSV preview task (never applied) and its page.
    page.goto(f"{hub}/users/csv")
    csv_text = ("User ID/Email (Required),First Name,Last Name,Jabber Calling,Jabber with Webex Teams,"
                "Preferred Webex Site,Webex Meetings\r\n"
                f"a11y.{lang}@pohjolan-rakennus.example,Saavu,Tettava,FALSE,FALSE,{site_url},TRUE\r\n"
                f"not-an-email,Väärä,Osoite,FALSE,FALSE,{site_url},TRUE\r\n")  # a preview with an error row
    page.set_input_files("#f-file", files=[{"name": "a11y.csv", "mimeType": "text/csv",
                                            "buffer": csv_text.encode("utf-8")}])
    page.locator("#upload").click()
    page.wait_for_url(re.compile(r"/tasks/"))
    page.locator("#task[data-running='0']").wait_for(state="attached", timeout=60_000)
    axe(page, "CSV preview task")

    page.goto(f"/customers/{site.ids.foreign}")  # another partner's customer
    axe(page, "not found")
    axe.assert_clean()


# --- keyboard only ---------------------------------------------------------------------------------

DESCRIBE = """e => !e || e === document.body ? "body" : e.id ? "#" + e.id
    : e.tagName.toLowerCase() + (e.getAttribute("href") ? "[href=" + e.getAttribute("href") + "]" : "")"""
RING = """e => { const s = getComputedStyle(e);
    return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow].join(" | "); }"""
NOT_CONTROLS = ("body", "#main")  # reached by the skip link or before the first Tab, not in the tab order


class Keyboard:
    """Tab / Shift+Tab / Enter / Space only; checks that every control the walk passes shows its focus."""

    def __init__(self, page):
        self.page = page
        self.unseen: list[str] = []

    def focused(self) -> str:
        return self.page.evaluate(f"({DESCRIBE})(document.activeElement)")

    def tab(self, back: bool = False) -> str:
        before = self.page.evaluate_handle("document.activeElement")
        name = before.evaluate(DESCRIBE)
        ring = before.evaluate(RING)
        self.page.keyboard.press("Shift+Tab" if back else "Tab")
        if name not in NOT_CONTROLS and before.evaluate(RING) == ring:
            self.unseen.append(f"{name} looks the same focused and unfocused ({ring})")
        return self.focused()

    def tab_to(self, target: str, back: bool = False, limit: int = 60) -> list[str]:
        """Tab until ``target`` has the focus; the elements passed on the way, in order."""
        seen = []
        for _ in range(limit):
            seen.append(self.tab(back))
            if seen[-1] == target:
                return seen
        raise AssertionError(f"{'Shift+' if back else ''}Tab never reached {target}; it went through {seen}")

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)

    def follow(self, key: str = "Enter") -> None:
        """Press a key that loads a page (a link, a form's submit button) and wait for that page."""
        with self.page.expect_navigation():
            self.page.keyboard.press(key)

    def assert_focus_visible(self) -> None:
        assert not self.unseen, "focus is not visible on:\n" + "\n".join(self.unseen)


def in_order(seen: list[str], wanted: list[str]) -> bool:
    rest = iter(seen)
    return all(w in rest for w in wanted)


def skip_to_content(keys: Keyboard) -> None:
    """The first Tab reaches the skip link, shown on screen; Enter moves the focus into the main content."""
    assert keys.tab() == "a[href=#main]", "the first Tab must reach the skip link"
    box = keys.page.locator("a.skip").bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0, f"the focused skip link is off screen: {box}"
    keys.press("Enter")
    assert keys.focused() == "#main"


def assert_error_announced(page, keys: Keyboard, field: str) -> None:
    """The summary (role=alert) has the focus; the field is aria-invalid and described by its error text."""
    summaries = page.locator("main [role=alert], main [aria-live]")
    assert summaries.count() >= 1, f"no error summary with role=alert or aria-live on {page.url}"
    summary = summaries.first
    assert summary.inner_text().strip(), "the error summary is empty"
    assert summary.evaluate("e => e === document.activeElement"), \
        f"the error summary must take the focus; {keys.focused()} has it"
    control = page.locator(f"#{field}")
    assert control.get_attribute("aria-invalid") == "true", f"#{field} is not marked aria-invalid"
    described = (control.get_attribute("aria-describedby") or "").split()
    assert described, f"#{field} has no aria-describedby"
    texts = [page.locator(f"[id='{i}']").inner_text().strip() if page.locator(f"[id='{i}']").count() else ""
             for i in described]
    assert all(texts), f"#{field} aria-describedby={described} points at missing or empty elements: {texts}"
    error = page.locator(f"#{field} ~ .error")
    assert error.count() == 1 and error.get_attribute("id") in described, \
        f"the error shown next to #{field} is not the one its aria-describedby names"


def test_keyboard_only_manual_add_and_csv(context, web_server):
    site = web_server.site
    cid = site.ids.pohjola
    page = context.new_page()
    keys = Keyboard(page)

    # Sign in: the e-mail field has the focus on arrival.
    page.goto("/signin?lang=en")
    assert keys.focused() == "#f-email"
    page.keyboard.type(ADMIN_EMAIL)
    assert keys.tab() == "#f-password"
    page.keyboard.type(ADMIN_PASSWORD)
    keys.follow()
    page.wait_for_url(re.compile(r"/$"))

    # Manage users -> Manually add users.
    page.goto(f"/customers/{cid}/hub/users/manage")
    skip_to_content(keys)
    seen = keys.tab_to("#manual-add")
    assert seen == [f"a[href=/customers/{cid}/hub/users]", "#manual-add"], seen
    keys.follow()
    page.wait_for_url(re.compile(r"/hub/users/add$"))

    skip_to_content(keys)
    seen = keys.tab_to("#next")
    fields = [f"#f-r{i}-{f}" for i in range(5) for f in ("firstName", "lastName", "email", "package")]
    assert in_order(seen, fields + ["a[href=?rows=10]", f"a[href=/customers/{cid}/hub/users/manage]", "#next"]), seen
    assert "#f-r0-extension" not in seen, "hidden calling fields must stay out of the tab order"
    back = keys.tab_to("#f-r0-firstName", back=True)
    assert back[:-1] == list(reversed(seen[seen.index("#f-r0-firstName") + 1:-1])), "Shift+Tab is not Tab reversed"

    page.keyboard.type("Kaisa")
    keys.tab()
    page.keyboard.type("Näppäin")
    keys.tab()
    page.keyboard.type("kaisa.nappain-at-pohjola")  # not an e-mail address
    assert keys.tab() == "#f-r0-package"
    package = page.locator("#f-r0-package")
    for _ in range(package.locator("option").count()):  # a closed select steps through its options with arrows
        if package.input_value() == "webex_meetings":
            break
        keys.press("ArrowDown")
    assert package.input_value() == "webex_meetings"
    keys.tab_to("#next")
    keys.follow()
    assert_error_announced(page, keys, "f-r0-email")
    first = keys.tab()
    assert first in ("#f-site", "#f-r0-firstName"), f"after the summary the focus went to {first}"
    keys.tab_to("#f-r0-email")
    page.keyboard.type("kaisa.nappain@pohjolan-rakennus.example")  # Tab selected the old text: typing replaces it
    keys.tab_to("#next")
    keys.follow()
    page.locator("#close").wait_for()
    assert "Kaisa Näppäin" in page.locator("main").inner_text()

    # Manage users -> CSV add or edit: the form refuses no file, then takes one chosen from the keyboard.
    page.goto(f"/customers/{cid}/hub/users/manage")
    skip_to_content(keys)
    keys.tab_to("#csv-add")
    keys.follow()
    page.wait_for_url(re.compile(r"/hub/users/csv$"))
    skip_to_content(keys)
    seen = keys.tab_to("#upload")
    mode = "#" + page.locator("input[name=mode]:checked").get_attribute("id")  # a radio group is one Tab stop
    assert in_order(seen, ["#f-file", mode, f"a[href=/customers/{cid}/hub/users/manage]",
                           "#upload"]), seen
    keys.follow()
    assert_error_announced(page, keys, "f-file")
    assert keys.tab_to("#f-file")[-1] == "#f-file"
    with site.db.unit_of_work(write=False) as s:
        site_url = s.get(Customer, cid).preferred_site_url
    csv_text = ("User ID/Email (Required),First Name,Last Name,Jabber Calling,Jabber with Webex Teams,"
                "Preferred Webex Site,Webex Meetings\r\n"
                f"tabbi.taitava@pohjolan-rakennus.example,Tabbi,Taitava,FALSE,FALSE,{site_url},TRUE\r\n")
    chooser = None
    for _ in range(2):
        # Space on the focused file field opens the chooser. On a loaded machine Chromium has been seen to drop
        # the first press (no chooser within 15 s, the field still focused): a person would press again.
        try:
            with page.expect_file_chooser(timeout=15_000) as opened:
                keys.press("Space")
            chooser = opened.value
            break
        except PlaywrightTimeoutError:
            assert keys.focused() == "#f-file"
    assert chooser is not None, "Space on the focused file field opened no file chooser"
    chooser.set_files(files=[{"name": "keyboard.csv", "mimeType": "text/csv", "buffer": csv_text.encode("utf-8")}])
    keys.tab_to("#upload")
    keys.follow()
    page.wait_for_url(re.compile(r"/tasks/"))
    page.locator("#task[data-running='0']").wait_for(state="attached", timeout=60_000)
    assert page.locator("#rows tbody tr").count() == 1
    skip_to_content(keys)
    keys.tab_to("#apply")
    keys.follow()
    page.wait_for_url(re.compile(r"/tasks/"))
    page.locator("#task[data-running='0']").wait_for(state="attached", timeout=60_000)
    assert page.locator("#c-added").inner_text() == "1"
    keys.assert_focus_visible()
