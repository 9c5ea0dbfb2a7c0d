"""Gradio pages mounted behind the Django login, driven over Gradio's real queue protocol."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from fastapi_gateway import GradioPage, create_app
from fastapi_gateway.pages.mount import files_kept_for
from tests.gradio_protocol import fn_index_of, run_event

from tests.gateway.conftest import BASE_URL, client_for, login, running
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


def _blocks_of(app: Any, mount: str) -> Any:
    (gradio_app,) = [route.app for route in app.routes if getattr(route, "path", None) == mount]
    return gradio_app.get_blocks()


async def test_files_older_than_the_setting_are_deleted_and_forgotten(demo_users: Any, demo_password: str) -> None:
    # Gradio keeps every upload on disk and its path in a set that only grows, unless the page
    # sets delete_cache: the gateway sets it for every page that does not.
    app = create_app(api_routers={}, gradio_pages=[PAGE], page_files_keep_hours=1 / 3600)
    blocks = _blocks_of(app, "/ui/probe")
    assert blocks.delete_cache == (1, 1)
    async with running(app), client_for(app) as alice:
        await login(alice, "alice", demo_password)
        upload = await alice.post(
            "/ui/probe/gradio_api/upload", files={"files": ("notes.txt", b"kept a second", "text/plain")},
            headers={"Origin": BASE_URL},
        )
        assert upload.status_code == 200, upload.text
        (path,) = upload.json()
        assert path in blocks.upload_file_set
        assert Path(path).read_bytes() == b"kept a second"
        for _ in range(100):  # Gradio sweeps every second, deleting files over a second old
            # In a thread: each file is removed, then the set is updated once the sweep is done.
            if not Path(path).exists() and path not in blocks.upload_file_set:
                break
            await asyncio.sleep(0.05)
        assert not Path(path).exists()
        assert path not in blocks.upload_file_set
        assert (await alice.get(f"/ui/probe/gradio_api/file={path}")).status_code in (403, 404)  # Gradio: not its file now


async def test_a_page_keeps_its_own_file_lifetime_and_none_keeps_gradios(db: None) -> None:
    import gradio as gr

    def own_lifetime() -> gr.Blocks:
        with gr.Blocks(delete_cache=(60, 600)) as blocks:
            gr.Markdown("files kept ten minutes")
        return blocks

    own = create_app(api_routers={}, gradio_pages=[GradioPage("/ui/own", "Own", own_lifetime)], page_files_keep_hours=1.0)
    assert _blocks_of(own, "/ui/own").delete_cache == (60, 600)
    kept = create_app(api_routers={}, gradio_pages=[PAGE], page_files_keep_hours=None)
    assert _blocks_of(kept, "/ui/probe").delete_cache is None
    assert files_kept_for(24) == (3600, 86400)  # the default: swept hourly, a day's files kept
    assert files_kept_for(0.25) == (900, 900)


async def test_each_page_makes_one_gradio_app_the_one_served(monkeypatch: pytest.MonkeyPatch) -> None:
    """Gradio makes an app in ``gr.Blocks()`` and another at the end of its ``with``, each thrown
    away at the mount (8 of 11 at the example's start). Built, a page makes only the one served,
    and its Blocks and queue use that one, not an app nobody serves."""
    from gradio.routes import App
    from starlette.routing import Mount

    from fastapi_gateway.compat import gradio_queue

    made: list[Any] = []
    original = App.create_app

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(original(*args, **kwargs))
        return made[-1]

    from legacy_django.settings import GATEWAY as EXAMPLE

    monkeypatch.setattr(App, "create_app", staticmethod(counted))
    app = create_app(gradio_pages=EXAMPLE["PAGES"])
    served = [route.app for route in app.routes if isinstance(route, Mount) and isinstance(route.app, App)]
    assert len(served) >= 2
    assert made == served
    for gradio_app in served:
        blocks = gradio_app.get_blocks()
        assert blocks.app is gradio_app
        assert gradio_queue(blocks).server_app is gradio_app
