"""``LimitedHttpToolsProtocol`` under a real uvicorn on 127.0.0.1, spoken to over raw sockets.

Each oversized shape is sent whole, and where it can be, left unfinished: an answer to a head
that never ends shows the refusal came while parsing, not after buffering it all.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.importer import import_from_string
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from fastapi_gateway.server.head_limits import RequestHeadLimits
from fastapi_gateway.server.head_limits.httptools_protocol import LimitedHttpToolsProtocol

ROOT = Path(__file__).resolve().parents[4]
PROTOCOL = "fastapi_gateway.server.head_limits.httptools_protocol:LimitedHttpToolsProtocol"
MiB = 1024 * 1024

# At gunicorn's defaults: a request line of 4094 bytes is "GET " + a target of 4081 + " HTTP/1.1";
# a field of 8190 is "X-Fill: " + a value of 8180 + CRLF; 100 fields are Host and 99 more.
TARGET_AT_LIMIT = "/" + "t" * 4080
VALUE_AT_LIMIT = "v" * 8180
DISCONNECTS: list[str] = []


BIG = 24 * MiB
BIG_SENDS: list[dict[str, float]] = []  # per /big answer: how long its sends waited in all, whether it ended


async def _big(send: Send) -> None:
    """24 MiB in 256 KiB sends, recording how long they waited for the client in all."""
    record = {"waited": 0.0, "ended": 0.0}
    BIG_SENDS.append(record)
    block = b"b" * (256 * 1024)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % BIG)]})
    for n in range(BIG // len(block)):
        started = time.monotonic()
        await send({"type": "http.response.body", "body": block, "more_body": n < BIG // len(block) - 1})
        record["waited"] += time.monotonic() - started
    record["ended"] = 1.0


async def _whole(send: Send, query: bytes) -> None:
    """An answer made whole and sent in one message, as a JSON list or a legacy page is, of the
    query's size; with ``&close`` the app ends the connection with it (``Connection: close``)."""
    size, _, close = query.partition(b"&")
    headers = [(b"content-length", size)] + ([(b"connection", b"close")] if close == b"close" else [])
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"w" * int(size)})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with how much of the head it was handed; ``/slow`` takes its time, ``/read``
    reads the whole body first (and answers nothing if the client is cut off), ``/big`` is a
    large answer, ``/whole?<bytes>`` one sent in one message."""
    if scope["path"] == "/big":
        return await _big(send)
    if scope["path"] == "/whole":
        return await _whole(send, scope["query_string"])
    if scope["path"] == "/lateread":  # busy before it reads the body: the client must wait for it
        await asyncio.sleep(1.5)
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                DISCONNECTS.append(scope["path"])
                return
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"%d bytes" % size
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        return await send({"type": "http.response.body", "body": body})
    if scope["path"] == "/slow":
        await asyncio.sleep(0.3)
    if scope["path"] == "/read":
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                DISCONNECTS.append(scope["path"])
                return
            if not message.get("more_body"):
                break
    body = b"%d fields, target %d" % (len(scope["headers"]), len(scope["raw_path"]) + len(scope["query_string"]))
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def serving(limits: RequestHeadLimits | None = None, *, timeouts: tuple[float, float, float] | None = None,
            protocol: type[LimitedHttpToolsProtocol] | None = None) -> Iterator[int]:
    """uvicorn with the protocol (or a subclass), uvloop and the test's app in a thread; yields
    its port. ``timeouts``: (head, send, body) seconds, as the settings' would be read."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=protocol or PROTOCOL, loop="uvloop", lifespan="off", log_level="error")
    if limits is not None:
        config.request_head_limits = limits  # type: ignore[attr-defined]  # what a launcher may set
    if timeouts is not None:
        config.connection_timeouts = timeouts  # type: ignore[attr-defined]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with serving() as port:
        yield port


def exchange(port: int, data: bytes, *, timeout: float = 10) -> bytes:
    """Send ``data`` (from a thread of its own: the server may stop reading it) and return all
    that comes back until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        def send_all() -> None:
            try:
                sock.sendall(data)
            except OSError:
                pass  # refused and closed before all was sent

        sender = threading.Thread(target=send_all, daemon=True)
        sender.start()
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass  # the server closed with our bytes unread; what it answered came first
        sender.join(timeout=timeout)
        return received


def statuses(response: bytes) -> list[int]:
    return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", response)]


def get(target: str = "/", *fields: str, close: bool = True) -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: test", *fields, *(["Connection: close"] if close else [])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def fillers(count: int, value: str = "v") -> list[str]:
    return [f"X-Fill-{n}: {value}" for n in range(count)]


# Each oversized shape, sent whole.

OVERSIZED = {
    "long request line": (get(TARGET_AT_LIMIT + "t"), 414, b"Request line too long: the limit is 4094 bytes."),
    "long query": (get("/?q=" + "q" * 8000), 414, b"Request line too long"),
    "one 8 MiB header": (get("/", "X-Big: " + "b" * 8 * MiB), 431, b"Request header field too large: the limit is 8190 bytes."),
    "one field a byte over": (get("/", "X-Fill: " + VALUE_AT_LIMIT + "v"), 431, b"Request header field too large"),
    "100,000 headers": (get("/", *fillers(100_000)), 431, b"Too many request header fields: the limit is 100."),
    "101 fields": (get("/", *fillers(99), close=True), 431, b"Too many request header fields"),
    "huge header name": (get("/", "X-" + "n" * 9000 + ": 1"), 431, b"Request header field too large"),
    "large total (101 fields of 8 KiB)": (get("/", *fillers(100, "v" * 8000)), 431, b"Too many request header fields"),
}


@pytest.mark.parametrize("shape", OVERSIZED)
def test_an_oversized_head_is_refused_with_a_clear_message(port: int, shape: str) -> None:
    request, status, message = OVERSIZED[shape]
    response = exchange(port, request)
    assert statuses(response) == [status], response[:300]
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"connection: close" in head
    assert b"content-type: application/json" in head
    assert message in body


# The same shapes left unfinished: the answer comes while the head is still arriving.

UNFINISHED = {
    "a target that never ends": (b"GET /" + b"t" * MiB, 414),
    "a header value that never ends": (b"GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + b"b" * MiB, 431),
    "a header name that never ends": (b"GET / HTTP/1.1\r\nHost: test\r\nX-" + b"n" * MiB, 431),
    "headers that never end": (get("/", *fillers(200), close=False)[:-2], 431),
}


@pytest.mark.parametrize("shape", UNFINISHED)
def test_an_oversized_head_is_refused_before_it_ends(port: int, shape: str) -> None:
    request, status = UNFINISHED[shape]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(request)
        except OSError:
            pass
        response = sock.recv(65536)  # a server waiting for the head to end times out here
    assert statuses(response) == [status], response[:300]


# Just under each limit, still served.

AT_THE_LIMITS = {
    "a request line of 4094 bytes": (get(TARGET_AT_LIMIT), b"2 fields, target 4081"),
    "a field of 8190 bytes": (get("/", "X-Fill: " + VALUE_AT_LIMIT), b"3 fields, target 1"),
    "100 fields": (get("/", *fillers(98)), b"100 fields, target 1"),
    # The largest head the three limits allow together (about 800 KiB), as under gunicorn.
    "all three at once": (
        get(TARGET_AT_LIMIT, *(f"X-Fill-{n:02}: {'v' * 8177}" for n in range(98)), close=True)
        .replace(b"Host: test", b"Host: " + b"h" * 8182),
        b"100 fields, target 4081",
    ),
}


@pytest.mark.parametrize("shape", AT_THE_LIMITS)
def test_a_head_just_within_the_limits_is_served(port: int, shape: str) -> None:
    request, expected = AT_THE_LIMITS[shape]
    response = exchange(port, request)
    assert statuses(response) == [200], response[:300]
    assert response.endswith(expected)


def test_a_request_just_under_the_limits_is_served_on_a_kept_alive_connection(port: int) -> None:
    near = get(TARGET_AT_LIMIT, "X-Fill: " + VALUE_AT_LIMIT, *fillers(98), close=False)
    response = exchange(port, near + near + get("/last"))
    assert statuses(response) == [200, 200, 200]


# Pipelining and keep-alive, as httptools has them.

def test_a_refusal_comes_after_the_responses_to_the_requests_before_it(port: int) -> None:
    response = exchange(port, get("/slow", close=False) + get("/", close=False) + get("/", *fillers(100)))
    assert statuses(response) == [200, 200, 431]
    assert response.endswith(b"Too many request header fields: the limit is 100.\"}")


def test_a_kept_alive_connection_still_serves_requests_in_turn(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for _ in range(3):
            sock.sendall(get("/", close=False))
            assert statuses(sock.recv(65536)) == [200]


def test_a_malformed_request_still_gets_uvicorns_own_400(port: int) -> None:
    response = exchange(port, b"NOT HTTP AT ALL\r\n\r\n")
    assert statuses(response) == [400]
    assert response.endswith(b"Invalid HTTP request received.")


# Trailer fields: uvicorn adds them to the request's headers, after the app has the request.

def _chunked(trailer: bytes) -> bytes:
    return b"POST /read HTTP/1.1\r\nHost: test\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n" + trailer


@pytest.mark.parametrize("trailer", [
    b"".join(b"X-T-%d: 1\r\n" % n for n in range(200)) + b"\r\n",
    b"X-T: " + b"t" * MiB,  # never ends
], ids=["too many trailer fields", "a trailer field that never ends"])
def test_trailer_fields_over_the_limits_cut_the_connection(port: int, trailer: bytes) -> None:
    DISCONNECTS.clear()
    assert exchange(port, _chunked(trailer)) == b""
    deadline = time.monotonic() + 5
    while not DISCONNECTS:  # the app hears of it in its own time
        assert time.monotonic() < deadline, "the app was never told"
        time.sleep(0.01)
    assert DISCONNECTS == ["/read"]


def test_a_few_trailer_fields_are_fine(port: int) -> None:
    assert statuses(exchange(port, _chunked(b"X-T: 1\r\n\r\n"))) == [200]


# Configuration: a launcher's limits, or the environment.

def test_limits_set_on_the_config_are_used() -> None:
    with serving(RequestHeadLimits(limit_request_line=100, limit_request_fields=5, limit_request_field_size=50)) as port:
        assert statuses(exchange(port, get("/" + "t" * 80))) == [200]
        assert statuses(exchange(port, get("/" + "t" * 90))) == [414]
        assert statuses(exchange(port, get("/", *fillers(3)))) == [200]
        assert statuses(exchange(port, get("/", *fillers(4)))) == [431]
        assert statuses(exchange(port, get("/", "X-Fill: " + "v" * 40))) == [200]
        assert statuses(exchange(port, get("/", "X-Fill: " + "v" * 41))) == [431]


def test_the_environment_sets_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_LIMIT_REQUEST_LINE", "8190")
    monkeypatch.setenv("GATEWAY_LIMIT_REQUEST_FIELDS", "10")
    with serving() as port:
        assert statuses(exchange(port, get("/" + "t" * 8000))) == [200]
        assert statuses(exchange(port, get("/", *fillers(9)))) == [431]


# The uvicorn this module is written against.

def test_uvicorns_private_protocol_is_still_what_the_module_extends() -> None:
    """What ``httptools_protocol`` overrides and calls; an upgrade of uvicorn that moves any of
    it fails here first."""
    assert list(inspect.signature(HttpToolsProtocol.__init__).parameters) == ["self", "config", "server_state", "app_state", "_loop"]
    for name in ("data_received", "send_400_response", "on_response_complete", "on_message_begin", "on_url",
                 "on_header", "on_headers_complete", "on_body", "on_message_complete", "connection_made",
                 "connection_lost", "pause_writing", "resume_writing"):
        assert name in vars(HttpToolsProtocol), name
    # A cycle's transport is swapped for ``_ResetUnfinished``, which has what the cycle uses of it.
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

    used = set(re.findall(r"self\.transport\.(\w+)", inspect.getsource(RequestResponseCycle)))
    assert used == {"write", "close", "is_closing"}, used
    cycle_init = inspect.getsource(RequestResponseCycle.__init__)
    assert "self.transport = transport" in cycle_init and "self.response_complete = False" in cycle_init
    assert "self.pipeline" in inspect.getsource(HttpToolsProtocol.__init__)
    assert list(inspect.signature(HttpToolsProtocol.send_400_response).parameters) == ["self", "msg"]
    assert STATUS_LINE[414].startswith(b"HTTP/1.1 414 ") and STATUS_LINE[431].startswith(b"HTTP/1.1 431 ")
    config = uvicorn.Config(app, http=PROTOCOL)
    config.load()
    assert config.http_protocol_class is LimitedHttpToolsProtocol


def test_make_run_serves_with_this_protocol() -> None:
    run = re.search(r"^run:.*?(?=^\S)", (ROOT / "Makefile").read_text(), re.M | re.S)
    assert run is not None
    (named,) = re.findall(r"--http (\S+)", run.group())
    assert import_from_string(named) is LimitedHttpToolsProtocol


# The connection's timeouts (nginx's client_header_timeout, client_body_timeout and send_timeout).

HEAD_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def timed_port() -> Iterator[int]:
    with serving(timeouts=(HEAD_TIMEOUT, HEAD_TIMEOUT, HEAD_TIMEOUT)) as port:
        yield port


def test_a_head_trickled_past_its_time_gets_408_and_loses_its_connection(timed_port: int) -> None:
    """slowloris: a head sent a field at a time, each well inside any idle limit, never ending."""
    with socket.create_connection(("127.0.0.1", timed_port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n")
        answer = b""
        sock.settimeout(0.1)
        try:
            for n in range(50):  # 5 s of trickle, far past the limit
                sock.sendall(b"X-Trickle-%d: 1\r\n" % n)
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                answer += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass
        took = time.monotonic() - started
    assert statuses(answer) == [408], answer
    assert b"Request head not received in time: the limit is 0.5 seconds." in answer
    assert took < HEAD_TIMEOUT + 1.5, f"the connection lasted {took:.1f} s"


def test_a_connection_that_sends_nothing_is_closed_quietly(timed_port: int) -> None:
    with socket.create_connection(("127.0.0.1", timed_port), timeout=HEAD_TIMEOUT + 3) as sock:
        started = time.monotonic()
        assert sock.recv(65536) == b""  # closed, with no answer to a request never made
        assert time.monotonic() - started < HEAD_TIMEOUT + 1.5


# What must be kept within a limit is timed against a longer one: this test's thread shares its
# process with the server's, and a late wake-up of 0.2 s on a loaded machine is not the server's doing.
KEPT_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def kept_port() -> Iterator[int]:
    with serving(timeouts=(KEPT_TIMEOUT, KEPT_TIMEOUT, KEPT_TIMEOUT)) as port:
        yield port


def test_each_request_of_a_kept_alive_connection_has_its_own_head_time(kept_port: int) -> None:
    """The limit is on each head, not the connection: four requests over 2.7 s, each head in time."""
    with socket.create_connection(("127.0.0.1", kept_port), timeout=10) as sock:
        for n in range(4):
            if n:
                time.sleep(KEPT_TIMEOUT * 0.45)
            sock.sendall(get("/", close=False))
            assert statuses(sock.recv(65536)) == [200]


def test_a_client_that_reads_nothing_of_a_large_answer_loses_its_connection(timed_port: int) -> None:
    """From the new side too (a Gradio file, a FastAPI stream): uvicorn waits for such a client
    for ever, its send blocked, the connection and its buffers held."""
    BIG_SENDS.clear()
    with _reads_nothing(timed_port, get("/big", close=False)) as sock:
        deadline = time.monotonic() + HEAD_TIMEOUT + 5
        while not (BIG_SENDS and BIG_SENDS[0]["ended"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert BIG_SENDS and BIG_SENDS[0]["ended"], "the app's answer is still waiting for a client that reads nothing"
        assert _drained(sock) < BIG


def test_a_slow_but_steady_reader_gets_its_whole_answer(timed_port: int) -> None:
    """Progress is what counts, not speed: a reader that keeps taking some of the answer in
    every period keeps its connection, even while the answer waits for it for longer."""
    BIG_SENDS.clear()
    with _client(timed_port, get("/big", close=False), receive_buffer=65536) as sock:
        head = sock.recv(4096)
        assert statuses(head) == [200]
        received = len(head.split(b"\r\n\r\n", 1)[1])
        while received < BIG:
            received += len(sock.recv(128 * 1024))
            time.sleep(0.01)
    assert received == BIG
    assert BIG_SENDS[0]["ended"]
    # The answer waited for the reader longer in all than the limit: it was timed, and kept.
    assert BIG_SENDS[0]["waited"] > HEAD_TIMEOUT * 2, BIG_SENDS


def test_the_environment_sets_the_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi_gateway.server.head_limits.httptools_protocol import _timeouts_for

    monkeypatch.setenv("GATEWAY_REQUEST_HEAD_TIMEOUT_SECONDS", "12.5")
    monkeypatch.setenv("GATEWAY_SEND_TIMEOUT_SECONDS", "7")
    monkeypatch.setenv("GATEWAY_REQUEST_BODY_TIMEOUT_SECONDS", "30")
    monkeypatch.setenv("GATEWAY_LEGACY_BODY_TIMEOUT_SECONDS", "10")
    assert _timeouts_for(uvicorn.Config(app)) == (12.5, 7.0, 30.0)
    # A longer legacy body limit wins, by a second: the bridge's 408 comes first on its URLs.
    monkeypatch.setenv("GATEWAY_LEGACY_BODY_TIMEOUT_SECONDS", "90")
    assert _timeouts_for(uvicorn.Config(app)) == (12.5, 7.0, 91.0)


def _client(port: int, request: bytes, *, receive_buffer: int) -> socket.socket:
    """A connection that sent ``request``, with a receive window of ``receive_buffer`` bytes."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)  # before connecting: the window
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    sock.sendall(request)
    return sock


def _reads_nothing(port: int, request: bytes) -> socket.socket:
    return _client(port, request, receive_buffer=4096)


def _drained(sock: socket.socket) -> int:
    return len(_drained_bytes(sock))


@pytest.mark.parametrize("close", [False, True], ids=["kept alive", "Connection: close"])
def test_a_client_that_reads_nothing_of_an_answer_made_whole_loses_its_connection(timed_port: int, close: bool) -> None:
    """The app is done at once, so nothing pauses it: the unsent rest is timed from the answer's
    end, and a graceful close (uvicorn's keep-alive timer, ``Connection: close``) is no refuge."""
    size = 8 * MiB
    with _reads_nothing(timed_port, get(f"/whole?{size}", close=close)) as sock:
        time.sleep(HEAD_TIMEOUT * 4)  # past the send timeout: drained after it, a held answer would come whole
        received = _drained(sock)
    assert received < size, "the server kept the connection and its unsent answer for a client that read nothing"


@pytest.mark.parametrize("after", [b"\r\n", b"x"], ids=["a bare CRLF", "a body byte nobody reads"])
def test_bytes_after_an_answer_that_begin_no_head_do_not_keep_the_connection(timed_port: int, after: bytes) -> None:
    """Any byte cancels uvicorn's keep-alive timer; one that begins no request started no other."""
    request = get("/", close=False) if after == b"\r\n" else (
        b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\n")  # the app answers without reading it
    with socket.create_connection(("127.0.0.1", timed_port), timeout=HEAD_TIMEOUT + 8) as sock:
        sock.sendall(request)
        assert statuses(sock.recv(65536)) == [200]
        sock.sendall(after)
        started = time.monotonic()
        assert _drained(sock) == 0  # closed, with nothing more said
        assert time.monotonic() - started < HEAD_TIMEOUT + 3


def test_a_finished_answer_closing_with_a_request_queued_behind_it_is_delivered_whole(port: int) -> None:
    """Cut short is only for an answer the app left unfinished: a finished one that ends its
    connection (the app's ``Connection: close``) goes out whole, even with a pipelined request
    queued behind it."""
    size = 8 * MiB
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(get(f"/whole?{size}&close", close=False) + get("/", close=False))
        time.sleep(1)  # the answer is finished and closing, most of it still unsent
        received = _drained(sock)
    assert received > size, received


class _SmallSendBuffer(LimitedHttpToolsProtocol):
    """The protocol with a 32 KiB kernel send buffer (loopback's own grows to megabytes), so a
    slow reader's progress shows in the transport's buffer within a period; counts how often a
    period ended with progress and the timer went on."""

    progress_seen = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
        super().connection_made(transport)

    def _send_too_slow(self) -> None:
        before = self._unsent
        super()._send_too_slow()
        if self._send_timer is not None and self.transport.get_write_buffer_size() < before:
            type(self).progress_seen += 1


def test_a_reader_slower_than_a_period_but_steady_keeps_its_answer() -> None:
    """Progress, not speed: a reader taking ~200 KiB/s, too slow to empty the buffer within a
    period, keeps its connection as long as each period sees some of it taken."""
    _SmallSendBuffer.progress_seen = 0
    size = 2 * MiB
    with serving(timeouts=(5, 0.5, 5), protocol=_SmallSendBuffer) as small_port, \
            _client(small_port, get(f"/whole?{size}"), receive_buffer=65536) as sock:
        received = 0
        while chunk := sock.recv(8 * 1024):
            received += len(chunk)
            time.sleep(0.04)
    assert received > size
    assert _SmallSendBuffer.progress_seen >= 1, "no period ended with the reader's progress: the test proves nothing"


@pytest.fixture(scope="module")
def body_timed_port() -> Iterator[int]:
    with serving(timeouts=(5, 5, HEAD_TIMEOUT)) as port:
        yield port


def test_a_body_that_stops_coming_loses_its_connection_and_never_reaches_the_app_whole(body_timed_port: int) -> None:
    """A slow body on any route (a Gradio upload, an API POST): uvicorn waited for it for ever.
    The app waiting in ``receive()`` is told the client is gone."""
    DISCONNECTS.clear()
    with socket.create_connection(("127.0.0.1", body_timed_port), timeout=HEAD_TIMEOUT + 8) as sock:
        sock.sendall(b"POST /read HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        started = time.monotonic()
        assert _drained(sock) == 0  # no answer: the connection is reset
        assert time.monotonic() - started < HEAD_TIMEOUT + 3
    deadline = time.monotonic() + 2
    while not DISCONNECTS and time.monotonic() < deadline:
        time.sleep(0.02)
    assert DISCONNECTS == ["/read"]


def test_a_body_slow_but_coming_is_served(kept_port: int) -> None:
    """The limit is between the body's bytes, not on the whole body: a byte every 0.3 s for 3 s."""
    with socket.create_connection(("127.0.0.1", kept_port), timeout=10) as sock:
        sock.sendall(b"POST /read HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\nConnection: close\r\n\r\n")
        for _ in range(10):
            time.sleep(0.3)
            sock.sendall(b"x")
        assert statuses(sock.recv(65536)) == [200]


def test_an_app_slow_to_read_a_body_does_not_cut_its_client(body_timed_port: int) -> None:
    """While the app has not taken what came, reading is paused and the client cannot send:
    that wait is the app's, and it is not held against the client."""
    size = 4 * MiB
    answer = exchange(body_timed_port, b"POST /lateread HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n"
                                       b"Connection: close\r\n\r\n" % size + b"x" * size)
    assert statuses(answer) == [200] and answer.endswith(b"%d bytes" % size), answer[-200:]


class _TinySendBuffer(LimitedHttpToolsProtocol):
    """A 4 KiB kernel send buffer: a small answer made whole leaves bytes in the transport's."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        super().connection_made(transport)


def _answer(sock: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))  # type: ignore[union-attr]
    body = b""
    while len(body) < length:
        body += sock.recv(length - len(body))
    return body


def test_a_later_answer_on_the_connection_is_timed_on_its_own() -> None:
    """An answer made whole left bytes waiting (its timer armed at its end); the client took them
    and asked for a large one on the same connection, read steadily: judged by the first
    answer's timer and size, it was reset within its first period."""
    with serving(timeouts=(5, 1.0, 5), protocol=_TinySendBuffer) as port, _client(port, get("/whole?24576", close=False), receive_buffer=4096) as sock:
        time.sleep(0.1)  # made whole; some of it waits in the transport's buffer
        assert len(_answer(sock)) == 24576
        time.sleep(0.6)
        sock.sendall(get("/big", close=False))
        started, received = time.monotonic(), 0
        while time.monotonic() - started < 2.5:  # a steady reader: 4 KiB every 25 ms
            chunk = sock.recv(4096)
            assert chunk, f"the connection ended after {received} bytes of a steady read"
            received += len(chunk)
            time.sleep(0.025)


def test_a_body_awaiting_its_100_continue_is_not_timed_against_the_client(body_timed_port: int) -> None:
    """uvicorn sends ``100 Continue`` when the app first asks for the body; a client waiting for
    it is doing as RFC 9110 asks, however long the app takes to ask."""
    with socket.create_connection(("127.0.0.1", body_timed_port), timeout=10) as sock:
        sock.sendall(b"POST /lateread HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
                     b"Connection: close\r\n\r\n")
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 "), interim
        sock.sendall(b"hello")
        assert _drained_bytes(sock).endswith(b"5 bytes")


def _drained_bytes(sock: socket.socket) -> bytes:
    """All that comes until the server ends the connection (closed or reset)."""
    received = b""
    try:
        while chunk := sock.recv(MiB):
            received += chunk
    except ConnectionResetError:
        pass
    return received
