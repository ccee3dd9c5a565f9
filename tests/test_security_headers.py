"""Issue 8: security headers on every response, pages without inline script, /docs and /redoc offline, and
absolute URLs only from RTMHUB_PUBLIC_URL outside development."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rtmhub.app import create_app
from rtmhub.settings import Settings

TEMPLATES = Path(__file__).resolve().parents[1] / "src" / "rtmhub" / "web" / "templates"
PRODUCTION = {"env": "production", "secret_key": "k" * 40, "inprocess_worker": False}


def directives(response) -> dict[str, str]:
    csp = response.headers["content-security-policy"]
    return {part.split()[0]: part.strip() for part in csp.split(";") if part.strip()}


def assert_secured(response, where: str) -> None:
    policy = directives(response)
    assert policy["script-src"] == "script-src 'self'", where  # no inline script, no event handler, no eval
    assert policy["frame-ancestors"] == "frame-ancestors 'none'", where
    assert policy["object-src"] == "object-src 'none'", where
    assert policy["default-src"] == "default-src 'self'", where
    assert response.headers["x-frame-options"] == "DENY", where
    assert response.headers["x-content-type-options"] == "nosniff", where
    assert response.headers["referrer-policy"] == "same-origin", where


@pytest.fixture
def bare_client():
    """An app over an in-memory database that is never queried by these requests."""
    app = create_app(Settings(database_url="sqlite://", inprocess_worker=False))

    @app.get("/boom-for-test", include_in_schema=False)
    def boom():
        raise RuntimeError("unexpected")

    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client:
        yield client


def test_every_kind_of_response_carries_the_headers(bare_client):
    cases = {
        "page": bare_client.get("/signin"),
        "api (401)": bare_client.get("/v1/people"),
        "api 404": bare_client.get("/v1/nothing-here"),
        "static": bare_client.get("/static/rtmhub.css"),
        "script": bare_client.get("/static/rtmhub.js"),
        "docs": bare_client.get("/docs"),
        "docs asset": bare_client.get("/docs/assets/swagger-ui.css"),
        "openapi": bare_client.get("/openapi.json"),
        "page 404": bare_client.get("/no-such-page"),
        "guard 400 (NUL)": bare_client.get("/v1/people?x=%00"),
        "guard 413": bare_client.post("/v1/people", content=b"x" * 2_000_000,
                                      headers={"content-type": "application/json"}),
        "500": bare_client.get("/boom-for-test"),
    }
    assert cases["500"].status_code == 500 and cases["guard 413"].status_code == 413
    for where, response in cases.items():
        assert_secured(response, where)
        assert "strict-transport-security" not in response.headers, where  # public URL is not https
    assert cases["page"].status_code == 200 and cases["static"].status_code == 200


def test_hsts_when_the_public_url_is_https():
    app = create_app(Settings(database_url="sqlite://", public_url="https://hub.example.com", **PRODUCTION))
    with TestClient(app, base_url="https://hub.example.com") as client:
        for path in ("/signin", "/v1/people", "/docs"):
            response = client.get(path)
            assert response.headers["strict-transport-security"].startswith("max-age="), path
            assert_secured(response, path)


def test_docs_and_redoc_are_served_from_this_server_only(bare_client):
    outside = re.compile(r"""(?:src|href|url)\s*=\s*["']?(?:[a-z]+:)?//""", re.I)
    for path in ("/docs", "/redoc"):
        html = bare_client.get(path).text
        assert not outside.search(html), f"{path} refers to another host"
        assert "://" not in html, path
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"{path} has an inline script"
        assets = re.findall(r"""(?:src|href)="([^"]+)\"""", html)
        assert assets and all(a.startswith("/") for a in assets)
        for asset in assets:
            response = bare_client.get(asset)
            assert response.status_code == 200 and len(response.content) > 100, asset
    assert 'data-openapi-url="/openapi.json"' in bare_client.get("/docs").text
    init = bare_client.get("/docs/swagger-init.js")
    assert init.headers["content-type"].startswith("text/javascript") and "validatorUrl: null" in init.text
    # only /redoc may use inline styles (Redoc's styled-components); scripts stay 'self' there too
    assert "'unsafe-inline'" not in bare_client.get("/docs").headers["content-security-policy"]
    assert directives(bare_client.get("/redoc"))["script-src"] == "script-src 'self'"


def test_templates_have_no_inline_script_handler_or_style():
    for template in sorted(TEMPLATES.glob("*.html")):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f"{template.name}: inline <script>"
        assert not re.search(r"\son[a-z]+\s*=", text, re.I), f"{template.name}: inline event handler"
        assert not re.search(r"\sstyle\s*=|<style", text, re.I), f"{template.name}: inline style"
        assert "javascript:" not in text.lower(), template.name


def test_signed_in_pages_render_without_inline_code(client, world):
    from tests.web.test_pages import sign_in

    sign_in(client, "full@a.example")
    ca = world.raw["ca"]
    for path in ("/", "/customers", f"/customers/{ca}", f"/customers/{ca}/allocations", f"/customers/{ca}/hub/users",
                 f"/customers/{ca}/hub/users/add", f"/customers/{ca}/hub/users/{world.raw['um']}/package"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_secured(response, path)
        html = response.text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\son[a-z]+\s*=|\sstyle\s*=", html, re.I), path


def test_absolute_urls_come_only_from_the_public_url_outside_development(world):
    app = create_app(Settings(database_url=world.db.url, public_url="https://hub.example.com/", **PRODUCTION),
                     database=world.db)
    with TestClient(app, base_url="http://evil.example") as client:
        response = client.get("/v1/wholesale/customers?max=1", headers={**world.auth("a_full"),
                                                                         "Host": "evil.example"})
        assert response.status_code == 200
        assert response.headers["link"].startswith("<https://hub.example.com/v1/wholesale/customers?")
        assert "evil.example" not in response.headers["link"]
