"""``python -m fastapi_gateway.server.launcher``: workers take a connection only when they are free.

The launcher runs for real, as a process tree on 127.0.0.1, with ``serve_app`` as the app:
what is checked is which worker process answered each new connection.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from fastapi_gateway.server.launcher import AcceptGate

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Launched:
    url: str
    directory: Path
    process: subprocess.Popen[bytes]
    log: Path

    def pid_of_new_connection(self, path: str = "/pid", timeout: float = 10) -> int:
        """GET over a connection of its own, as wrk does with ``Connection: close``."""
        with httpx.Client(timeout=timeout) as client:
            response = client.get(self.url + path, headers={"Connection": "close"})
        assert response.status_code == 200
        return int(response.text)

    def held_pids(self) -> set[int]:
        return {int(path.name.removeprefix("held-")) for path in self.directory.glob("held-*")}

    def hold(self) -> tuple[int, threading.Thread]:
        """Start a request that keeps its response back; return the worker holding it."""
        before = self.held_pids()
        thread = threading.Thread(target=self.pid_of_new_connection, args=("/hold", 30), daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not (self.held_pids() - before):
            assert time.monotonic() < deadline, "the held request never reached the app"
            time.sleep(0.01)
        (pid,) = self.held_pids() - before
        return pid, thread

    def release(self, *threads: threading.Thread) -> None:
        (self.directory / "release").touch()
        for thread in threads:
            thread.join(timeout=10)
            assert not thread.is_alive()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def launched(tmp_path: Path, *, workers: int, accept_wait: float, args: Sequence[str] = (), cuts_requests: bool = False) -> Iterator[Launched]:
    """The launcher serving ``serve_app``; ``cuts_requests``: the test stops it while a request is
    held, so uvicorn logs that request's cancellation with its traceback."""
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "fastapi_gateway.server.launcher", "tests.gateway.server.serve_app:app", "--port", str(port),
             "--workers", str(workers), "--accept-wait", str(accept_wait), *args],
            cwd=ROOT, env={**_env(), "SERVE_TEST_DIR": str(tmp_path)}, stdout=log_file, stderr=subprocess.STDOUT,
        )
    server = Launched(f"http://127.0.0.1:{port}", tmp_path, process, log)
    try:
        _wait_for_workers(server, workers)
        yield server
    finally:
        (tmp_path / "release").touch()
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    text = log.read_text()
    assert code in (0, -signal.SIGTERM), text  # uvicorn re-raises the signal it stopped on
    assert cuts_requests or "Traceback" not in text, text


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def _wait_for_workers(server: Launched, workers: int) -> None:
    """Until ``workers`` different processes have answered (each accepts once it has started)."""
    seen: set[int] = set()
    deadline = time.monotonic() + 60
    while len(seen) < workers:
        if server.process.poll() is not None:
            pytest.fail(f"the launcher exited early:\n{server.log.read_text()}")
        assert time.monotonic() < deadline, f"only {len(seen)} of {workers} workers answered:\n{server.log.read_text()}"
        try:
            seen.add(server.pid_of_new_connection(timeout=2))
        except httpx.TransportError:
            time.sleep(0.05)


def test_a_worker_holding_a_request_leaves_new_connections_to_the_free_one(tmp_path: Path) -> None:
    with launched(tmp_path, workers=2, accept_wait=30) as server:
        held_by, holding = server.hold()
        answered_by = [server.pid_of_new_connection() for _ in range(20)]
        assert held_by not in answered_by  # plain `uvicorn --workers 2` sends about half of them there
        assert len(set(answered_by)) == 1
        server.release(holding)
        assert server.pid_of_new_connection() in {held_by, *answered_by}


def test_a_worker_busy_for_longer_than_accept_wait_still_leaves_connections_to_a_free_one(tmp_path: Path) -> None:
    # accept_wait leaves the free worker a whole second to take each connection, on a loaded machine too.
    with launched(tmp_path, workers=2, accept_wait=1.0) as server:
        held_by, holding = server.hold()
        time.sleep(1.5)  # busy for longer than accept_wait: that alone must not make it take connections
        answered_by = []
        for _ in range(6):
            answered_by.append(server.pid_of_new_connection())
            time.sleep(0.5)  # nothing waiting when the busy worker's accept_wait runs out
        assert held_by not in answered_by
        server.release(holding)


def test_when_every_worker_is_busy_a_connection_waits_accept_wait_at_most(tmp_path: Path) -> None:
    with launched(tmp_path, workers=2, accept_wait=0.5) as server:
        first, holding_first = server.hold()
        second, holding_second = server.hold()
        assert first != second  # the busy worker left the second request to the free one
        started = time.monotonic()
        answered_by = server.pid_of_new_connection()
        waited = time.monotonic() - started
        assert answered_by in {first, second}
        assert 0.4 <= waited < 5, waited
        server.release(holding_first, holding_second)


def test_one_worker_is_plain_uvicorn(tmp_path: Path) -> None:
    with launched(tmp_path, workers=1, accept_wait=30) as server:
        held_by, holding = server.hold()
        assert server.pid_of_new_connection() == held_by  # nobody to leave it to: served at once
        server.release(holding)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_workers_refuse_oversized_heads_at_the_flags_limits_or_gunicorns(tmp_path: Path, workers: int) -> None:
    with launched(tmp_path, workers=workers, accept_wait=0.02, args=["--limit-request-line", "200"]) as server:
        with httpx.Client(timeout=10) as client:
            assert client.get(f"{server.url}/pid?{'q' * 150}").status_code == 200
            assert client.get(f"{server.url}/pid?{'q' * 300}").status_code == 414
            assert client.get(f"{server.url}/pid", headers={"X-Big": "b" * 9000}).status_code == 431
            assert client.get(f"{server.url}/pid", headers=[(f"X-Fill-{n}", "v") for n in range(100)]).status_code == 431


@pytest.mark.parametrize("keep_alive", [1, 4])
def test_an_idle_keep_alive_connection_is_kept_timeout_keep_alive_seconds(tmp_path: Path, keep_alive: int) -> None:
    """Behind nginx (upstream keepalive_timeout 60 s) the deployments pass 75: the gateway must
    keep an idle connection that long, or nginx sends a request on one it is closing (502)."""
    with launched(tmp_path, workers=1, accept_wait=0.02, args=["--timeout-keep-alive", str(keep_alive)]) as server:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(b"GET /pid HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert connection.recv(65536).startswith(b"HTTP/1.1 200")
            started = time.monotonic()  # the answer is out: from here the connection is idle
            connection.settimeout(keep_alive + 10)
            while connection.recv(65536):  # the rest of the answer, then the server's close
                pass
            idle = time.monotonic() - started
    assert keep_alive - 0.5 <= idle <= keep_alive + 2, idle


def test_a_limit_flag_must_be_positive() -> None:
    launch = subprocess.run([sys.executable, "-m", "fastapi_gateway.server.launcher", "--limit-request-fields", "0"],
                            cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60)
    assert launch.returncode == 2
    assert "--limit-request-fields: a positive whole number, not '0'" in launch.stderr


# The gate itself, in-process.

async def _respond(send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"", "more_body": True})


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _http_scope() -> Scope:
    return {"type": "http", "method": "GET", "path": "/", "headers": []}


async def _drop(message: Message) -> None:
    return None


def _watched(gate: AcceptGate) -> list[bool]:
    """The gate's turns, as ``free`` after each one."""
    turns: list[bool] = []
    gate.listeners.append(lambda: turns.append(gate.free))
    return turns


async def test_the_gate_is_busy_until_the_response_starts() -> None:
    response_may_start = asyncio.Event()
    stream_may_end = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await response_may_start.wait()
        await _respond(send)
        await stream_may_end.wait()  # a stream going on does not keep the worker busy

    gate = AcceptGate(app, accept_wait=30)
    turns = _watched(gate)
    request = asyncio.create_task(gate(_http_scope(), _receive, _drop))
    await asyncio.sleep(0.05)
    assert not gate.free and turns == [False]
    response_may_start.set()
    await asyncio.sleep(0.05)
    assert gate.free and turns == [False, True]
    assert not request.done()
    stream_may_end.set()
    await request
    assert turns == [False, True]


@pytest.mark.parametrize("ending", ["raises", "returns without a response"])
async def test_a_request_that_ends_without_a_response_frees_the_gate(ending: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(0.01)
        if ending == "raises":
            raise RuntimeError("boom")

    gate = AcceptGate(app, accept_wait=30)
    turns = _watched(gate)
    with pytest.raises(RuntimeError) if ending == "raises" else nullcontext():
        await gate(_http_scope(), _receive, _drop)
    assert gate.free and turns == [False, True]


async def test_an_accepted_connection_keeps_the_worker_busy_until_its_first_request_is_answered() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await _respond(send)

    gate = AcceptGate(app, accept_wait=30)
    turns = _watched(gate)
    gate.accepted(("127.0.0.1", 50123))
    assert not gate.free
    await gate({**_http_scope(), "client": ("127.0.0.1", 50123)}, _receive, _drop)
    assert gate.free
    assert turns == [False, True]  # never free between the accept and the answer


async def test_an_accepted_connection_that_sends_nothing_frees_the_worker_after_accept_wait() -> None:
    gate = AcceptGate(_respond_app, accept_wait=0.1)
    gate.accepted(("127.0.0.1", 50124))
    assert not gate.free
    await asyncio.sleep(0.3)
    assert gate.free
    await gate({**_http_scope(), "client": ("127.0.0.1", 50124)}, _receive, _drop)  # late: an ordinary request
    assert gate.free


async def _respond_app(scope: Scope, receive: Receive, send: Send) -> None:
    await _respond(send)


async def test_lifespan_and_websockets_are_not_counted() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])
        assert gate.free

    gate = AcceptGate(app, accept_wait=30)
    await gate({"type": "lifespan"}, _receive, _drop)
    await gate({"type": "websocket", "path": "/ws", "headers": []}, _receive, _drop)
    assert seen == ["lifespan", "websocket"]
