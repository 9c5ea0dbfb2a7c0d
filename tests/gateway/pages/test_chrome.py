"""The site's own header and stylesheet on every Gradio page (``GATEWAY["PAGE_TEMPLATE"]``)."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest
from django.conf import settings

from tests.gateway.conftest import login

from .gradio_pages import PROBE

pytestmark = pytest.mark.django_db(transaction=True)

HTML = {"Accept": "text/html"}
_TOKEN = re.compile(r'<div id="site-header">.*?name="csrfmiddlewaretoken" value="([^"]+)"', re.S)


@pytest.fixture
def chrome_factory(gateway_factory: Any) -> Any:
    def factory(**options: Any) -> Any:
        options = {"page_template": "nav.html", "page_stylesheet": "site/nav.css", **options}
        return gateway_factory(gradio_pages=[PROBE], **options)

    return factory


async def test_the_page_wears_the_site_header_rendered_for_the_signed_in_user(
    chrome_factory: Any, demo_users: Any, demo_password: str
) -> None:
    async with chrome_factory() as ui:
        await login(ui, "alice", demo_password)
        page = await ui.get("/ui/probe/", headers=HTML)
    assert page.status_code == 200
    header = page.text.split('<div id="site-header">', 1)[1].split("</div>", 1)[0]
    assert "Signed in as <strong>alice</strong>" in header
    assert '<a href="/tickets/">Tickets</a>' in header  # the site's own {% url %} links
    assert "Admin" not in header  # rendered for this user: alice is not staff
    assert '<link rel="stylesheet" href="/static/site/nav.css">' in page.text.split("</head>", 1)[0]
    assert int(page.headers["content-length"]) == len(page.content)


async def test_the_header_s_sign_out_form_ends_the_django_session(
    chrome_factory: Any, demo_users: Any, demo_password: str
) -> None:
    async with chrome_factory() as ui:
        await login(ui, "alice", demo_password)
        page = await ui.get("/ui/probe/", headers=HTML)
        token = _TOKEN.search(page.text)
        assert token, page.text
        signed_out = await ui.post(
            "/accounts/logout/", data={"csrfmiddlewaretoken": token.group(1)}, headers={"Referer": "http://testserver/ui/probe/"}
        )
        assert signed_out.status_code == 302, signed_out.text
        again = await ui.get("/ui/probe/", headers=HTML)
    assert again.status_code == 302 and again.headers["location"].startswith(settings.LOGIN_URL)


async def test_a_browser_without_a_csrf_cookie_is_given_the_one_its_form_token_matches(
    chrome_factory: Any, demo_users: Any, demo_password: str
) -> None:
    async with chrome_factory() as ui:
        await login(ui, "alice", demo_password)
        ui.cookies.delete(settings.CSRF_COOKIE_NAME)
        page = await ui.get("/ui/probe/", headers=HTML)
        assert settings.CSRF_COOKIE_NAME in page.cookies  # Django's CSRF middleware would set it too
        token = _TOKEN.search(page.text)
        assert token
        signed_out = await ui.post(
            "/accounts/logout/", data={"csrfmiddlewaretoken": token.group(1)}, headers={"Referer": "http://testserver/ui/probe/"}
        )
    assert signed_out.status_code == 302, signed_out.text


async def test_only_the_landing_document_is_decorated(chrome_factory: Any, demo_users: Any, demo_password: str) -> None:
    async with chrome_factory() as ui:
        await login(ui, "alice", demo_password)
        config = await ui.get("/ui/probe/config")
        legacy = await ui.get("/tickets/")
    assert config.status_code == 200 and "site-header" not in config.text
    assert legacy.text.count("<nav>") == 1  # the legacy page has its own header once, untouched


async def test_an_anonymous_visitor_is_still_sent_to_sign_in(chrome_factory: Any, db: None) -> None:
    async with chrome_factory() as ui:
        page = await ui.get("/ui/probe/", headers=HTML)
    assert page.status_code == 302 and "site-header" not in page.text


async def test_a_header_that_fails_to_render_leaves_the_page_working(
    chrome_factory: Any, demo_users: Any, demo_password: str
) -> None:
    logged: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = logged.append  # type: ignore[method-assign]
    logging.getLogger("fastapi_gateway").addHandler(handler)
    try:
        async with chrome_factory(page_template="no/such/template.html") as ui:
            await login(ui, "alice", demo_password)
            page = await ui.get("/ui/probe/", headers=HTML)
    finally:
        logging.getLogger("fastapi_gateway").removeHandler(handler)
    assert page.status_code == 200 and "<gradio-app" in page.text and "site-header" not in page.text
    assert any("no/such/template.html" in record.getMessage() for record in logged)


async def test_the_tab_title_follows_the_site_s_pattern(gateway_factory: Any, demo_users: Any, demo_password: str) -> None:
    from fastapi_gateway import GradioPage

    page = GradioPage("/ui/probe", "Probe", PROBE.build)
    async with gateway_factory(gradio_pages=[page], page_title="{title} · Support desk") as ui:
        await login(ui, "alice", demo_password)
        config = (await ui.get("/ui/probe/config")).json()
    assert config["title"] == "Probe · Support desk"


async def test_the_example_s_pages_look_like_the_support_desk(gateway_factory: Any, demo_users: Any, demo_password: str) -> None:
    """The example names its nav template, stylesheet and title pattern in its GATEWAY setting."""
    from gradio_ui import PAGES

    async with gateway_factory(gradio_pages=PAGES, page_template=None, page_stylesheet=None) as plain:
        await login(plain, "alice", demo_password)
        assert "site-header" not in (await plain.get("/ui/tickets/", headers=HTML)).text
    example: dict[str, Any] = {key.lower(): value for key, value in settings.GATEWAY.items() if key.startswith("PAGE_")}
    assert example == {"page_template": "nav.html", "page_stylesheet": "site/nav.css", "page_title": "{title} · Support desk"}
    async with gateway_factory(gradio_pages=PAGES, **example) as ui:
        await login(ui, "alice", demo_password)
        page = await ui.get("/ui/tickets/", headers=HTML)
        config = (await ui.get("/ui/tickets/config")).json()
        css = await ui.get("/static/site/nav.css")
    assert "Signed in as <strong>alice</strong>" in page.text
    assert config["title"] == "Tickets · Support desk"
    assert css.status_code == 200 and "#243b53" in css.text  # the site's own colours


async def test_a_page_rendered_for_its_user_is_never_one_cache_entry_for_everyone(
    chrome_factory: Any, demo_users: Any, demo_password: str
) -> None:
    async with chrome_factory() as ui:
        await login(ui, "alice", demo_password)
        page = await ui.get("/ui/probe/", headers=HTML)
    assert "cookie" in page.headers["vary"].lower()
    assert page.headers["cache-control"] == "private, no-cache"


async def test_the_header_s_links_carry_the_site_s_script_prefix(
    chrome_factory: Any, demo_users: Any, demo_password: str, settings: Any
) -> None:
    async with chrome_factory() as ui:
        await login(ui, "alice", demo_password)
        settings.FORCE_SCRIPT_NAME = "/app"
        page = await ui.get("/ui/probe/", headers=HTML)
    header = page.text.split('<div id="site-header">', 1)[1].split("</div>", 1)[0]
    assert 'href="/app/tickets/"' in header and 'action="/app/accounts/logout/"' in header


async def test_a_stylesheet_static_files_cannot_name_leaves_the_page_working(
    chrome_factory: Any, demo_users: Any, demo_password: str, settings: Any
) -> None:
    async with chrome_factory(page_stylesheet="site/no-such.css") as ui:
        await login(ui, "alice", demo_password)
        # A manifest storage (after collectstatic) raises for a name it does not hold.
        settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"}}
        page = await ui.get("/ui/probe/", headers=HTML)
    assert page.status_code == 200 and "<gradio-app" in page.text and "no-such.css" not in page.text


async def test_the_header_renders_when_csrf_lives_in_the_session(
    chrome_factory: Any, demo_users: Any, demo_password: str, settings: Any
) -> None:
    settings.CSRF_USE_SESSIONS = True
    async with chrome_factory() as ui:
        await login(ui, "alice", demo_password)
        page = await ui.get("/ui/probe/", headers=HTML)
        token = _TOKEN.search(page.text)
        assert token, page.text[:500]
        signed_out = await ui.post(
            "/accounts/logout/", data={"csrfmiddlewaretoken": token.group(1)}, headers={"Referer": "http://testserver/ui/probe/"}
        )
    assert signed_out.status_code == 302, signed_out.text[:300]
