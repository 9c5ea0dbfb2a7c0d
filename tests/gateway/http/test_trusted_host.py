"""A ``Host`` that ``ALLOWED_HOSTS`` does not list: Django's own answer on Django's URLs,
JSON ``400`` on the new side's, and never a step into the new side or the route table."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client
from starlette.types import Message

from api_v2 import router
from fastapi_gateway import create_app
from fastapi_gateway.http.body_limit import BodySizeLimitMiddleware
from fastapi_gateway.pages.guard import GradioGuardMiddleware
from fastapi_gateway.legacy.lane import LegacyLaneMiddleware
from fastapi_gateway.orm import run_orm
from fastapi_gateway.routing.middleware import RoutingMiddleware
from fastapi_gateway.routing.table import set_route_state
from fastapi_gateway.http.trusted_host import DjangoAllowedHostsMiddleware
from fastapi_gateway.identity.user_middleware import DjangoUserMiddleware

from tests.gateway.conftest import client_for, record_paths, running
from tests.gateway.pages.gradio_pages import PROBE

pytestmark = pytest.mark.django_db(transaction=True)

FOREIGN_HOSTS = ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "localhost.evil.example", "[::2]:80", "evil.example:80@127.0.0.1", "127.0.0.1:80:80"]
LEGACY_URLS = [
    "/",
    "/accounts/login/",
    "/accounts/login/?next=/tickets/",
    "/tickets/",
    "/tickets/1/",
    "/api/tickets/",  # a migrated route (legacy state): the route table never sees it
    "/api/tickets/1/",
    "/admin/",
    "/no/such/page/",
    "/static/admin/css/base.css",  # served by WhiteNoise, which never asks Django for the host
]
# /healthz and /readyz answer any Host (probes name the process by its address): tests/gateway/server/test_probes.py
NEW_URLS = ["/metrics", "/api/v2/me", "/api/v2/tickets", "/api/v2/docs", "/api/v2/openapi.json", "/ui/probe/", "/ui/probe/config", "/ui/probe/gradio_api/upload"]


def _django_answer(method: str, path: str, host: str, body: bytes = b"") -> tuple[int, list[tuple[str, str]], bytes]:
    """What Django's own WSGI handler answers, as gunicorn would serve it."""
    path_info, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path_info, "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": host, "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    started: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        started.update(status=int(status.split()[0]), headers=headers)
        return lambda data: None

    answer = WSGIHandler()(environ, start_response)
    try:
        content = b"".join(answer)
    finally:
        answer.close()
    return started["status"], started["headers"], content


def _headers(pairs: Any) -> list[tuple[str, str]]:
    return sorted((name.lower(), value) for name, value in pairs)


def _gateway_headers(response: httpx.Response) -> list[tuple[str, str]]:
    """The gateway's answer's headers, less the ``X-Request-ID`` it adds to every answer."""
    assert len(response.headers.get_list("x-request-id")) == 1
    return _headers((name, value) for name, value in response.headers.multi_items() if name.lower() != "x-request-id")


@pytest.fixture
async def app_with_pages(demo_users: Any) -> Any:
    """The bundled API and a Gradio page, running."""
    app = create_app(api_routers={"/api/v2": router}, gradio_pages=[PROBE])
    async with running(app):
        yield app


@pytest.fixture
async def gateway_with_pages(app_with_pages: Any) -> Any:
    async with client_for(app_with_pages) as client:
        yield client


@pytest.mark.parametrize("method", ["GET", "POST", "HEAD", "OPTIONS"])
@pytest.mark.parametrize("path", LEGACY_URLS)
async def test_a_foreign_host_on_a_legacy_url_gets_djangos_own_answer(gateway_with_pages: httpx.AsyncClient, path: str, method: str) -> None:
    body = b"title=x" if method == "POST" else b""
    status, headers, content = await sync_to_async(_django_answer)(method, path, "evil.example", body)
    response = await gateway_with_pages.request(
        method, path, content=body or None, headers={"Host": "evil.example", "Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == status, response.text[:300]
    assert response.content == (b"" if method == "HEAD" else content)  # a server sends no body to HEAD
    assert _gateway_headers(response) == _headers(headers)


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
async def test_djangos_400_page_and_security_headers_for_every_foreign_host_form(gateway_with_pages: httpx.AsyncClient, host: str) -> None:
    status, headers, content = await sync_to_async(_django_answer)("GET", "/tickets/", host)
    response = await gateway_with_pages.get("/tickets/", headers={"Host": host})
    assert response.status_code == status == 400
    assert response.content == content
    assert _gateway_headers(response) == _headers(headers)
    for security_header in ("x-content-type-options", "referrer-policy", "cross-origin-opener-policy"):
        assert security_header in response.headers


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
@pytest.mark.parametrize("path", NEW_URLS)
async def test_a_foreign_host_on_a_new_route_is_a_json_400(gateway_with_pages: httpx.AsyncClient, path: str, host: str) -> None:
    for method in ("GET", "POST"):
        response = await gateway_with_pages.request(method, path, headers={"Host": host})
        assert response.status_code == 400
        assert response.json() == {"detail": "Invalid Host header"}


async def test_a_foreign_host_reaches_neither_the_new_side_nor_the_route_table(
    gateway_with_pages: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    layers = [LegacyLaneMiddleware, RoutingMiddleware, BodySizeLimitMiddleware, GradioGuardMiddleware, DjangoUserMiddleware]
    seen = {layer.__name__: record_paths(monkeypatch, layer) for layer in layers}
    for path in [*LEGACY_URLS, *NEW_URLS]:
        assert (await gateway_with_pages.get(path, headers={"Host": "evil.example"})).status_code == 400 or path.startswith("/static/")
    assert seen == {layer.__name__: [] for layer in layers}
    # The same layers do see an allowed host (the recording works).
    await gateway_with_pages.get("/tickets/")
    await gateway_with_pages.get("/ui/probe/config")
    assert seen["LegacyLaneMiddleware"] == ["/tickets/", "/ui/probe/config"]
    assert seen["GradioGuardMiddleware"] == ["/ui/probe/config"]


@pytest.mark.parametrize("path", ["/tickets/", "/api/v2/me", "/ui/probe/gradio_api/queue/data"])
async def test_a_websocket_with_a_foreign_host_is_closed(app_with_pages: Any, path: str) -> None:
    sent: list[Message] = []
    received = iter([{"type": "websocket.connect"}])

    async def receive() -> Message:
        return next(received, {"type": "websocket.disconnect", "code": 1000})

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"", "scheme": "ws",
             "headers": [(b"host", b"evil.example")], "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "subprotocols": []}
    await app_with_pages(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]


async def test_without_a_legacy_app_every_url_gets_the_json_400() -> None:
    """Used on its own (no ``legacy``), the middleware refuses everything the same way."""

    async def never(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("a foreign host reached the app")

    transport = httpx.ASGITransport(app=DjangoAllowedHostsMiddleware(never))
    async with httpx.AsyncClient(transport=transport, base_url="http://evil.example") as client:
        response = await client.get("/tickets/")
    assert (response.status_code, response.json()) == (400, {"detail": "Invalid Host header"})



def _session_of(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return str(client.cookies[settings.SESSION_COOKIE_NAME].value)


async def test_a_migrated_url_served_by_the_new_side_still_gets_djangos_answer(demo_users: Any, alice: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``/api/tickets/`` moved to ``/api/v2`` (state ``new``): with a foreign Host it is still
    Django's URL, answered as under gunicorn, and the route table never sees it."""
    from api_v2 import router

    app = create_app(api_routers={"/api/v2": router}, route_poll_seconds=0.05)
    table = app.state.route_table
    async with running(app):
        version = table.version
        await run_orm(set_route_state, "api-tickets", "new", reason="test", actor="pytest")
        for _ in range(500):
            if table.version != version:
                break
            await asyncio.sleep(0.01)
        async with client_for(app) as client:
            client.cookies.set(settings.SESSION_COOKIE_NAME, await sync_to_async(_session_of)(alice))
            assert (await client.get("/api/tickets/")).headers["x-served-by"] == "new"
            routed = record_paths(monkeypatch, RoutingMiddleware)
            response = await client.get("/api/tickets/", headers={"Host": "evil.example"})
    status, headers, content = await sync_to_async(_django_answer)("GET", "/api/tickets/", "evil.example")
    assert (response.status_code, response.content) == (status, content)
    assert _gateway_headers(response) == _headers(headers)
    assert routed == []
