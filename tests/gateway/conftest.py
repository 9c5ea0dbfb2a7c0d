"""A fresh gateway per test, driven in-process through ``httpx.ASGITransport``.

The gateway's threads (a2wsgi's pool, ``run_orm``) use their own database connections, so
every test here runs with ``transaction=True``: data is committed where those threads see it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from django.conf import settings
from fastapi import FastAPI

from fastapi_gateway import create_app

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _bare_new_side(settings: Any) -> None:
    """These tests name the routers and pages they mount (``create_app(api_routers=...,
    gradio_pages=..., migration_console=...)``); the example's own (its ``GATEWAY`` setting)
    are left out, the migration console (a Gradio page of its own) included."""
    settings.GATEWAY = {key: value for key, value in settings.GATEWAY.items() if key not in ("API_ROUTERS", "PAGES")}
    settings.GATEWAY["MIGRATION_CONSOLE"] = None

BASE_URL = "http://testserver"
GatewayFactory = Callable[..., "asynccontextmanager[httpx.AsyncClient]"]


def client_for(app: FastAPI) -> httpx.AsyncClient:
    """A browser-like client of its own (its own cookie jar) for an app already running."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    """Run the app's lifespan as a server does — the ASGI lifespan protocol in a task of its
    own — so start-up work (Gradio's queue, the route table poller) lives as long as the app,
    whichever task a fixture's set-up and tear-down run in."""
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, to_app.get, from_app.put))
    await to_app.put({"type": "lifespan.startup"})
    started = await from_app.get()
    assert started["type"] == "lifespan.startup.complete", started
    try:
        yield app
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        stopped = await from_app.get()
        await task
        assert stopped["type"] == "lifespan.shutdown.complete", stopped


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan (Gradio starts its queue there) and yield a client for it."""
    async with running(app):
        async with client_for(app) as client:
            yield client


@pytest.fixture
def gateway_factory() -> Callable[..., Any]:
    """``async with gateway_factory(**create_app_kwargs) as client: ...``"""

    def factory(**kwargs: Any) -> Any:
        kwargs.setdefault("api_routers", _default_routers())
        return serve(create_app(**kwargs))

    return factory


def _default_routers() -> dict[str, Any]:
    from api_v2 import router

    return {"/api/v2": router}


@pytest.fixture
async def gateway(gateway_factory: Callable[..., Any]) -> AsyncIterator[httpx.AsyncClient]:
    """The bundled gateway without Gradio pages or the console (those have their own tests):
    building them costs most of a second a test."""
    async with gateway_factory(gradio_pages=[], migration_console=None) as client:
        yield client


_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


async def login(client: httpx.AsyncClient, username: str, password: str, *, next_url: str = "") -> httpx.Response:
    """Log in the way a person does: GET Django's login form, POST it with its CSRF token."""
    query = f"?next={next_url}" if next_url else ""
    form = await client.get(f"/accounts/login/{query}")
    assert form.status_code == 200, form.text
    match = _CSRF_INPUT.search(form.text)
    assert match, "login form has no CSRF token"
    response = await client.post(
        f"/accounts/login/{query}",
        data={"username": username, "password": password, "csrfmiddlewaretoken": match.group(1), "next": next_url},
        headers={"Referer": f"{BASE_URL}/accounts/login/"},
    )
    assert response.status_code == 302, response.text
    assert settings.SESSION_COOKIE_NAME in client.cookies
    return response


def csrf_headers(client: httpx.AsyncClient, *, origin: str = BASE_URL) -> dict[str, str]:
    """What a same-origin page of ours sends on an unsafe ``/api/v2`` call."""
    return {"X-CSRFToken": client.cookies[settings.CSRF_COOKIE_NAME], "Origin": origin}


def cookie_names(response: httpx.Response) -> Sequence[str]:
    return sorted(header.split("=", 1)[0] for header in response.headers.get_list("set-cookie"))


def record_paths(monkeypatch: pytest.MonkeyPatch, middleware: type) -> list[str]:
    """The paths of the HTTP requests that reach ``middleware`` from now on (its ``__call__``
    wrapped for the test), to tell which layers a request went through."""
    seen: list[str] = []
    call = middleware.__call__

    async def recording(self: Any, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(scope["path"])
        await call(self, scope, receive, send)

    monkeypatch.setattr(middleware, "__call__", recording)
    return seen
