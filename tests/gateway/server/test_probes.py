"""``/healthz`` and ``/readyz`` in the assembled gateway: no login, any Host, GET and HEAD,
never cached, not in the OpenAPI schema; ``/readyz`` 503 from the first stop signal."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from fastapi_gateway import create_app
from tests.gateway.conftest import client_for, running

pytestmark = pytest.mark.django_db(transaction=True)


async def test_both_answer_without_a_login(gateway: httpx.AsyncClient) -> None:
    health = await gateway.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = await gateway.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "session_store": "ok", "route_table": "ok"}}
    for answer in (health, ready):
        assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("host", ["10.244.1.17:8000", "127.0.0.1", "evil.example"])
async def test_any_host_is_answered(gateway: httpx.AsyncClient, settings: Any, host: str) -> None:
    settings.ALLOWED_HOSTS = ["desk.example"]
    assert (await gateway.get("/healthz", headers={"Host": host})).status_code == 200
    assert (await gateway.get("/readyz", headers={"Host": host})).status_code == 200
    assert (await gateway.get("/tickets/", headers={"Host": host})).status_code == 400  # the site is still refused


async def test_head_is_answered_and_other_methods_are_not_the_probes(gateway: httpx.AsyncClient) -> None:
    head = await gateway.head("/readyz")
    assert (head.status_code, head.content) == (200, b"")
    post = await gateway.post("/readyz")
    assert post.status_code == 405 and post.headers["allow"] == "GET, HEAD"  # the gateway's URL, not Django's


async def test_they_are_not_in_the_openapi_schema(gateway: httpx.AsyncClient) -> None:
    paths = (await gateway.get("/api/v2/openapi.json")).json()["paths"]
    assert "/healthz" not in paths and "/readyz" not in paths


async def test_readyz_is_503_from_the_stop_signal_while_healthz_stays_200(gateway_factory: Callable[..., Any]) -> None:
    received: list[int] = []

    def server_handler(signum: int, frame: Any) -> None:  # stands for uvicorn's Server.handle_exit
        received.append(signum)

    previous = signal.signal(signal.SIGTERM, server_handler)
    try:
        app = create_app()
        async with running(app):
            async with client_for(app) as client:
                assert (await client.get("/readyz")).status_code == 200
                signal.raise_signal(signal.SIGTERM)
                await asyncio.sleep(0)
                ready = await client.get("/readyz")
                assert (ready.status_code, ready.json()) == (503, {"status": "shutting down", "checks": {"shutdown": "SIGTERM received"}})
                assert (await client.get("/healthz")).status_code == 200
                assert (await client.get("/tickets/", follow_redirects=False)).status_code == 302  # still serving meanwhile
        assert received == [signal.SIGTERM]  # passed on to the server's own handler
        assert signal.getsignal(signal.SIGTERM) is server_handler  # ours until the lifespan ended, then the one before
    finally:
        signal.signal(signal.SIGTERM, previous)


async def test_the_lifespan_shutdown_alone_also_turns_it_503() -> None:
    app = create_app()
    async with running(app):
        pass
    assert (await app.state.readiness.report()).status == "shutting down"


async def test_a_probe_url_answers_other_methods_405_whatever_the_host() -> None:
    """The probes' URLs are the gateway's whatever the method: never a Django 404 or 400 page."""
    from fastapi_gateway import create_app

    app = create_app(migrated_routes=(), gradio_pages=(), migration_console=None)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for path in ("/healthz", "/readyz"):
            for host in ("testserver", "", "evil.example"):
                response = await client.post(path, headers={"Host": host or "x"})
                assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD", (path, host)
                assert response.json() == {"detail": "Method Not Allowed"}
