"""Issue 8: in a real browser, the pages and /docs run under the Content-Security-Policy without a single
violation, and /docs and /redoc fetch nothing from another host."""
from __future__ import annotations

import re

from rtmhub.demo import ADMIN_EMAIL, ADMIN_PASSWORD


def watch(page) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    fetched: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "Content Security" in m.text
            else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: fetched.append(r.url))
    return problems, fetched


def test_pages_and_docs_run_under_the_policy(context, web_server):
    site = web_server.site
    page = context.new_page()
    problems, fetched = watch(page)
    page.goto("/signin?lang=en")
    page.fill("#f-email", ADMIN_EMAIL)
    page.fill("#f-password", ADMIN_PASSWORD)
    page.locator("form[action='/signin'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$"))
    for path in ("/", "/customers", f"/customers/{site.ids.mattila}", f"/customers/{site.ids.mattila}/hub/users/add",
                 "/tasks"):
        page.goto(path)
    # the page script runs: choosing a calling package shows the calling fields
    page.goto(f"/customers/{site.ids.mattila}/hub/users/add")
    page.select_option("#f-r0-package", "webex_calling")
    assert page.locator("[data-calling-for='0']").is_visible()
    assert not problems, problems

    page.goto("/docs")
    page.locator(".opblock").first.wait_for(timeout=30_000)  # Swagger UI rendered the operations
    assert not problems, problems
    page.goto("/redoc")
    page.locator("redoc h1, [role=navigation], .menu-content").first.wait_for(timeout=30_000)
    outside = [u for u in fetched if not u.startswith(web_server.url) and not u.startswith(("data:", "blob:"))]
    # Redoc's bundle asks a CDN for its logo; the policy blocks it before anything leaves the browser
    assert all("redoc.ly" in u for u in outside), outside
    assert all("redoc.ly" in p for p in problems), problems
