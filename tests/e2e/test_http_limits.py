"""The gateway as ``make run`` serves it refuses oversized request heads while reading them
(``fastapi_gateway.server.head_limits``), and serves a page whose head is just within the limits."""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from .conftest import GatewayServer

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


def _status_of_unfinished_head(server: GatewayServer, head: bytes) -> int:
    """Send a head that never ends; the answer can only come from the parser refusing it."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        try:
            sock.sendall(head)
        except OSError:
            pass  # refused and closed before all was sent
        answer = re.match(rb"HTTP/1\.1 (\d{3}) ", sock.recv(65536))
    assert answer is not None
    return int(answer.group(1))


def test_an_endless_header_and_endless_headers_are_refused_while_they_arrive(gateway_server: GatewayServer) -> None:
    start = b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    assert _status_of_unfinished_head(gateway_server, start + b"X-Big: " + b"b" * 8 * MiB) == 431
    assert _status_of_unfinished_head(gateway_server, start + b"X-Fill: v\r\n" * 100_000) == 431
    assert _status_of_unfinished_head(gateway_server, b"GET /" + b"t" * MiB) == 414


def test_a_page_whose_head_is_just_within_the_limits_is_served(gateway_server: GatewayServer) -> None:
    # "GET " + target + " HTTP/1.1" is 4094 bytes; each "X-Fill-NN: value\r\n" is 8190.
    target = "/accounts/login/?next=/" + "n" * (4094 - 10 - 3 - len("/accounts/login/?next=/"))
    with httpx.Client(base_url=gateway_server.url, timeout=30) as client:
        others = 100 - len(client.build_request("GET", target).headers)
        fields = [(f"X-Fill-{n:02}", "v" * 8177) for n in range(others)]
        response = client.get(target, headers=fields)
        assert response.status_code == 200
        assert client.get(target + "n", headers=fields).status_code == 414
        assert client.get(target, headers=[*fields, ("X-One-More", "v")]).status_code == 431
