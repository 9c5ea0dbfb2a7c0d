"""``X-Request-ID``: kept from a trusted proxy when sane, made otherwise; seen by Django as
``request.META["HTTP_X_REQUEST_ID"]`` and by the logs, and on every answer."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import APIRouter

from fastapi_gateway import create_app
from fastapi_gateway.logging import RequestIdFilter
from tests.gateway.conftest import BASE_URL, login, running
from tests.gateway.pages.gradio_pages import PROBE

pytestmark = pytest.mark.django_db(transaction=True)

MADE = re.compile(r"[0-9a-f]{32}")
PROXY_ID = "7f3c9a0e-1b2d-4c5e-8f90-a1b2c3d4e5f6"


@pytest.fixture(autouse=True)
def _echo_view(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.gateway.http.request_id_urls"


@pytest.fixture
async def behind_proxy(gateway_factory: Callable[..., Any]) -> AsyncIterator[httpx.AsyncClient]:
    """The test client's address (127.0.0.1) is the trusted proxy."""
    async with gateway_factory(trusted_proxies=["127.0.0.1"]) as client:
        yield client


async def test_an_id_from_a_trusted_proxy_is_kept_and_reaches_django(behind_proxy: httpx.AsyncClient) -> None:
    response = await behind_proxy.get("/echo-request-id/", headers={"X-Request-ID": PROXY_ID})
    assert response.headers["x-request-id"] == PROXY_ID
    assert response.json() == {"meta": PROXY_ID, "logging": PROXY_ID}


async def test_an_id_from_an_untrusted_peer_is_replaced(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/echo-request-id/", headers={"X-Request-ID": PROXY_ID})
    request_id = response.headers["x-request-id"]
    assert MADE.fullmatch(request_id)
    assert response.json() == {"meta": request_id, "logging": request_id}  # Django sees the new one, not the client's


async def test_a_request_without_an_id_gets_one_per_request(gateway: httpx.AsyncClient) -> None:
    first, second = [(await gateway.get("/echo-request-id/")) for _ in range(2)]
    assert first.json()["meta"] == first.headers["x-request-id"] != second.headers["x-request-id"] == second.json()["meta"]


@pytest.mark.parametrize("hostile", ["", "a" * 201, "id with spaces", "<script>alert(1)</script>", "x;rm -rf /", "é-latin1", "a\tb"])
async def test_a_hostile_id_even_from_a_trusted_proxy_is_replaced(behind_proxy: httpx.AsyncClient, hostile: str) -> None:
    response = await behind_proxy.get("/echo-request-id/", headers=[("X-Request-ID", hostile.encode("latin-1"))])
    request_id = response.headers["x-request-id"]
    assert MADE.fullmatch(request_id)
    assert response.json()["meta"] == request_id


async def test_two_ids_from_a_trusted_proxy_are_replaced_by_one(behind_proxy: httpx.AsyncClient) -> None:
    response = await behind_proxy.get("/echo-request-id/", headers=[("X-Request-ID", "one"), ("X-Request-ID", "two")])
    assert len(response.headers.get_list("x-request-id")) == 1
    assert MADE.fullmatch(response.json()["meta"])


async def test_the_legacy_views_log_records_carry_the_id(gateway: httpx.AsyncClient) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(request_id)s %(message)s"))
    view_logger = logging.getLogger("tests.request_id_view")
    view_logger.addHandler(handler)
    try:
        response = await gateway.get("/echo-request-id/")
    finally:
        view_logger.removeHandler(handler)
    assert stream.getvalue() == f"{response.headers['x-request-id']} the legacy view ran\n"


async def test_new_routes_gradio_pages_and_refusals_carry_an_id(gateway_factory: Callable[..., Any], demo_users: Any, demo_password: str) -> None:
    async with gateway_factory(gradio_pages=[PROBE], max_upload_mb=1) as client:
        answers = [
            await client.get("/api/v2/me"),  # 401: not signed in
            await client.get("/ui/probe/config"),  # Gradio's, behind the login
            await client.get("/tickets/", headers={"Host": "evil.example"}),  # Django's 400
            await client.post("/api/v2/tickets", content=b"x" * (1024 * 1024 + 1)),  # 413
            await client.get("/healthz"),
        ]
        await login(client, "alice", demo_password)
        answers += [await client.get("/api/v2/me"), await client.get("/ui/probe/config")]
    assert [answer.status_code for answer in answers] == [401, 401, 400, 413, 200, 200, 200]
    ids = [answer.headers.get("x-request-id", "") for answer in answers]
    assert all(MADE.fullmatch(request_id) for request_id in ids), ids
    assert len(set(ids)) == len(ids)


async def test_an_oversized_head_refused_by_the_app_carries_an_id(gateway_factory: Callable[..., Any]) -> None:
    async with gateway_factory(limit_request_fields=10) as client:
        response = await client.get("/tickets/", headers=[(f"X-Fill-{n}", "v") for n in range(10)])
    assert response.status_code == 431
    assert MADE.fullmatch(response.headers["x-request-id"])


def _failing_router() -> APIRouter:
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug in a new route")

    return router


async def test_the_500_of_an_unhandled_error_carries_the_id_and_the_error_still_reaches_the_server() -> None:
    app = create_app(api_routers={"/api/v2": _failing_router()}, trusted_proxies=["127.0.0.1"])
    async with running(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            response = await client.get("/api/v2/boom", headers={"X-Request-ID": PROXY_ID})
        assert response.status_code == 500
        assert response.text == "Internal Server Error"
        assert response.headers["x-request-id"] == PROXY_ID
        with pytest.raises(RuntimeError, match="a bug in a new route"):  # for the server to log, with its traceback
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
                await client.get("/api/v2/boom")
