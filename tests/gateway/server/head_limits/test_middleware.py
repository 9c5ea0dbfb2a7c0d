"""``RequestHeadLimitMiddleware`` in-process through ``httpx.ASGITransport``, as any ASGI
server would hand it a scope, and outermost in the assembled gateway."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from fastapi_gateway import GatewayConfigurationError, create_app
from fastapi_gateway.server.head_limits import RequestHeadLimitMiddleware, RequestHeadLimits

MiB = 1024 * 1024
TARGET_AT_LIMIT = "/" + "t" * 4080  # "GET " + this + " HTTP/1.1" is 4094 bytes
VALUE_AT_LIMIT = "v" * 8180  # "X-Fill: " + this + CRLF is 8190 bytes


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    body = b"%d fields" % len(scope["headers"])
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


async def get(target: str, headers: Sequence[tuple[str, str]] = (), limits: RequestHeadLimits | None = None) -> httpx.Response:
    """A GET with ``Host`` and ``headers`` only, straight to the transport: httpx's client would
    add its own headers and, reading cookies back, take minutes over 100,000 of them."""
    transport = httpx.ASGITransport(app=RequestHeadLimitMiddleware(echo, limits=limits or RequestHeadLimits()))
    response = await transport.handle_async_request(httpx.Request("GET", "http://testserver" + target, headers=list(headers)))
    await response.aread()
    return response


def fillers(count: int, value: str = "v") -> list[tuple[str, str]]:
    return [(f"X-Fill-{n}", value) for n in range(count)]


OVERSIZED: dict[str, tuple[str, list[tuple[str, str]], int, str]] = {
    "long request line": (TARGET_AT_LIMIT + "t", [], 414, "Request line too long: the limit is 4094 bytes."),
    "long query": ("/?q=" + "q" * 8000, [], 414, "Request line too long: the limit is 4094 bytes."),
    "one 8 MiB header": ("/", [("X-Big", "b" * 8 * MiB)], 431, "Request header field too large: the limit is 8190 bytes."),
    "one field a byte over": ("/", [("X-Fill", VALUE_AT_LIMIT + "v")], 431, "Request header field too large: the limit is 8190 bytes."),
    "100,000 headers": ("/", fillers(100_000), 431, "Too many request header fields: the limit is 100."),
    "101 fields": ("/", fillers(100), 431, "Too many request header fields: the limit is 100."),
    "huge header name": ("/", [("X-" + "n" * 9000, "1")], 431, "Request header field too large: the limit is 8190 bytes."),
    "large total (101 fields of 8 KiB)": ("/", fillers(100, "v" * 8000), 431, "Too many request header fields: the limit is 100."),
}


@pytest.mark.parametrize("shape", OVERSIZED)
async def test_an_oversized_head_is_refused_with_a_clear_message(shape: str) -> None:
    target, fields, status, detail = OVERSIZED[shape]
    response = await get(target, fields)
    assert response.status_code == status
    assert response.json() == {"detail": detail}
    assert response.headers["connection"] == "close"


async def test_a_head_just_within_each_limit_is_served() -> None:
    assert (await get(TARGET_AT_LIMIT)).status_code == 200
    assert (await get("/", [("X-Fill", VALUE_AT_LIMIT)])).status_code == 200
    response = await get("/", fillers(99))  # and Host
    assert response.status_code == 200 and response.text == "100 fields"
    # All three at once: the largest head the limits allow together, about 800 KiB, as under gunicorn.
    fields = [("Host", "h" * 8182), *((f"X-Fill-{n:02}", "v" * 8177) for n in range(99))]  # 8190 bytes each
    response = await get(TARGET_AT_LIMIT, fields)
    assert response.status_code == 200 and response.text == "100 fields"


async def test_its_limits_are_its_own() -> None:
    limits = RequestHeadLimits(limit_request_line=100, limit_request_fields=10, limit_request_field_size=50)
    assert (await get("/" + "t" * 86, limits=limits)).status_code == 200
    assert (await get("/" + "t" * 87, limits=limits)).status_code == 414
    assert (await get("/", [("X-Fill", "v" * 40)], limits)).status_code == 200
    assert (await get("/", [("X-Fill", "v" * 41)], limits)).status_code == 431
    assert (await get("/", fillers(9), limits)).status_code == 200
    assert (await get("/", fillers(10), limits)).status_code == 431


async def test_an_oversized_websocket_handshake_is_closed_before_it_is_accepted() -> None:
    sent: list[Message] = []
    reached: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope)

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = RequestHeadLimitMiddleware(app, limits=RequestHeadLimits())
    scope: dict[str, Any] = {"type": "websocket", "path": "/ws", "raw_path": b"/ws", "query_string": b"", "headers": []}
    await middleware({**scope, "headers": [(b"x-big", b"b" * 9000)]}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}] and not reached
    await middleware(scope, receive, send)
    assert len(reached) == 1


async def test_lifespan_passes_through() -> None:
    reached: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope["type"])

    async def nothing() -> Message:
        return {}

    async def drop(message: Message) -> None:
        return None

    await RequestHeadLimitMiddleware(app, limits=RequestHeadLimits())({"type": "lifespan"}, nothing, drop)
    assert reached == ["lifespan"]


# In the assembled gateway.

@pytest.mark.django_db(transaction=True)
async def test_the_gateway_refuses_an_oversized_head_before_any_other_check(gateway: httpx.AsyncClient) -> None:
    assert (await gateway.get("/healthz")).status_code == 200
    response = await gateway.get("/healthz", headers=fillers(100))
    assert response.status_code == 431
    assert response.json() == {"detail": "Too many request header fields: the limit is 100."}
    # Outermost: a foreign Host (400 from the host check) is not even looked at.
    assert (await gateway.get("/tickets/", headers=[("Host", "evil.example"), ("X-Big", "b" * MiB)])).status_code == 431
    assert (await gateway.get("/accounts/login/?next=" + "n" * 5000)).status_code == 414


@pytest.mark.django_db(transaction=True)
async def test_create_app_takes_the_limits(gateway_factory: Any) -> None:
    async with gateway_factory(limit_request_line=8190, limit_request_fields=10) as gateway:
        assert (await gateway.get("/healthz?q=" + "q" * 8000)).status_code == 200
        assert (await gateway.get("/healthz", headers=fillers(6))).status_code == 431


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("bad", [{"limit_request_line": 0}, {"limit_request_fields": -1}, {"limit_request_field_size": 0}])
def test_create_app_refuses_a_limit_that_is_not_positive(bad: dict[str, int]) -> None:
    with pytest.raises(GatewayConfigurationError, match=next(iter(bad)).upper()):
        create_app(**bad)
