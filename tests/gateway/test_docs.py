"""The API docs page works offline: Swagger UI's files come from the gateway, nothing from outside."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import APIRouter

from fastapi_gateway.docs import IMMUTABLE, swagger_ui_assets

from .conftest import login

_LINKS = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""")
_CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png"}


async def _links(client: httpx.AsyncClient, url: str = "/api/v2/docs") -> list[str]:
    page = await client.get(url)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "://" not in page.text, "the docs page names an outside URL"
    return _LINKS.findall(page.text)


@pytest.mark.django_db(transaction=True)
async def test_docs_page_loads_only_the_gateways_own_files(gateway: httpx.AsyncClient) -> None:
    links = await _links(gateway)
    assert {Path(urlsplit(link).path).suffix for link in links} == {".js", ".css", ".png"}
    for link in links:
        assert link.startswith("/api/v2/docs/assets/") and not link.startswith("//"), link
        asset = await gateway.get(link)
        assert asset.status_code == 200, link
        assert asset.headers["content-type"] == _CONTENT_TYPES[Path(link).suffix]
        assert asset.headers["cache-control"] == IMMUTABLE
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert int(asset.headers["content-length"]) == len(asset.content) > 0
    script = next(link for link in links if link.endswith(".js"))
    assert b"SwaggerUIBundle" in (await gateway.get(script)).content


@pytest.mark.django_db(transaction=True)
async def test_asset_urls_change_with_the_files(gateway: httpx.AsyncClient) -> None:
    """The digest in the URL is what makes a year's caching safe: another digest, or a file
    of the distribution the page does not load, is not served."""
    digest = swagger_ui_assets().digest
    assert (await gateway.get(f"/api/v2/docs/assets/{digest}/swagger-ui.css")).status_code == 200
    assert (await gateway.get("/api/v2/docs/assets/0123456789abcdef/swagger-ui.css")).status_code == 404
    for name in ("swagger-ui-bundle.js.map", "LICENSE", "..%2F..%2F__init__.py", "oauth2-redirect.js"):
        assert (await gateway.get(f"/api/v2/docs/assets/{digest}/{name}")).status_code == 404, name


@pytest.mark.django_db(transaction=True)
async def test_docs_settings_reach_the_page(gateway_factory: Any) -> None:
    """The schema, the OAuth2 redirect (under the docs, not Django's ``/docs/``) and Swagger UI's
    options; the online validator, which would send the schema's URL to swagger.io, is off."""
    async with gateway_factory() as client:
        page = (await client.get("/api/v2/docs")).text
        assert "url: '/api/v2/openapi.json'" in page
        assert "oauth2RedirectUrl: window.location.origin + '/api/v2/docs/oauth2-redirect'" in page
        assert '"validatorUrl": null' in page
        redirect = await client.get("/api/v2/docs/oauth2-redirect")
        assert redirect.status_code == 200
        assert "://" not in redirect.text
        assert "oauth2" in redirect.text
        django_404 = await client.get("/docs/oauth2-redirect")  # Django's URL space, Django's answer
        assert django_404.status_code == 404 and django_404.headers["content-type"].startswith("text/html")


@pytest.mark.django_db(transaction=True)
async def test_docs_prefix_setting_moves_the_docs_and_their_files(gateway_factory: Any) -> None:
    router = APIRouter()

    @router.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    async with gateway_factory(api_routers={"/api/v3": router}, docs_prefix="/api/v3") as client:
        links = await _links(client, "/api/v3/docs")
        assert links and all(link.startswith("/api/v3/docs/assets/") for link in links)
        for link in links:
            assert (await client.get(link)).status_code == 200, link
        assert (await client.get("/api/v2/docs")).status_code == 404


@pytest.mark.django_db(transaction=True)
async def test_docs_are_public_as_before(gateway: httpx.AsyncClient, demo_users: Any, demo_password: str) -> None:
    """Anonymous visitors read the docs and load their files (FastAPI's docs route was public);
    signing in changes nothing."""
    anonymous_links = await _links(gateway)
    for link in anonymous_links:
        assert (await gateway.get(link)).status_code == 200
    assert (await gateway.get("/api/v2/openapi.json")).status_code == 200
    await login(gateway, "alice", demo_password)
    assert await _links(gateway) == anonymous_links


# A real browser on a machine without internet: everything but the gateway is refused.


@pytest.fixture(scope="module")
def live_gateway() -> Iterator[Any]:
    from tests.e2e.conftest import running_gateway

    with tempfile.TemporaryDirectory(prefix="docs-") as workdir, running_gateway(Path(workdir)) as server:
        yield server


@pytest.mark.e2e
@pytest.mark.browser
def test_swagger_ui_renders_with_every_outside_request_blocked(live_gateway: Any) -> None:
    from playwright.sync_api import Route, expect, sync_playwright

    from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: .ci/run installs it (apt-get install chromium)")
    refused: list[str] = []
    served: list[str] = []

    def only_the_gateway(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1":
            served.append(url)
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            page.route("**/*", only_the_gateway)
            page.goto(f"{live_gateway.url}/api/v2/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("OAS 3.1")  # the schema, parsed
            operations = page.locator(".opblock")
            expect(operations.first).to_be_visible()
            assert operations.count() >= 3
            expect(page.locator(".opblock-summary-path", has_text="/api/v2/tickets").first).to_be_visible()
        finally:
            browser.close()
    assert refused == [], f"the docs page asked for outside URLs: {refused}"
    assert any(url.endswith("/swagger-ui-bundle.js") for url in served)
    assert any(url.endswith("/api/v2/openapi.json") for url in served)
