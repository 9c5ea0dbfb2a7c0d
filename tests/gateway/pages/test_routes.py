"""Every route the installed Gradio registers is classified; none slips through unreviewed."""

from __future__ import annotations

import gradio as gr
import gradio.profiling
import pytest
from fastapi import FastAPI
from starlette.routing import Mount

from fastapi_gateway.pages.routes import GRADIO_ROUTES, Access, GradioRouteIndex, rule_for

from .gradio_pages import probe_page


async def _no_user(request: object) -> None:
    return None


#: Registered for a page with a ``gr.LoginButton`` (Hugging Face OAuth), which needs the
#: ``gradio[oauth]`` extra to mount at all: classified (blocked), not installed here.
_OAUTH_ROUTES = {"GET /login/huggingface", "GET /login/callback"}


def _installed_routes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every route of a page, with the routes Gradio adds only when ``GRADIO_PROFILING`` is set."""
    monkeypatch.setattr(gradio.profiling, "PROFILING_ENABLED", True)
    app = FastAPI()
    gr.mount_gradio_app(app, probe_page(), path="/ui/probe", auth_dependency=_no_user, ssr_mode=False)
    mount = next(route for route in app.routes if isinstance(route, Mount))
    return GradioRouteIndex(mount.app).templates()


async def test_every_installed_gradio_route_is_classified(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = {f"{method} {path}" for method, path in _installed_routes(monkeypatch)}
    assert "GET /gradio_api/profiling/traces" in installed
    unclassified = sorted(installed - set(GRADIO_ROUTES))
    assert not unclassified, f"Gradio {gr.__version__} has routes the guard does not know: {unclassified}"
    stale = sorted(set(GRADIO_ROUTES) - installed - _OAUTH_ROUTES)
    assert not stale, f"classified routes that Gradio {gr.__version__} no longer has: {stale}"


def test_an_unclassified_api_route_is_not_served_and_an_unclassified_page_needs_the_login() -> None:
    """A route of Gradio's API nobody classified (a new release's, or one a setting adds) is
    refused; a page of a multipage app (``/{page}``) is a page like the first."""
    assert rule_for("GET", "/gradio_api/some_new_route").access is Access.BLOCKED
    assert rule_for("POST", "/gradio_api/profiling/clear").access is Access.BLOCKED
    assert all(rule_for("GET", key.split(" ", 1)[1]).access is Access.BLOCKED for key in _OAUTH_ROUTES)
    page = rule_for("GET", "/settings")
    assert page.access is Access.LOGIN
    assert not page.gradio_body  # a page's own route's JSON fields are its own, whatever their names


def test_only_static_assets_are_public() -> None:
    public = sorted(key for key, rule in GRADIO_ROUTES.items() if rule.access is Access.PUBLIC)
    for key in public:
        method, path = key.split(" ", 1)
        assert method == "GET"
        assert path.startswith(("/svelte/", "/static/", "/assets/")) or path.endswith(
            (".ico", ".css", ".txt", ".json", "/pwa_icon", "{size}")
        ), key


def test_routes_gradio_leaves_open_are_bound_to_a_session_or_event() -> None:
    """``heartbeat``, ``cancel``, ``reset`` and ``stream/*`` are outside ``auth_dependency``."""
    for key in [
        "GET /gradio_api/heartbeat/{session_hash}",
        "POST /gradio_api/cancel",
        "POST /gradio_api/reset",
        "POST /gradio_api/stream/{event_id}",
        "POST /gradio_api/stream/{event_id}/close",
        "GET /gradio_api/stream/{session_hash}/{run}/{component_id}/playlist.m3u8",
    ]:
        rule = GRADIO_ROUTES[key]
        assert rule.access is Access.LOGIN
        assert rule.session_hash is not None or rule.event_id is not None, key


async def test_matching_follows_gradios_own_router() -> None:
    app = FastAPI()
    gr.mount_gradio_app(app, probe_page(), path="/p", auth_dependency=_no_user, ssr_mode=False)
    index = GradioRouteIndex(next(r for r in app.routes if isinstance(r, Mount)).app)
    # To Gradio, GET /call/v2/x is the *result stream* of event "x" of api "v2".
    rule, params = index.match("GET", "/gradio_api/call/v2/x")
    assert rule == rule_for("GET", "/gradio_api/call/{api_name}/{event_id}")
    assert params == {"api_name": "v2", "event_id": "x"}
    rule, params = index.match("POST", "/gradio_api/call/v2/x")
    assert rule.issues_events and params == {"api_name": "x"}
    # No route of Gradio's: refused under its API, a page's own route (login) elsewhere.
    assert index.match("GET", "/gradio_api/unknown-new-route")[0].access is Access.BLOCKED
    assert index.match("GET", "/report")[0] == rule_for("GET", "/report")
