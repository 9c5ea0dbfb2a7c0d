"""Stalled uploads against a real uvicorn: the legacy site keeps answering, and each stall is cut.

Raw sockets, because no HTTP client sends half a body and then waits. Each one sends the head
of an anonymous ``POST /accounts/login/`` (a ``csrftoken`` cookie or none; ``Content-Length``
or chunked), 300 KiB of its body, and then nothing; four of them used to hold every thread of
the legacy pool until their sockets closed.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from .conftest import GatewayServer, running_gateway

pytestmark = pytest.mark.e2e

BODY_TIMEOUT = 5  # seconds (GATEWAY_LEGACY_BODY_TIMEOUT_SECONDS); the default is 60
STALLED = 64
KiB = 1024


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    with running_gateway(tmp_path_factory.mktemp("stalled"), GATEWAY_LEGACY_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT)) as server:
        yield server


def _stalled_upload(url: str, number: int) -> socket.socket:
    """Half of them with a cookie, half chunked (stopping inside a 1 MiB chunk)."""
    address = urlsplit(url)
    assert address.hostname and address.port
    cookie = "Cookie: csrftoken=stalledstalledstalledstalled0123\r\n" if number % 2 else ""
    if number % 4 < 2:
        framing, body = "Content-Length: 2000000\r\n", b"x" * 300 * KiB
    else:
        framing, body = "Transfer-Encoding: chunked\r\n", b"%x\r\n" % (1024 * KiB) + b"x" * 300 * KiB
    head = (
        f"POST /accounts/login/ HTTP/1.1\r\nHost: {address.netloc}\r\n{cookie}"
        f"Content-Type: application/x-www-form-urlencoded\r\n{framing}\r\n"
    )
    sock = socket.create_connection((address.hostname, address.port), timeout=10)
    sock.sendall(head.encode() + body)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    sock.settimeout(BODY_TIMEOUT + 10)
    received = b""
    while data := sock.recv(64 * KiB):
        received += data
    return received


def test_stalled_uploads_leave_the_site_answering_then_get_408_and_are_closed(gateway: GatewayServer) -> None:
    sockets = [_stalled_upload(gateway.url, number) for number in range(STALLED)]
    try:
        with httpx.Client(base_url=gateway.url, timeout=5) as client:
            for _ in range(3):
                started = time.monotonic()
                page = client.get("/accounts/login/")
                assert page.status_code == 200
                assert time.monotonic() - started < 3  # a page held behind the stalls would wait BODY_TIMEOUT
        readable, _, _ = select.select(sockets, [], [], 0)
        assert not readable, "a stalled upload was answered before the pages were asked for: raise BODY_TIMEOUT"
        answers = [_read_until_closed(sock) for sock in sockets]  # each ends: the server closed it
    finally:
        for sock in sockets:
            sock.close()
    for answer in answers:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"\r\nconnection: close" in head.lower()
        assert body == b"Request Timeout: the request body stopped arriving.\n"
