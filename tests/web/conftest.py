"""Browser fixtures: a demo data set served by uvicorn (with the in-process task worker) and Debian's chromium.

The browser tests use their own server rather than tests/conftest.py's ``live_server``: that one
runs without the app's lifespan, so CSV tasks would never be picked up. They run on SQLite only:
the pages are thin adapters, the services under them are tested on both databases elsewhere, and
a second browser run on PostgreSQL would double the time without covering anything new.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from rtmhub.app import create_app
from tests.conftest import serving
from rtmhub.db import Database
from rtmhub.demo import load_demo
from rtmhub.domain.access import service as access
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.customers.schemas import CustomerCreate
from rtmhub.domain.partners import service as partners
from rtmhub.migrate import upgrade
from rtmhub.settings import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
WEB_TESTS = Path(__file__).resolve().parent
AXE_JS = WEB_TESTS / "node_modules" / "axe-core" / "axe.min.js"
OPERATOR = Caller.operator("web-tests")
FOREIGN_ADMIN = ("admin@other-partner.example", "other-partner-2026")


def _foreign_customer(session) -> Customer:
    partner = partners.create_partner(session, OPERATOR, "Other Partner")
    template = partners.create_template(session, OPERATOR, partner, "Other default", "SE", "sv")
    access.create_admin(session, OPERATOR, email=FOREIGN_ADMIN[0], role="partner_full_admin",
                        password=FOREIGN_ADMIN[1], partner=partner.id)
    return customers.provision(session, OPERATOR, CustomerCreate.model_validate({
        "provisioningId": template.provisioning_id, "packages": ["webex_meetings"], "externalId": "OTHER-1",
        "address": {"addressLine1": "Storgatan 1", "city": "Stockholm", "country": "SE"},
        "customerInfo": {"name": "Främmande AB", "primaryEmail": "it@frammande.example", "language": "sv"},
    }), (partner.id,))


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory):
    """The demo data set (loaded through the domain services) plus a customer of another partner."""
    url = f"sqlite:///{tmp_path_factory.mktemp('webdb') / 'rtmhub.db'}"
    upgrade(url)
    db = Database(url)
    with db.unit_of_work() as s:
        info = load_demo(s, OPERATOR)
        foreign = _foreign_customer(s)
        mattila = s.scalar(select(Customer).where(Customer.external_id == "DEMO-1001"))
        pohjola = s.scalar(select(Customer).where(Customer.external_id == "DEMO-1002"))
        customers.set_allocation(s, OPERATOR, mattila.id, "webex_calling", 70)  # room for both language runs
        ids = SimpleNamespace(mattila=mattila.id, pohjola=pohjola.id, foreign=foreign.id)
    app = create_app(Settings(database_url=url, inprocess_worker=True), database=db)
    yield SimpleNamespace(db=db, app=app, info=info, ids=ids)
    db.dispose()


@pytest.fixture(scope="session")
def web_server(demo_site):
    """uvicorn on a free loopback port, lifespan on (the task worker thread runs)."""
    with serving(demo_site.app, lifespan="on", site=demo_site) as served:
        yield served


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does this)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (test extra)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class Shots:
    """Numbered screenshots per language: test-artifacts/screenshots/<lang>/NN-step.png."""

    counters: dict[str, int] = {}

    def __init__(self, lang: str):
        self.lang = lang
        self.folder = ARTIFACTS / lang
        self.folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, page, step: str, full_page: bool = True) -> None:
        n = Shots.counters.get(self.lang, 0) + 1
        Shots.counters[self.lang] = n
        name = re.sub(r"[^a-z0-9-]+", "-", step.lower()).strip("-")
        path = str(self.folder / f"{n:02d}-{name}.png")
        page.wait_for_load_state()
        try:
            page.screenshot(path=path, full_page=full_page)
        except Exception as exc:  # noqa: BLE001 - only Chromium's dropped capture is tried again
            # Under load Chromium sometimes drops a capture of a page it has just drawn ("Unable to capture
            # screenshot", seen once in a full CI run): the picture is evidence, not the behaviour under test.
            if "Unable to capture screenshot" not in str(exc):
                raise
            page.wait_for_timeout(200)
            page.screenshot(path=path, full_page=full_page)


@pytest.fixture(scope="session", autouse=False)
def clean_artifacts():
    for lang in ("en", "fi"):
        shutil.rmtree(ARTIFACTS / lang, ignore_errors=True)
    Shots.counters.clear()
    yield


@pytest.fixture
def context(browser, web_server):
    ctx = browser.new_context(base_url=web_server.url, viewport={"width": 1280, "height": 900},
                              accept_downloads=True)
    ctx.set_default_timeout(float(os.environ.get("RTMHUB_BROWSER_TIMEOUT_MS", "15000")))
    yield ctx
    ctx.close()


def _must_run_everything() -> bool:
    """In CI (.ci/run sets RTMHUB_REQUIRE_POSTGRES; CI services set CI=true) a missing tool is a failure."""
    return os.environ.get("CI", "").lower() == "true" or bool(os.environ.get("RTMHUB_REQUIRE_POSTGRES"))


def _axe_installed() -> bool:
    """axe.min.js is there and is the version tests/web/package-lock.json pins."""
    if not AXE_JS.exists():
        return False
    wanted = json.loads((WEB_TESTS / "package-lock.json").read_text())["packages"]["node_modules/axe-core"]["version"]
    have = json.loads((AXE_JS.parent / "package.json").read_text())["version"]
    return wanted == have


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's source, installed from the npm registry into tests/web/node_modules by ``npm ci``.

    Installed once: pytest-xdist's processes take a file lock, the first installs, the others find it
    installed. Without npm or the registry the accessibility tests skip locally and fail in CI.
    """
    def missing(reason: str):
        if _must_run_everything():
            pytest.fail(f"{reason} (CI=true or RTMHUB_REQUIRE_POSTGRES is set: the accessibility checks must run)")
        pytest.skip(reason)

    with open(WEB_TESTS / ".npm-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _axe_installed():
            npm = shutil.which("npm")
            if npm is None:
                missing("npm is missing: install Node.js and npm (apt-get install -y npm) for the accessibility checks")
            try:
                done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=WEB_TESTS,
                                      capture_output=True, text=True, timeout=300)
            except subprocess.TimeoutExpired:
                missing("npm ci in tests/web did not finish in 300 s: is the npm registry reachable?")
            if done.returncode != 0 or not _axe_installed():
                said = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()][:4]
                missing("npm ci in tests/web could not install axe-core (is the npm registry reachable?):\n"
                        + "\n".join(said))
    return AXE_JS.read_text(encoding="utf-8")
