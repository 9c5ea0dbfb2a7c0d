"""``RequestHeadLimits``: gunicorn's defaults, and heads measured as gunicorn measures them."""

from __future__ import annotations

import pytest
from gunicorn.config import Config as GunicornConfig
from gunicorn.http import errors as gunicorn_errors
from gunicorn.http.parser import RequestParser
from starlette.types import Message, Receive, Scope, Send

from fastapi_gateway.exceptions import GatewayConfigurationError, GatewayError
from fastapi_gateway.server.head_limits import (
    HeaderFieldTooLarge,
    RequestHeadLimitMiddleware,
    RequestHeadLimits,
    RequestHeadTooLarge,
    RequestLineTooLong,
    TooManyHeaderFields,
)
from fastapi_gateway.server.head_limits.limits import refusal_body


def test_the_defaults_are_gunicorns() -> None:
    gunicorn = GunicornConfig()
    assert RequestHeadLimits() == RequestHeadLimits(
        limit_request_line=gunicorn.limit_request_line,
        limit_request_fields=gunicorn.limit_request_fields,
        limit_request_field_size=gunicorn.limit_request_field_size,
    ) == RequestHeadLimits(4094, 100, 8190)


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "100"])
def test_a_limit_must_be_a_positive_whole_number(value: object) -> None:
    with pytest.raises(GatewayConfigurationError, match="limit_request_fields must be a positive whole number"):
        RequestHeadLimits(limit_request_fields=value)  # type: ignore[arg-type]


def test_refusals_are_gateway_errors_with_their_status_and_limit() -> None:
    cases: list[tuple[RequestHeadTooLarge, int]] = [(RequestLineTooLong(4094), 414), (TooManyHeaderFields(100), 431), (HeaderFieldTooLarge(8190), 431)]
    for error, status in cases:
        assert isinstance(error, GatewayError)
        assert error.status_code == status
        assert str(error.limit) in error.detail
    assert refusal_body(TooManyHeaderFields(100)) == b'{"detail": "Too many request header fields: the limit is 100."}'


# The same heads to gunicorn's own parser and to the gateway: the same verdicts, at each edge.

def _fields(*lines: str) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, _, value in (line.partition(": ") for line in lines)]


EDGES: dict[str, tuple[str, list[tuple[bytes, bytes]], int]] = {
    "request line of 4094": ("/" + "t" * 4080, _fields("Host: test"), 200),
    "request line of 4095": ("/" + "t" * 4081, _fields("Host: test"), 414),
    "request line of 4094 with a query": ("/p?" + "q" * 4078, _fields("Host: test"), 200),
    "request line of 4095 with a query": ("/p?" + "q" * 4079, _fields("Host: test"), 414),
    "field of 8190": ("/", _fields("Host: test", "X-Fill: " + "v" * 8180), 200),
    "field of 8191": ("/", _fields("Host: test", "X-Fill: " + "v" * 8181), 431),
    "100 fields": ("/", _fields("Host: test", *(f"X-F{n}: v" for n in range(99))), 200),
    "101 fields": ("/", _fields("Host: test", *(f"X-F{n}: v" for n in range(100))), 431),
}


def _gunicorns_answer(target: str, fields: list[tuple[bytes, bytes]]) -> int:
    raw = b"GET " + target.encode() + b" HTTP/1.1\r\n" + b"".join(name + b": " + value + b"\r\n" for name, value in fields) + b"\r\n"
    try:
        next(iter(RequestParser(GunicornConfig(), iter([raw]), ("127.0.0.1", 50000))))
    except gunicorn_errors.LimitRequestLine:
        return 414
    except gunicorn_errors.LimitRequestHeaders:
        return 431
    return 200


async def _gateways_answer(target: str, fields: list[tuple[bytes, bytes]]) -> int:
    path, _, query = target.partition("?")
    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": query.encode(), "headers": fields}
    statuses: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        statuses.append(200)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await RequestHeadLimitMiddleware(app, limits=RequestHeadLimits())(scope, receive, send)
    return statuses[0]


@pytest.mark.parametrize("edge", EDGES)
async def test_gunicorn_and_the_gateway_agree_at_each_edge(edge: str) -> None:
    target, fields, status = EDGES[edge]
    assert _gunicorns_answer(target, fields) == status
    assert await _gateways_answer(target, fields) == status
