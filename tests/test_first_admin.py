"""Issue 9, R5: onboarding a customer creates its first customer full administrator from
``customerInfo.primaryEmail``, without a password, with a one-time set-password link valid for 7 days; and
``rtmhub admin reset-link`` makes a new link for any administrator. On SQLite and PostgreSQL, through the
pages, the API and the CLI as a partner and an operator use them."""
from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from rtmhub.cli.main import app as cli
from rtmhub.db import utcnow
from rtmhub.domain.access import service as access
from rtmhub.domain.access.models import AdminAccount, SetPasswordLink
from rtmhub.domain.audit.models import AuditEvent
from rtmhub.domain.customers.models import Customer
from rtmhub.errors import NotFound, ValidationFailed
from rtmhub.settings import get_settings
from tests.conftest import OPERATOR

runner = CliRunner()
PARTNER_PASSWORD = "correct horse battery"
NEW_PASSWORD = "violet kettle drifts north"
NEUTRAL = "This link does not work: it has expired, has already been used or has been replaced by a newer one."
LINK = re.compile(r'value="(https?://[^"]+/set-password/[^"]+)"')


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, email: str, password: str):
    page = client.get("/signin")
    return client.post("/signin", data={"csrf_token": csrf_of(page.text), "email": email, "password": password,
                                        "next": "/"}, follow_redirects=False)


def sign_out(client):
    page = client.get("/customers")
    if 'action="/signout"' in page.text:
        client.post("/signout", data={"csrf_token": csrf_of(page.text)})


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def set_password(client, link: str, password: str, repeated: str | None = None):
    page = client.get(path_of(link))
    assert page.status_code == 200, page.text[:300]
    return client.post(path_of(link), data={"csrf_token": csrf_of(page.text), "password": password,
                                            "password2": password if repeated is None else repeated},
                       follow_redirects=False)


def onboard(client, provisioning_id: str, email: str, external_id: str = "WEB-R5-1"):
    page = client.get("/customers/new")
    return client.post("/customers/new", data={
        "csrf_token": csrf_of(page.text), "name": "Ensiylläpito Oy", "primaryEmail": email, "language": "fi",
        "externalId": external_id, "provisioningId": provisioning_id, "addressLine1": "Aleksanterinkatu 1",
        "city": "Helsinki", "country": "FI", "zipOrPostalCode": "00100", "packages": "webex_meetings",
        "meetings.timezone": "Europe/Helsinki"}, follow_redirects=False)


def events(db, action: str, email: str) -> list[AuditEvent]:
    with db.unit_of_work(write=False) as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
        s.expunge_all()
        return [e for e in rows if (e.after or {}).get("email") == email]


def admin(db, email: str) -> AdminAccount | None:
    with db.unit_of_work(write=False) as s:
        found = s.scalar(select(AdminAccount).where(AdminAccount.email_key == email.lower()))
        s.expunge_all()  # readable after the unit ends
        return found


# --- the web: onboarding shows the link once; the link sets the password once --------------------

def test_onboarding_page_makes_the_first_admin_who_sets_its_password_once(client, world):
    assert sign_in(client, "full@a.example", PARTNER_PASSWORD).status_code == 303
    result = onboard(client, world.raw["ta"], "It.Paallikko@ensiyllapito.example")
    assert result.status_code == 200, result.text[:500]
    assert "It.Paallikko@ensiyllapito.example" in result.text and "shown only now" in result.text
    link = LINK.search(result.text).group(1)
    assert link.startswith("http://testserver/set-password/")
    token = link.rsplit("/", 1)[1]
    # only the SHA-256 of the token is stored, and it expires after 7 days
    account = admin(world.db, "it.paallikko@ensiyllapito.example")
    assert account.role == "customer_full_admin" and account.password_hash is None
    with world.db.unit_of_work(write=False) as s:
        row = s.scalar(select(SetPasswordLink).where(SetPasswordLink.admin_id == account.id))
        customer = s.scalar(select(Customer).where(Customer.external_id == "WEB-R5-1"))
        s.expunge_all()
    assert account.customer_id == customer.id
    assert row.token_hash == access.hash_token(token) and token not in row.token_hash
    assert timedelta(days=7) - timedelta(minutes=1) < row.expires - utcnow() <= timedelta(days=7)
    assert len(events(world.db, "admin.create", account.email)) == 1
    sign_out(client)

    # no password yet: the account cannot sign in
    assert sign_in(client, account.email, NEW_PASSWORD).status_code == 401
    # the policy applies and a refused password leaves the link working
    weak = set_password(client, link, "password1234")
    assert weak.status_code == 400 and "too easy to guess" in weak.text
    # in Finnish, zxcvbn's own reason inside the refusal is Finnish too
    client.get(path_of(link) + "?lang=fi")
    weak = set_password(client, link, "password1234")
    reason = re.search(r"Salasana on liian helppo arvata \(([^)]*)\)", html.unescape(weak.text))
    assert weak.status_code == 400 and reason, weak.text[:2000]
    assert not re.search(r"\b(common|guess|similar|easy|This)\b", reason.group(1)), reason.group(1)
    client.get(path_of(link) + "?lang=en")
    assert set_password(client, link, NEW_PASSWORD, "something else").status_code == 400
    page = client.get(path_of(link))
    assert page.status_code == 200 and account.email in page.text
    done = set_password(client, link, NEW_PASSWORD)
    assert done.status_code == 303 and done.headers["location"] == "/signin?password=set"
    assert "Your password is set" in client.get("/signin?password=set").text
    assert len(events(world.db, "admin.password", account.email)) == 1

    # the customer admin signs in and reaches its own organisation only
    assert sign_in(client, account.email, NEW_PASSWORD).status_code == 303
    assert client.get(f"/customers/{customer.id}/hub/users").status_code == 200
    assert client.get(f"/customers/{world.raw['ca']}/hub/users").status_code == 404
    sign_out(client)

    # the link works once
    again = client.get(path_of(link))
    assert again.status_code == 404 and NEUTRAL in again.text and account.email not in again.text
    page = client.get("/signin")
    reused = client.post(path_of(link), data={"csrf_token": csrf_of(page.text), "password": "another fine "
                                              "passphrase here", "password2": "another fine passphrase here"})
    assert reused.status_code == 404 and NEUTRAL in reused.text
    assert sign_in(client, account.email, NEW_PASSWORD).status_code == 303
    assert len(events(world.db, "admin.password", account.email)) == 1


def test_set_password_form_needs_its_csrf_token(client, world):
    with world.db.unit_of_work() as s:
        _, token, _ = access.reset_link(s, OPERATOR, email="admin@a-cust-1.example")
    response = client.post(f"/set-password/{token}", data={"password": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 403
    assert admin(world.db, "admin@a-cust-1.example").password_hash is None


def test_expired_used_replaced_and_unknown_links_get_the_same_neutral_answer(client, world):
    email = "admin@a-cust-1.example"
    with world.db.unit_of_work() as s:
        account = access.find_admin(s, email)
        expired, _ = access.issue_set_password_link(s, OPERATOR, account, now=utcnow() - timedelta(days=7, seconds=1))
    answers = {"expired": client.get(f"/set-password/{expired}"), "unknown": client.get("/set-password/nope"),
               "long": client.get("/set-password/" + "x" * 5000)}
    with world.db.unit_of_work() as s:
        replaced, _ = access.issue_set_password_link(s, OPERATOR, account)
        live, _ = access.issue_set_password_link(s, OPERATOR, account)
    answers["replaced"] = client.get(f"/set-password/{replaced}")
    assert set_password(client, f"http://x/set-password/{live}", NEW_PASSWORD).status_code == 303
    answers["used"] = client.get(f"/set-password/{live}")
    bodies = {name: (r.status_code, re.sub(r'value="[^"]*"', "", r.text)) for name, r in answers.items()}
    assert all(status == 404 for status, _ in bodies.values()), bodies
    assert len({body for _, body in bodies.values()}) == 1  # identical pages: nothing tells them apart
    assert NEUTRAL in answers["expired"].text and "Ask your partner" in answers["expired"].text
    # in Finnish too
    assert "Pyydä uusi linkki" in client.get(f"/set-password/{expired}?lang=fi").text
    # the domain refuses an expired link even one second past its 7 days
    with world.db.unit_of_work() as s:
        token, _ = access.issue_set_password_link(s, OPERATOR, account, now=utcnow() - timedelta(days=7))
        with pytest.raises(NotFound):
            access.use_set_password_link(s, token, "yet another sound passphrase")


def test_a_used_link_ends_the_accounts_open_sessions(client, world):
    assert sign_in(client, "full@a.example", PARTNER_PASSWORD).status_code == 303
    assert client.get("/customers").status_code == 200
    with world.db.unit_of_work() as s:
        token = access.reset_link(s, OPERATOR, email="full@a.example")[1]
        access.use_set_password_link(s, token, NEW_PASSWORD)
    assert client.get("/customers", follow_redirects=False).status_code == 303  # back to /signin
    assert sign_in(client, "full@a.example", PARTNER_PASSWORD).status_code == 401
    assert sign_in(client, "full@a.example", NEW_PASSWORD).status_code == 303


def test_two_uses_of_one_link_set_one_password(world):
    with world.db.unit_of_work() as s:
        token = access.reset_link(s, OPERATOR, email="admin@a-cust-1.example")[1]
    with world.db.unit_of_work() as s:
        access.use_set_password_link(s, token, NEW_PASSWORD)
    with pytest.raises(NotFound), world.db.unit_of_work() as s:
        access.use_set_password_link(s, token, "a different good passphrase")
    with world.db.unit_of_work(write=False) as s:
        assert access.authenticate_password(s, "admin@a-cust-1.example", NEW_PASSWORD)
    with pytest.raises(ValidationFailed), world.db.unit_of_work() as s:  # the policy is the same as elsewhere
        access.use_set_password_link(s, access.reset_link(s, OPERATOR, email="admin@kund.example")[1], "admin-kund")


# --- the Partner Hub's "new link" button ---------------------------------------------------------

def test_partner_hub_makes_a_new_link_for_a_customers_admin(client, world):
    ca = world.raw["ca"]
    with world.db.unit_of_work() as s:
        old = access.reset_link(s, OPERATOR, email="admin@a-cust-1.example")[1]
    assert sign_in(client, "ro@a.example", PARTNER_PASSWORD).status_code == 303
    page = client.get(f"/customers/{ca}")
    assert "admin@a-cust-1.example" in page.text and "New set-password link" not in page.text
    assert client.post(f"/customers/{ca}/admins/link", data={"csrf_token": csrf_of(page.text),
                                                              "email": "admin@a-cust-1.example"}).status_code == 403
    sign_out(client)
    assert sign_in(client, "full@b.example", PARTNER_PASSWORD).status_code == 303
    token = csrf_of(client.get("/customers").text)
    for email in ("admin@a-cust-1.example", "admin@b-cust-1.example"):  # a foreign customer: 404 either way
        refused = client.post(f"/customers/{ca}/admins/link", data={"csrf_token": token, "email": email})
        assert refused.status_code == 404
    sign_out(client)
    assert sign_in(client, "full@a.example", PARTNER_PASSWORD).status_code == 303
    page = client.get(f"/customers/{ca}")
    assert "New set-password link" in page.text
    # an admin of another customer cannot be reached through this customer
    other = client.post(f"/customers/{ca}/admins/link", data={"csrf_token": csrf_of(page.text),
                                                               "email": "admin@a1-cust-1.example"})
    assert other.status_code == 404
    made = client.post(f"/customers/{ca}/admins/link", data={"csrf_token": csrf_of(page.text),
                                                              "email": "admin@a-cust-1.example"})
    assert made.status_code == 200 and "Earlier links of this administrator no longer work" in made.text
    link = LINK.search(made.text).group(1)
    sign_out(client)
    assert client.get(f"/set-password/{old}").status_code == 404
    assert set_password(client, link, NEW_PASSWORD).status_code == 303
    assert sign_in(client, "admin@a-cust-1.example", NEW_PASSWORD).status_code == 303


# --- the API: provisioning creates the admin; a primaryEmail of an existing admin is refused ------

def test_api_provisioning_creates_the_first_admin_and_refuses_an_admins_email(client, world):
    body = {"provisioningId": world.raw["ta"], "packages": ["webex_meetings"], "externalId": "API-R5-1",
            "address": {"addressLine1": "Aleksanterinkatu 1", "city": "Helsinki", "country": "FI"},
            "customerInfo": {"name": "Rajapinta Oy", "primaryEmail": "FULL@b.example"}}
    headers = world.auth("a_full")
    for url in ("/v1/wholesale/customers/validate", "/v1/wholesale/customers"):
        refused = client.post(url, headers=headers, json=body)
        assert refused.status_code == 409, refused.text
        assert "already belongs to an administrator account" in refused.json()["message"]
    with world.db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Customer).where(Customer.external_id == "API-R5-1")) == 0
    assert admin(world.db, "full@b.example").role == "partner_full_admin"

    body["customerInfo"]["primaryEmail"] = "hallinto@rajapinta.example"
    created = client.post("/v1/wholesale/customers", headers=headers, json=body)
    assert created.status_code == 202 and set(created.json()) == {"url"}  # the contract's body, no link in it
    account = admin(world.db, "hallinto@rajapinta.example")
    assert account.role == "customer_full_admin" and account.password_hash is None
    with world.db.unit_of_work(write=False) as s:
        assert s.get(Customer, account.customer_id).external_id == "API-R5-1"
        # no link was made: nobody could see it (the partner gets one from the CLI or the customer page)
        assert s.scalar(select(func.count()).select_from(SetPasswordLink)
                        .where(SetPasswordLink.admin_id == account.id)) == 0
    # deleting the customer deletes its administrators
    assert client.delete(created.json()["url"].split("testserver")[1], headers=headers).status_code in (202, 204)
    assert admin(world.db, "hallinto@rajapinta.example") is None


def test_attaching_an_existing_org_creates_no_admin(client, world):
    with world.db.unit_of_work(write=False) as s:
        before = s.scalar(select(func.count()).select_from(AdminAccount))
    refused = client.post("/v1/wholesale/customers", headers=world.auth("a_full"), json={
        "provisioningId": world.raw["ta"], "packages": ["webex_meetings"], "externalId": "ATTACH-1",
        "address": {"addressLine1": "Aleksanterinkatu 1", "city": "Helsinki", "country": "FI"},
        "orgId": world.ids["cb_org"]})
    assert refused.status_code == 400
    with world.db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(AdminAccount)) == before


# --- the CLI: admin list and admin reset-link ----------------------------------------------------

@pytest.fixture
def operator(world, monkeypatch):
    monkeypatch.setenv("RTMHUB_DATABASE_URL", world.db.url)
    monkeypatch.delenv("RTMHUB_PUBLIC_URL", raising=False)
    get_settings.cache_clear()
    yield world
    get_settings.cache_clear()


def run(*args: str, ok: bool = True):
    result = runner.invoke(cli, list(args))
    assert result.exit_code == (0 if ok else 1), result.output
    if not ok:
        assert result.stderr.startswith("Error: ") and "Traceback" not in result.output
    return result


def test_cli_lists_the_first_admin_and_reset_link_replaces_earlier_links(operator, client, monkeypatch):
    rows = {r["email"]: r for r in json.loads(run("admin", "list", "--json").stdout)}
    first = rows["admin@a-cust-1.example"]
    assert first["role"] == "customer_full_admin" and first["customer"] == "Asiakas Oy" and not first["canSignIn"]
    assert rows["admin@asiakas.example"]["role"] == "customer_full_admin"  # made by `admin create`, as before

    one = run("admin", "reset-link", "--email", "Admin@A-Cust-1.example")
    assert "valid until" in one.stderr and "shown only now" in one.stderr
    link1 = one.stdout.strip().splitlines()[-1]
    assert link1.startswith("http://127.0.0.1:8000/set-password/")
    monkeypatch.setenv("RTMHUB_PUBLIC_URL", "https://hub.example.com/")
    get_settings.cache_clear()
    link2 = run("admin", "reset-link", "--email", "admin@a-cust-1.example").stdout.strip().splitlines()[-1]
    assert link2.startswith("https://hub.example.com/set-password/")
    assert client.get(path_of(link1)).status_code == 404  # replaced
    assert set_password(client, link2, NEW_PASSWORD).status_code == 303
    assert sign_in(client, "admin@a-cust-1.example", NEW_PASSWORD).status_code == 303
    assert {r["email"]: r["canSignIn"] for r in json.loads(run("admin", "list", "--json").stdout)}[
        "admin@a-cust-1.example"]
    assert len(events(operator.db, "admin.link", "admin@a-cust-1.example")) == 2
    assert len(events(operator.db, "admin.password", "admin@a-cust-1.example")) == 1

    # any administrator: a partner admin's forgotten password; the old one works until the link is used
    link = run("admin", "reset-link", "--email", "full@a.example").stdout.strip().splitlines()[-1]
    sign_out(client)
    assert sign_in(client, "full@a.example", PARTNER_PASSWORD).status_code == 303
    sign_out(client)
    assert set_password(client, link, "amber lighthouse whispers twice").status_code == 303
    assert sign_in(client, "full@a.example", PARTNER_PASSWORD).status_code == 401
    assert sign_in(client, "full@a.example", "amber lighthouse whispers twice").status_code == 303

    assert "No administrator with e-mail nobody@x.example" in run(
        "admin", "reset-link", "--email", "nobody@x.example", ok=False).stderr


def test_two_onboardings_racing_for_one_primary_email_make_one_admin(world):
    """The second onboarding either sees the first's admin or meets its unique index: a 409 either way, never
    a 500, and nothing of it is written."""
    import threading
    import time

    from rtmhub.domain.customers import service as customers
    from rtmhub.errors import Conflict
    from tests.conftest import customer_body

    outcome: list[BaseException | None] = []

    def second() -> None:
        try:
            with world.db.unit_of_work() as s:
                customers.provision(s, OPERATOR, customer_body(world.raw["ta"], "RACE-2", "Toinen Oy",
                                                               ["webex_meetings"], email="kilpa@race.example"),
                                    (world.raw["pa"],))
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            outcome.append(exc)

    with world.db.unit_of_work() as s:
        customers.provision(s, OPERATOR, customer_body(world.raw["ta"], "RACE-1", "Ensimmäinen Oy",
                                                       ["webex_meetings"], email="kilpa@race.example"),
                            (world.raw["pa"],))
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)  # gives the second a chance to reach the unique index (not asserted)
    thread.join(timeout=60)
    assert len(outcome) == 1 and isinstance(outcome[0], Conflict), outcome
    with world.db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Customer).where(Customer.external_id == "RACE-2")) == 0
        assert s.scalar(select(func.count()).select_from(AdminAccount)
                        .where(AdminAccount.email_key == "kilpa@race.example")) == 1
