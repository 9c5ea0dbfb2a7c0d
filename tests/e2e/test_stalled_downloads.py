"""Clients that stop reading a download, and bodies too large to take, against a real uvicorn.

From an attack pass: four clients that asked for a large legacy download and never read it
held every thread of the legacy pool, so no legacy page answered anyone until they closed
their sockets; and an anonymous POST to any legacy URL was stored whole, however large, before
Django ran. Raw sockets, because no HTTP client asks for a body and then refuses to read it.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from .conftest import GatewayServer, running_gateway

pytestmark = pytest.mark.e2e

SEND_TIMEOUT = 2  # seconds (GATEWAY_LEGACY_SEND_TIMEOUT_SECONDS); the default is 30
STALLED = 6  # more than the legacy pool's 4 threads
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    with running_gateway(tmp_path_factory.mktemp("stalled-downloads"), DJANGO_SETTINGS_MODULE="tests.e2e.signal_settings",
                         GATEWAY_LEGACY_SEND_TIMEOUT_SECONDS=str(SEND_TIMEOUT), GATEWAY_LEGACY_MAX_BODY_MB="5") as server:
        yield server


def _connect(url: str) -> socket.socket:
    address = urlsplit(url)
    assert address.hostname and address.port
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: a small window
    sock.settimeout(10)
    sock.connect((address.hostname, address.port))
    return sock


def _drain(sock: socket.socket) -> int:
    """Bytes read until the server closes the connection."""
    sock.settimeout(SEND_TIMEOUT + 10)
    total = 0
    while data := sock.recv(MiB):
        total += len(data)
    return total


def test_clients_that_stop_reading_are_cut_off_and_the_site_keeps_answering(gateway: GatewayServer) -> None:
    host = urlsplit(gateway.url).netloc
    sockets = [_connect(gateway.url) for _ in range(STALLED)]
    try:
        for sock in sockets:
            sock.sendall(f"GET /big/?mb=64 HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        time.sleep(0.5)  # every download started, and every window filled
        with httpx.Client(base_url=gateway.url, timeout=SEND_TIMEOUT * 3) as client:
            started = time.monotonic()
            assert client.get("/accounts/login/").status_code == 200
            waited = time.monotonic() - started
        assert waited < SEND_TIMEOUT * 2.5, f"the login page waited {waited:.1f} s behind clients that read nothing"
        received = [_drain(sock) for sock in sockets]  # each ends: the server closed it
    finally:
        for sock in sockets:
            sock.close()
    # Those the legacy threads were busy on were cut; one that started later, while this test
    # was reading it, is a client that reads, and got its download whole.
    assert sum(total < 64 * MiB for total in received) >= 4, received
    assert "took nothing of the response for 2 s; abandoned" in gateway.log.read_text()


def _open_to(server_pid: int, port: int, client_ports: set[int]) -> set[int]:
    """Which of ``client_ports`` the server still holds a connection to (as its socket's remote port)."""
    import psutil

    process = psutil.Process(server_pid)
    held = set()
    for each in [process, *process.children(recursive=True)]:
        for connection in each.net_connections(kind="tcp"):
            if connection.laddr and connection.laddr.port == port and connection.raddr and connection.raddr.port in client_ports:
                held.add(connection.raddr.port)
    return held


def test_a_client_cut_off_loses_its_connection_not_only_its_thread(gateway: GatewayServer) -> None:
    """A stalled client, once cut off, must not keep its socket: the server used to close it
    gracefully, after the answer's buffered bytes, which a client that reads nothing never
    takes, so each such client held a socket and its buffers for as long as it liked (the
    kernel keeps probing a zero window while the peer acknowledges). Cut off now means reset."""
    address = urlsplit(gateway.url)
    assert address.port
    sockets = [_connect(gateway.url) for _ in range(2)]
    try:
        for sock in sockets:
            sock.sendall(f"GET /big/?mb=64 HTTP/1.1\r\nHost: {address.netloc}\r\n\r\n".encode())
        ports = {sock.getsockname()[1] for sock in sockets}
        time.sleep(0.5)
        assert _open_to(gateway.pid, address.port, ports) == ports  # both downloads under way
        deadline = time.monotonic() + SEND_TIMEOUT + 10
        while (held := _open_to(gateway.pid, address.port, ports)) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert not held, f"the server still holds {len(held)} connection(s) of clients it cut off {SEND_TIMEOUT} s ago"
        for sock in sockets:  # what the client sees: the stream ends, short, or a reset
            try:
                assert _drain(sock) < 64 * MiB
            except ConnectionResetError:
                pass
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.parametrize("framing", ["Content-Length: 104857600", "Transfer-Encoding: chunked"])
def test_an_anonymous_body_over_the_limit_gets_413_and_is_not_stored(gateway: GatewayServer, framing: str) -> None:
    host = urlsplit(gateway.url).netloc
    with _connect(gateway.url) as sock:
        sock.sendall(f"POST /no-such-page/ HTTP/1.1\r\nHost: {host}\r\n{framing}\r\n\r\n".encode())
        block = b"x" * MiB
        answer = b""
        try:
            for _ in range(100):
                sock.sendall((b"%x\r\n" % len(block) + block + b"\r\n") if "chunked" in framing else block)
        except OSError:
            pass  # the server answered and closed while the body was still coming
        sock.settimeout(10)
        try:
            while data := sock.recv(65536):
                answer += data
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"over this site's limit of 5242880 bytes" in answer
