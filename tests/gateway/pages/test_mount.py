"""Gradio pages mounted behind the Django login, driven over Gradio's real queue protocol."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.gradio_protocol import fn_index_of, run_event

from tests.gateway.conftest import login
from .gradio_pages import PROBE

pytestmark = pytest.mark.django_db(transaction=True)


PAGE = PROBE


@pytest.fixture
async def ui(gateway_factory: Any) -> Any:
    async with gateway_factory(gradio_pages=[PAGE]) as client:
        yield client


async def test_load_event_sees_the_django_user(ui: httpx.AsyncClient, demo_users: Any, demo_password: str) -> None:
    await login(ui, "alice", demo_password)
    config = (await ui.get("/ui/probe/config")).json()
    completed = await run_event(ui, "/ui/probe", fn_index_of(config, "whoami"), [])
    assert completed["success"] is True
    assert completed["output"]["data"] == ["Signed in as alice"]


async def test_anonymous_browser_is_sent_to_django_login(ui: httpx.AsyncClient, db: None) -> None:
    response = await ui.get("/ui/probe/?status=open", headers={"Accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 302
    assert response.headers["location"] == "/accounts/login/?next=/ui/probe/%3Fstatus%3Dopen"


async def test_page_without_slash_redirects_keeping_the_query(ui: httpx.AsyncClient, db: None) -> None:
    response = await ui.get("/ui/probe?status=open")
    assert response.status_code in (301, 307, 308)
    assert response.headers["location"] == "/ui/probe/?status=open"


async def test_login_lands_back_on_the_page(ui: httpx.AsyncClient, demo_users: Any, demo_password: str) -> None:
    response = await login(ui, "alice", demo_password, next_url="/ui/probe/?status=open")
    assert response.headers["location"] == "/ui/probe/?status=open"
    page = await ui.get("/ui/probe/?status=open", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "<gradio-app" in page.text or "gradio" in page.text.lower()


@pytest.mark.parametrize("accept", ["application/json", "*/*"])
async def test_anonymous_api_callers_get_401_not_a_redirect(ui: httpx.AsyncClient, db: None, accept: str) -> None:
    response = await ui.get("/ui/probe/", headers={"Accept": accept})
    assert response.status_code == 401


async def test_anonymous_config_and_queue_join_are_refused(ui: httpx.AsyncClient, db: None) -> None:
    assert (await ui.get("/ui/probe/config")).status_code == 401
    joined = await ui.post(
        "/ui/probe/gradio_api/queue/join", json={"data": [], "fn_index": 0, "session_hash": "abcdef123456"}
    )
    assert joined.status_code == 401


async def test_tampered_cookie_is_anonymous_not_an_error(ui: httpx.AsyncClient, db: None) -> None:
    ui.cookies.set("sessionid", "tampered" * 4)
    assert (await ui.get("/ui/probe/config")).status_code == 401
    assert (await ui.get("/ui/probe/", headers={"Accept": "text/html"})).status_code == 302


async def test_logout_ends_gradio_access(ui: httpx.AsyncClient, demo_users: Any, demo_password: str) -> None:
    await login(ui, "alice", demo_password)
    assert (await ui.get("/ui/probe/config")).status_code == 200
    await ui.post(
        "/accounts/logout/", data={"csrfmiddlewaretoken": ui.cookies["csrftoken"]}, headers={"Referer": "http://testserver/"}
    )
    assert (await ui.get("/ui/probe/config")).status_code == 401


async def test_forged_forwarded_host_does_not_reach_gradios_urls(ui: httpx.AsyncClient, demo_users: Any, demo_password: str) -> None:
    await login(ui, "alice", demo_password)
    config = await ui.get("/ui/probe/config", headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"})
    assert config.status_code == 200
    assert "evil.example" not in config.text
    assert config.json()["root"].startswith("http://testserver")


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://127.0.0.1:9999", "null"])
async def test_gradio_gives_no_credentialed_cors_to_other_local_apps(ui: httpx.AsyncClient, demo_users: Any, demo_password: str, origin: str) -> None:
    await login(ui, "alice", demo_password)
    response = await ui.get("/ui/probe/config", headers={"Origin": origin, "Host": "localhost"})
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers
    preflight = await ui.options(
        "/ui/probe/gradio_api/queue/join",
        headers={"Origin": origin, "Host": "localhost", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_the_footer_offers_no_developer_api_page_to_the_site_s_users(
    ui: httpx.AsyncClient, demo_users: Any, demo_password: str
) -> None:
    await login(ui, "alice", demo_password)
    config = (await ui.get("/ui/probe/config")).json()
    assert config["footer_links"] == ["settings"]
