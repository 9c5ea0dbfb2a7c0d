"""The legacy bridge under a real uvicorn, next to a real gunicorn serving the same WSGI app.

Two things a WSGI app notices of its server: the ``SCRIPT_NAME`` and ``PATH_INFO`` it is given
when the site lives under a sub-path (``SCRIPT_NAME`` in the server's environment, or
``uvicorn --root-path`` behind a proxy that took the prefix off), and when each block it
produces reaches the client. Raw sockets, so the request targets go out exactly as written
(``/app%2Fx``, ``/%61pp/x``) and the arrival of each byte can be timed.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .conftest import ROOT, GatewayServer, _free_port, running_gateway
from .wsgi_apps import SLOW_SECONDS

pytestmark = pytest.mark.e2e

UNDER = ["/app", "/app/", "/app/x", "/app//x", "/app/a%20b", "/app/x%2Fy", "/app%2Fx", "/app/caf%C3%A9", "/app/100%25"]
OUTSIDE = ["/", "/other", "/ap"]


@contextmanager
def serving(name: str, command: list[str], tmp_path: Path, **env: str) -> Iterator[str]:
    """``python -m <command> --bind/--port`` on a free port of 127.0.0.1, until the block ends;
    its log must hold no traceback."""
    port = _free_port()
    bind = ["--bind", f"127.0.0.1:{port}", "--no-control-socket"] if command[0] == "gunicorn" else ["--host", "127.0.0.1", "--port", str(port)]
    log = tmp_path / f"{name}.log"
    environment = {key: value for key, value in os.environ.items() if key != "SCRIPT_NAME"} | env
    with log.open("wb") as log_file:
        process = subprocess.Popen([sys.executable, "-m", *command, *bind], cwd=ROOT, env=environment, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert "Traceback" not in log.read_text(), log.read_text()


def exchange(address: str, target: str) -> tuple[bytes, bytes, float]:
    """``GET target`` as written: the response head, its body (de-chunked), and when the first
    body byte came, in seconds after the request went out."""
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        started = time.monotonic()
        received, first_body_at = b"", 0.0
        while data := sock.recv(65536):
            received += data
            if not first_body_at and received.partition(b"\r\n\r\n")[2]:
                first_body_at = time.monotonic() - started
    head, _, body = received.partition(b"\r\n\r\n")
    if b"\r\ntransfer-encoding: chunked" in head.lower():
        body = _unchunked(body)
    return head, body, first_body_at


def _unchunked(body: bytes) -> bytes:
    data = b""
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return data
        data, body = data + body[:size], body[size + 2:]


def get(address: str, target: str) -> tuple[int, bytes]:
    head, body, _ = exchange(address, target)
    return int(head.split()[1]), body


# SCRIPT_NAME -------------------------------------------------------------------------------------


def test_under_script_name_the_bridge_gives_what_gunicorn_gives(tmp_path: Path) -> None:
    with (
        serving("gunicorn", ["gunicorn", "tests.e2e.wsgi_apps:echo"], tmp_path, SCRIPT_NAME="/app") as gunicorn,
        serving("uvicorn", ["uvicorn", "tests.e2e.wsgi_apps:bridged_echo"], tmp_path, SCRIPT_NAME="/app") as bridge,
        serving("root-path", ["uvicorn", "tests.e2e.wsgi_apps:bridged_echo", "--root-path", "/app"], tmp_path) as behind_proxy,
    ):
        for target in UNDER:
            status, body = get(gunicorn, target)
            assert status == 200, target
            assert get(bridge, target) == (200, body), target
            below = target.removeprefix("/app")
            if below.startswith("/"):  # what a proxy that took the prefix off forwards
                assert get(behind_proxy, below) == (200, body), target
        for target in OUTSIDE:
            assert (get(gunicorn, target)[0], get(bridge, target)[0]) == (500, 404), target  # a 4xx: nothing failed
        # Where the two differ, on purpose: gunicorn cuts /app off /application ("lication");
        # the bridge cuts at a slash only, and routes on the decoded path, as the gateway does.
        assert json.loads(get(gunicorn, "/application")[1]) == {"SCRIPT_NAME": "/app", "PATH_INFO": "lication"}
        assert get(bridge, "/application")[0] == 404
        assert get(gunicorn, "/%61pp/x")[0] == 500
        assert json.loads(get(bridge, "/%61pp/x")[1]) == {"SCRIPT_NAME": "/app", "PATH_INFO": "/x"}


_CSRF_VALUES = re.compile(rb'(name="csrfmiddlewaretoken" value=")[^"]+(")')


def answer(address: str, target: str) -> tuple[int, str | None, bytes]:
    """Status, ``Location`` and body (CSRF tokens masked) of Django's answer to ``GET target``."""
    head, body, _ = exchange(address, target)
    location = re.search(rb"(?im)^location: *(.*?)\r?$", head)
    return int(head.split()[1]), location.group(1).decode() if location else None, _CSRF_VALUES.sub(rb"\1<token>\2", body)


@pytest.fixture(scope="module")
def gateway_under_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    with running_gateway(tmp_path_factory.mktemp("script-name"), SCRIPT_NAME="/app") as server:
        yield server


def test_django_under_script_name_answers_as_under_gunicorn(gateway_under_app: GatewayServer, tmp_path: Path) -> None:
    env = {**gateway_under_app.env, "SCRIPT_NAME": "/app"}  # the same database
    with serving("gunicorn-django", ["gunicorn", "legacy_django.wsgi:application"], tmp_path, **env) as gunicorn:
        gateway = urlsplit(gateway_under_app.url).netloc
        for target in ["/app", "/app/", "/app/tickets", "/app/tickets/", "/app/accounts/login/", "/app/accounts/login/?next=/app/tickets/",
                       "/app/admin/", "/app/admin/login/?next=/app/admin/", "/app/api/tickets/", "/app/no/such/page/", "/app%2Ftickets/"]:
            assert answer(gateway, target) == answer(gunicorn, target), target
        assert answer(gateway, "/app/admin/")[1] == "/app/admin/login/?next=/app/admin/"
        for target in ["/", "/tickets/", "/application"]:
            assert answer(gateway, target)[0] == 404, target  # gunicorn: 500


# Blocks ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def block_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """gunicorn and the bridge under uvicorn, both serving ``wsgi_apps.blocks``."""
    logs = tmp_path_factory.mktemp("blocks")
    with (
        serving("gunicorn", ["gunicorn", "tests.e2e.wsgi_apps:blocks"], logs) as gunicorn,
        serving("uvicorn", ["uvicorn", "tests.e2e.wsgi_apps:bridged_blocks"], logs) as bridge,
    ):
        yield gunicorn, bridge


@pytest.mark.parametrize("kind", ["/generator", "/generator-with-length", "/write"])
def test_the_first_block_arrives_while_the_app_works_on_the_next(kind: str, block_servers: tuple[str, str]) -> None:
    gunicorn, bridge = block_servers
    _, _, under_gunicorn = exchange(gunicorn, kind)
    head, body, through_bridge = exchange(bridge, kind)
    assert head.startswith(b"HTTP/1.1 200 ") and body == b"firstsecond"
    assert under_gunicorn < 1.0
    assert through_bridge < 1.0, f"the first block came after {through_bridge:.3f} s (the app works {SLOW_SECONDS} s on the next)"
