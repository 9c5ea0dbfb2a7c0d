"""``WSGIBridge`` against tiny WSGI apps, driven by raw ASGI calls.

Raw calls rather than an HTTP client because the behaviour under test is in the ASGI
messages themselves: how many there are, when the first one leaves, what happens when the
client's ``receive`` says ``http.disconnect``. These tests touch no database.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2wsgi import WSGIMiddleware
from django.http import HttpResponse
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive

from fastapi_gateway.legacy.bridge import BODY_SPOOL_LIMIT, BUFFER_LIMIT, SEND_SLICE, WSGIBridge
from fastapi_gateway.legacy.environ import FILE_BLOCK_SIZE

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

KiB = 1024
MiB = 1024 * KiB


def http_scope(path: str = "/", *, method: str = "GET", headers: Sequence[tuple[bytes, bytes]] = (), query: bytes = b"") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


def body_messages(*chunks: bytes, disconnect: bool = False) -> Receive:
    """``receive`` giving ``chunks``, the last one final unless the client then leaves
    (``disconnect``); a client that stays waits, as a server's ``receive`` does."""
    messages: list[Message] = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks]
    if not disconnect and messages:
        messages[-1]["more_body"] = False

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        if not disconnect:
            await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    return receive


def until(event: asyncio.Event) -> Receive:
    """``receive`` for a bodiless request whose client leaves when ``event`` is set."""

    async def receive() -> Message:
        await event.wait()
        return {"type": "http.disconnect"}

    return receive


async def call(
    app: ASGIApp,
    scope: dict[str, Any],
    receive: Receive | None = None,
    on_send: Callable[[Message], Awaitable[None]] | None = None,
    *,
    keep_bodies: bool = True,
) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        if on_send is not None:
            await on_send(message)
        sent.append(message if keep_bodies else {**message, "body": b""})

    await app(scope, receive or until(asyncio.Event()), send)
    return sent


def status_of(messages: list[Message]) -> int:
    return int(messages[0]["status"])


def body_of(messages: list[Message]) -> bytes:
    return b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


def hello(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


class Tracked:
    """A response iterable that records ``close()``, as Django's responses need it called."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed.set()


# One hop ------------------------------------------------------------------------------


def count_hops(monkeypatch: pytest.MonkeyPatch, thread_prefix: str = "legacy-wsgi") -> list[str]:
    """Every wake-up of the loop from a WSGI worker thread (a2wsgi's round trips, and its end
    of request, all go through ``call_soon_threadsafe`` too; its threads are ``WSGI_n``)."""
    loop = asyncio.get_running_loop()
    hops: list[str] = []
    original = loop.call_soon_threadsafe

    def counting(callback: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name.startswith(thread_prefix):
            hops.append(getattr(callback, "__qualname__", repr(callback)))
        return original(callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counting)
    return hops


async def test_a_page_costs_one_hop_from_the_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    def form_handler(environ: Environ, start_response: StartResponse) -> list[bytes]:
        data = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Length", str(len(data)))])
        return [data]

    bridge = WSGIBridge(form_handler)
    hops = count_hops(monkeypatch)
    get = await call(bridge, http_scope())
    post = await call(bridge, http_scope(method="POST", headers=[(b"content-length", b"9")]), body_messages(b"user=anna"))
    assert (status_of(get), body_of(get)) == (200, b"")
    assert body_of(post) == b"user=anna"
    assert len(hops) == 2, hops
    assert [m.get("more_body", False) for m in post] == [False, False]  # start, then the whole body

    # a2wsgi, for comparison: start_response, each chunk and the end each block on the loop.
    hops = count_hops(monkeypatch, "WSGI")
    await call(WSGIMiddleware(form_handler), http_scope(method="POST", headers=[(b"content-length", b"9")]), body_messages(b"user=anna"))
    assert len(hops) >= 4, hops


# Streaming ----------------------------------------------------------------------------


async def test_an_open_ended_stream_sends_its_first_chunk_at_once() -> None:
    release = threading.Event()

    def slow_stream(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first"
        release.wait(10)
        yield b"second"

    first_chunk = asyncio.Event()

    async def on_send(message: Message) -> None:
        if message.get("body"):
            first_chunk.set()

    task = asyncio.create_task(call(WSGIBridge(slow_stream), http_scope(), on_send=on_send))
    try:
        await asyncio.wait_for(first_chunk.wait(), 2)
    finally:
        release.set()
    messages = await task
    assert body_of(messages) == b"firstsecond"
    assert messages[-1]["more_body"] is False


def first_then_second(kind: str, release: threading.Event,
                      released: list[bool]) -> Callable[[Environ, StartResponse], Iterable[bytes]]:
    """A WSGI app that produces b"first", then works on b"second" until ``release`` (30 s at
    most), noting in ``released`` whether it was released or gave up."""

    def generator(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        headers = [("Content-Length", "11")] if kind == "generator with Content-Length" else []
        start_response("200 OK", [("Content-Type", "text/plain"), *headers])
        yield b"first"
        released.append(release.wait(30))
        yield b"second"

    def writer(environ: Environ, start_response: StartResponse) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "11")])
        write(b"first")
        released.append(release.wait(30))
        return [b"second"]

    return writer if kind == "write()" else generator


@pytest.mark.parametrize("kind", ["generator", "generator with Content-Length", "write()"])
async def test_a_block_leaves_while_the_app_works_on_the_next(kind: str) -> None:
    # PEP 3333: a server must not delay the transmission of any block. The bridge used to hold
    # a block back until the next one when the length was declared, or write() was used.
    release = threading.Event()
    released: list[bool] = []
    sent: list[bytes] = []

    async def on_send(message: Message) -> None:
        if message.get("body"):
            sent.append(message["body"])
            release.set()

    messages = await call(WSGIBridge(first_then_second(kind, release, released)), http_scope(), on_send=on_send)
    assert sent[0] == b"first"
    assert released == [True], "the first block reached the client only once the app gave up waiting"
    assert body_of(messages) == b"firstsecond"
    assert messages[-1]["more_body"] is False


async def test_a_generator_done_before_the_loop_looks_still_costs_one_hop(monkeypatch: pytest.MonkeyPatch) -> None:
    def quick(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Length", "11")])
        yield b"first"
        yield b"second"

    hops = count_hops(monkeypatch)
    asyncio.get_running_loop().call_soon(time.sleep, 0.2)  # the loop looks only after the thread is done
    messages = await call(WSGIBridge(quick), http_scope())
    assert len(hops) == 1, hops
    assert [(m["type"], m.get("body"), m.get("more_body", False)) for m in messages] == [
        ("http.response.start", None, False),
        ("http.response.body", b"firstsecond", False),  # the end rides with the blocks
    ]


async def test_a_django_page_goes_with_its_headers_in_one_hop(monkeypatch: pytest.MonkeyPatch) -> None:
    # A non-streaming HttpResponse holds its content as bytes: nothing to wait for, one hand-off.
    def page(environ: Environ, start_response: StartResponse) -> HttpResponse:
        response = HttpResponse(b"<p>page</p>")
        start_response("200 OK", [(name, value) for name, value in response.items()])
        return response

    hops = count_hops(monkeypatch)
    messages = await call(WSGIBridge(page), http_scope())
    assert len(hops) == 1, hops
    assert [m.get("more_body", False) for m in messages] == [False, False]
    assert body_of(messages) == b"<p>page</p>"


async def test_a_long_body_streams_with_backpressure() -> None:
    chunk, count = 64 * KiB, 100
    produced = 0

    def big(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        nonlocal produced
        start_response("200 OK", [("Content-Length", str(chunk * count))])
        for _ in range(count):
            produced += chunk
            yield b"x" * chunk

    ahead: list[int] = []

    async def slow_client(message: Message) -> None:
        if message.get("body") and not ahead:
            await asyncio.sleep(0.3)  # the thread runs on meanwhile, as far as it is let
            ahead.append(produced)

    messages = await call(WSGIBridge(big), http_scope(), on_send=slow_client)
    assert len(body_of(messages)) == chunk * count
    assert ahead[0] <= BUFFER_LIMIT + 3 * chunk, ahead
    assert sum(1 for m in messages if m.get("body")) > 1


async def test_file_wrapper_reads_large_blocks_with_flat_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    with path.open("wb") as handle:
        for index in range(32):
            handle.write(bytes([index]) * MiB)
    files: list[Any] = []
    reads: list[int] = []

    class Recorded:
        def __init__(self) -> None:
            self.file = path.open("rb")

        def read(self, size: int = -1) -> bytes:
            reads.append(size)
            return self.file.read(size)

        def close(self) -> None:
            self.file.close()

        @property
        def closed(self) -> bool:
            return self.file.closed

    def download(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Length", str(32 * MiB))])
        files.append(Recorded())
        return environ["wsgi.file_wrapper"](files[0], 4096)  # Django's FileResponse asks for 4 KiB

    sizes: list[int] = []

    async def measure(message: Message) -> None:
        if message.get("body"):
            sizes.append(len(message["body"]))

    tracemalloc.start()
    try:
        await call(WSGIBridge(download), http_scope(), on_send=measure, keep_bodies=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(sizes) == 32 * MiB
    assert set(reads) == {FILE_BLOCK_SIZE}, "read in large blocks, not Django's 4 KiB"
    assert set(sizes) == {SEND_SLICE}, "sent in slices, each the progress the stall limit asks of a client"
    assert peak < 8 * MiB, peak
    assert files[0].closed


# Request bodies -------------------------------------------------------------------------


def reader(outcomes: list[str]) -> Callable[[Environ, StartResponse], list[bytes]]:
    def read_all(environ: Environ, start_response: StartResponse) -> list[bytes]:
        try:
            outcomes.append(f"complete {len(environ['wsgi.input'].read())}")
        except OSError as exc:
            outcomes.append(type(exc).__name__)
        start_response("200 OK", [])
        return [outcomes[-1].encode()]

    return read_all


def stalling(*chunks: bytes, gone: asyncio.Event | None = None, sent: Callable[[], None] | None = None) -> Receive:
    """``receive`` of a client that sends ``chunks`` of its body (then calls ``sent``) and
    nothing more: it waits, as a server's ``receive`` does, until ``gone`` is set, then leaves."""
    messages: list[Message] = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks]

    async def receive() -> Message:
        if messages:
            message = messages.pop(0)
            if not messages and sent is not None:
                sent()
            return message
        await (gone or asyncio.Event()).wait()
        return {"type": "http.disconnect"}

    return receive


FRAMINGS = pytest.mark.parametrize(
    "framing", [(b"content-length", b"2000000"), (b"transfer-encoding", b"chunked")], ids=["content-length", "chunked"]
)


@FRAMINGS
async def test_a_body_cut_by_a_disconnect_never_reaches_the_app(framing: tuple[bytes, bytes]) -> None:
    outcomes: list[str] = []
    scope = http_scope(method="POST", headers=[framing])
    messages = await call(WSGIBridge(reader(outcomes)), scope, body_messages(b"x" * (BODY_SPOOL_LIMIT + 1), disconnect=True))
    assert (messages, outcomes) == ([], [])  # the bridge returns only once a thread it took has answered


async def test_a_body_shorter_than_its_content_length_is_refused_unread() -> None:
    outcomes: list[str] = []
    declared = str(3 * BODY_SPOOL_LIMIT).encode()
    scope = http_scope(method="POST", headers=[(b"content-length", declared)])
    messages = await call(WSGIBridge(reader(outcomes)), scope, body_messages(b"x" * (BODY_SPOOL_LIMIT + 1), b"x" * 40))
    assert status_of(messages) == 400
    assert (b"connection", b"close") in messages[0]["headers"]
    assert outcomes == []


async def test_a_client_gone_before_its_body_arrived_takes_no_thread() -> None:
    outcomes: list[str] = []
    scope = http_scope(method="POST", headers=[(b"content-length", b"1000")])
    messages = await call(WSGIBridge(reader(outcomes)), scope, body_messages(b"x" * 10, disconnect=True))
    await asyncio.sleep(0.1)
    assert (messages, outcomes) == ([], [])


@FRAMINGS
@pytest.mark.parametrize("sent", [0, 300 * KiB], ids=["no-body-bytes", "300KiB"])
async def test_a_stalled_body_is_cut_with_408_and_the_app_never_runs(framing: tuple[bytes, bytes], sent: int) -> None:
    outcomes: list[str] = []
    bridge = WSGIBridge(reader(outcomes), body_timeout=0.2)
    scope = http_scope(method="POST", headers=[framing])
    messages = await asyncio.wait_for(call(bridge, scope, stalling(*([b"x" * sent] if sent else []))), 5)
    assert status_of(messages) == 408
    assert dict(messages[0]["headers"])[b"connection"] == b"close"  # the unread rest cannot be skipped
    assert body_of(messages) == b"Request Timeout: the request body stopped arriving.\n"
    assert outcomes == []


async def test_a_trickling_body_is_not_cut_while_it_keeps_arriving() -> None:
    # Each piece comes well within the idle timeout; the whole body takes twice as long as it.
    outcomes: list[str] = []
    pieces = 8

    async def trickle() -> Message:
        nonlocal pieces
        await asyncio.sleep(0.1)
        pieces -= 1
        return {"type": "http.request", "body": b"y" * 10, "more_body": pieces > 0}

    scope = http_scope(method="POST", headers=[(b"content-length", b"80")])
    messages = await call(WSGIBridge(reader(outcomes), body_timeout=0.4), scope, trickle)
    assert (status_of(messages), outcomes) == (200, ["complete 80"])


async def test_stalled_uploads_hold_no_thread() -> None:
    outcomes: list[str] = []

    def site(environ: Environ, start_response: StartResponse) -> list[bytes]:
        return reader(outcomes)(environ, start_response) if environ["REQUEST_METHOD"] == "POST" else hello(environ, start_response)

    bridge = WSGIBridge(site, threads=4)
    uploads, gone, all_sent = 64, asyncio.Event(), asyncio.Event()
    senders = 0

    def sent() -> None:
        nonlocal senders
        senders += 1
        if senders == uploads:
            all_sent.set()

    framings = [(b"content-length", b"2000000"), (b"transfer-encoding", b"chunked")]
    stalled = [
        asyncio.create_task(call(bridge, http_scope(method="POST", headers=[framings[n % 2]]), stalling(b"x" * 300 * KiB, gone=gone, sent=sent)))
        for n in range(uploads)
    ]
    try:
        await asyncio.wait_for(all_sent.wait(), 5)
        page = await asyncio.wait_for(call(bridge, http_scope("/page")), 10)  # a thread held by a stall would be held for good
        assert body_of(page) == b"hello"
    finally:
        gone.set()
        answers = await asyncio.wait_for(asyncio.gather(*stalled), 5)
    assert answers == [[]] * uploads and outcomes == []


async def test_a_large_upload_is_spooled_to_disk_and_reaches_the_app_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    chunk, total = 64 * KiB, 200 * MiB
    delivered = 0
    sent = hashlib.sha256()
    spooled_to: list[str] = []

    async def receive() -> Message:
        nonlocal delivered
        if delivered >= total:
            await asyncio.Event().wait()  # a client that stays until the response
        piece = bytes([delivered // chunk % 251]) * chunk
        sent.update(piece)
        delivered += chunk
        return {"type": "http.request", "body": piece, "more_body": delivered < total}

    def digest(environ: Environ, start_response: StartResponse) -> list[bytes]:
        stream, received = environ["wsgi.input"], hashlib.sha256()
        if isinstance(stream.name, int):  # a SpooledTemporaryFile rolled over to a real file
            spooled_to.append(os.readlink(f"/proc/self/fd/{stream.name}"))
        while data := stream.read(chunk):
            received.update(data)
        start_response("200 OK", [])
        return [received.hexdigest().encode()]

    scope = http_scope(method="POST", headers=[(b"content-length", str(total).encode())])
    tracemalloc.start()
    try:
        messages = await call(WSGIBridge(digest), scope, receive)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert body_of(messages) == sent.hexdigest().encode()
    assert peak < 8 * MiB, peak
    assert len(spooled_to) == 1 and spooled_to[0].startswith(str(tmp_path)), spooled_to


async def test_a_slow_disk_does_not_hold_up_other_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    writing, release = threading.Event(), threading.Event()
    stuck_since: list[float] = []

    class StuckDisk(tempfile.SpooledTemporaryFile):  # type: ignore[type-arg]
        def writelines(self, lines: Iterable[bytes]) -> None:
            stuck_since.append(time.monotonic())
            writing.set()
            release.wait(30)  # the kernel throttling a writer, or a slow volume
            super().writelines(lines)

    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", StuckDisk)
    outcomes: list[str] = []

    def site(environ: Environ, start_response: StartResponse) -> list[bytes]:
        return reader(outcomes)(environ, start_response) if environ["REQUEST_METHOD"] == "POST" else hello(environ, start_response)

    bridge = WSGIBridge(site)
    size = 4 * BODY_SPOOL_LIMIT
    scope = http_scope(method="POST", headers=[(b"content-length", str(size).encode())])
    upload = asyncio.create_task(call(bridge, scope, body_messages(*[b"x" * BODY_SPOOL_LIMIT] * 4)))
    try:
        assert await asyncio.to_thread(writing.wait, 5)
        page = await asyncio.wait_for(call(bridge, http_scope("/page")), 10)
        assert body_of(page) == b"hello"
        assert not upload.done() and stuck_since  # answered while the disk was still stuck
    finally:
        release.set()
    assert body_of(await asyncio.wait_for(upload, 5)) == f"complete {size}".encode()


async def test_a_small_body_stays_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    names: list[object] = []

    def name_of_input(environ: Environ, start_response: StartResponse) -> list[bytes]:
        names.append(environ["wsgi.input"].name)
        start_response("200 OK", [])
        return [environ["wsgi.input"].read()]

    bridge = WSGIBridge(name_of_input, body_spool_limit=4 * KiB)
    form = b"user=anna&" * 400  # 4000 bytes: under the limit
    messages = await call(bridge, http_scope(method="POST", headers=[(b"content-length", b"4000")]), body_messages(form[:1000], form[1000:]))
    assert body_of(messages) == form
    assert names == [None]  # no file behind it


async def test_wsgi_input_reads_lines_like_a2wsgi() -> None:
    def lines(environ: Environ, start_response: StartResponse) -> list[bytes]:
        stream = environ["wsgi.input"]
        parts = [stream.readline(), stream.read(4), stream.readline(2), stream.readline(20), *stream.readlines(2), *stream]
        start_response("200 OK", [])
        return [json.dumps([p.decode() for p in parts]).encode()]

    text = b"one line\nWhy do this?\nthree\nfour\nfive\nsix"
    scope = http_scope(method="POST", headers=[(b"content-length", str(len(text)).encode())])
    messages = await call(WSGIBridge(lines), scope, body_messages(text[:15], text[15:]))
    assert json.loads(body_of(messages)) == ["one line\n", "Why ", "do", " this?\n", "three\n", "four\n", "five\n", "six"]


# Headers and paths ----------------------------------------------------------------------


def echo_environ(environ: Environ, start_response: StartResponse) -> list[bytes]:
    keys = ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "HTTP_X_FORWARDED_PROTO", "HTTP_X_AUTH_USER", "wsgi.input_terminated")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({key: environ.get(key) for key in keys}).encode()]


async def test_header_names_with_underscores_are_dropped() -> None:
    scope = http_scope(headers=[(b"x-forwarded-proto", b"http"), (b"x-forwarded_proto", b"https"), (b"x_auth_user", b"admin")])
    environ = json.loads(body_of(await call(WSGIBridge(echo_environ), scope)))
    assert environ["HTTP_X_FORWARDED_PROTO"] == "http"
    assert environ["HTTP_X_AUTH_USER"] is None


async def test_hop_by_hop_response_headers_stay_with_the_app() -> None:
    def hoppy(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response(
            "200 OK",
            [("Connection", "keep-alive"), ("Keep-Alive", "timeout=5"), ("Transfer-Encoding", "chunked"), ("Upgrade", "h2c"), ("X-Kept", "yes")],
        )
        return [b"ok"]

    messages = await call(WSGIBridge(hoppy), http_scope())
    assert messages[0]["headers"] == [(b"x-kept", b"yes")]


async def test_script_name_and_path_info_under_a_mount() -> None:
    app = Starlette(routes=[Mount("/legacy", app=WSGIBridge(echo_environ))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        response = await client.get("/legacy/caf%C3%A9/x", params={"q": "1"})
    assert response.json()["SCRIPT_NAME"] == "/legacy"
    assert response.json()["PATH_INFO"] == "/café/x".encode().decode("latin-1")
    assert response.json()["QUERY_STRING"] == "q=1"


async def test_a_raw_non_ascii_query_string_is_passed_as_latin1() -> None:
    environ = json.loads(body_of(await call(WSGIBridge(echo_environ), http_scope(query=b"q=\xe9"))))
    assert environ["QUERY_STRING"] == "q=\xe9"
    assert environ["wsgi.input_terminated"] is True


# Abandoned streams and close() ------------------------------------------------------------


async def test_abandoned_streams_give_their_threads_back() -> None:
    streams: list[Tracked] = []

    def endless(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/page":
            return hello(environ, start_response)
        start_response("200 OK", [("Content-Type", "text/plain")])

        def rows() -> Iterator[bytes]:
            for _ in range(500):  # ten seconds, if nobody stops it
                yield b"row\n"
                time.sleep(0.02)

        streams.append(Tracked(rows()))
        return streams[-1]

    bridge = WSGIBridge(endless, threads=2)

    async def abandoned_stream() -> None:
        gone = asyncio.Event()

        async def leave_after_first_chunk(message: Message) -> None:
            if message.get("body"):
                gone.set()

        await call(bridge, http_scope("/stream"), until(gone), leave_after_first_chunk)

    await asyncio.wait_for(asyncio.gather(*(abandoned_stream() for _ in range(4))), 5)
    page = await asyncio.wait_for(call(bridge, http_scope("/page")), 5)  # a stream left running holds its thread for 10 s
    assert body_of(page) == b"hello"
    assert len(streams) == 4
    assert all(stream.closed.wait(1) for stream in streams)


@pytest.mark.parametrize("ending", ["normal", "stream", "error", "error-in-stream", "disconnect"])
async def test_the_response_iterable_is_always_closed(ending: str) -> None:
    iterables: list[Tracked] = []

    def chunks() -> Iterator[bytes]:
        yield b"a"
        if ending == "error-in-stream":
            raise RuntimeError("boom")
        time.sleep(0.05 if ending == "disconnect" else 0)
        yield b"b"

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [] if ending != "normal" else [("Content-Length", "2")])
        if ending == "error":
            iterables.append(Tracked(map(lambda _: 1 / 0, [1])))  # type: ignore[arg-type]
        else:
            iterables.append(Tracked([b"a", b"b"] if ending == "normal" else chunks()))
        return iterables[-1]

    gone = asyncio.Event()

    async def on_send(message: Message) -> None:
        if message.get("body") and ending == "disconnect":
            gone.set()

    try:
        await call(WSGIBridge(app), http_scope(), until(gone), on_send)
    except RuntimeError:
        assert ending == "error-in-stream"
    assert iterables[0].closed.wait(2)


# Errors -------------------------------------------------------------------------------------


async def test_an_error_before_the_response_is_a_logged_500(caplog: pytest.LogCaptureFixture) -> None:
    def broken(environ: Environ, start_response: StartResponse) -> list[bytes]:
        raise ValueError("the legacy view broke")

    with caplog.at_level(logging.ERROR, logger="fastapi_gateway.legacy.bridge"):
        messages = await call(WSGIBridge(broken), http_scope("/broken"))
    assert (status_of(messages), body_of(messages)) == (500, b"Internal Server Error")
    [record] = [r for r in caplog.records if r.name == "fastapi_gateway.legacy.bridge"]
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)
    assert "/broken" in record.getMessage()


async def test_an_error_after_the_response_started_ends_the_connection() -> None:
    def half(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"half"
        raise ValueError("broke mid-stream")

    sent: list[Message] = []

    async def record(message: Message) -> None:
        sent.append(message)

    with pytest.raises(ValueError, match="mid-stream"):
        await call(WSGIBridge(half), http_scope(), on_send=record)
    assert body_of(sent) == b"half"
    assert all(m.get("more_body", True) for m in sent[1:])


async def test_exc_info_replaces_headers_not_yet_sent() -> None:
    def recovering(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        try:
            raise KeyError("late failure")
        except KeyError:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"try later"]

    messages = await call(WSGIBridge(recovering), http_scope())
    assert (status_of(messages), messages[0]["headers"], body_of(messages)) == (503, [(b"content-type", b"text/plain")], b"try later")


async def test_exc_info_after_headers_were_sent_is_reraised() -> None:
    def too_late(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"sent"
        try:
            raise KeyError("late failure")
        except KeyError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        yield b"never"

    with pytest.raises(KeyError, match="late failure"):
        await call(WSGIBridge(too_late), http_scope())


async def test_start_response_twice_without_exc_info_is_an_error() -> None:
    def twice(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        start_response("404 Not Found", [])
        return [b""]

    assert status_of(await call(WSGIBridge(twice), http_scope())) == 500


# Other scopes ---------------------------------------------------------------------------


async def test_websocket_is_closed() -> None:
    sent = await call(WSGIBridge(hello), {"type": "websocket", "path": "/", "headers": []}, body_messages())
    assert sent == [{"type": "websocket.close", "code": 1000}]


async def test_lifespan_is_acknowledged() -> None:
    events = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> Message:
        return next(events)

    sent = await call(WSGIBridge(hello), {"type": "lifespan"}, receive)
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]


async def test_a_client_that_stops_reading_a_stream_loses_it_and_frees_its_thread(caplog: pytest.LogCaptureFixture) -> None:
    """From an attack pass: four clients that never read a download held every legacy thread
    for as long as their sockets stayed open (only a disconnect ended a stream)."""
    produced: list[int] = []
    closed = threading.Event()

    def download(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])

        def blocks() -> Iterator[bytes]:
            try:
                for number in range(1000):  # 64 MiB: far more than the stream's window
                    produced.append(number)
                    yield bytes([number % 251]) * 64 * KiB
            finally:
                closed.set()

        return blocks()

    bridge = WSGIBridge(download, threads=1, concurrency=None, send_timeout=0.3)
    stalled = asyncio.Event()

    async def client_that_stops_reading(message: Message) -> None:
        if message["type"] == "http.response.body":
            await stalled.wait()  # a server's send waits so while the client's window is full

    with caplog.at_level(logging.WARNING, logger="fastapi_gateway.legacy.bridge"):
        started = time.monotonic()
        messages = await asyncio.wait_for(call(bridge, http_scope("/download"), on_send=client_that_stops_reading), 5)
        assert time.monotonic() - started < 2
    assert status_of(messages) == 200
    assert not any(m["type"] == "http.response.body" and m.get("more_body") is False for m in messages), "left unfinished"
    assert await asyncio.to_thread(closed.wait, 5), "the thread let go of the response"
    assert len(produced) < 100
    assert "took nothing of the response for 0.3 s" in caplog.text
    # The one thread serves the next request.
    bridge.app = hello
    assert body_of(await asyncio.wait_for(call(bridge, http_scope("/")), 5)) == b"hello"


async def test_a_slow_reader_keeps_its_stream() -> None:
    """The limit is on progress: a client reading steadily, but slower than a large block per
    limit, still gets it all (the server's send waits for the previous message to reach the
    client, so blocks go out in slices). Here 1 MiB blocks to a client taking 128 KiB per 0.1 s,
    under a 0.25 s limit: a whole block would take 0.8 s."""

    def download(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])
        return (bytes([n]) * MiB for n in range(2))

    async def steady_client(message: Message) -> None:
        await asyncio.sleep(0.1 * len(message.get("body", b"")) / SEND_SLICE)

    messages = await call(WSGIBridge(download, send_timeout=0.25), http_scope("/download"), on_send=steady_client)
    assert body_of(messages) == b"".join(bytes([n]) * MiB for n in range(2))
    assert messages[-1]["more_body"] is False


async def test_an_app_slower_than_the_limit_between_blocks_keeps_its_stream(caplog: pytest.LogCaptureFixture) -> None:
    """The limit is the client's: time the app takes to make its next block (a report, a
    long poll) is nobody's stall, however long."""

    def report(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])
        yield b"first "
        time.sleep(0.6)  # three limits
        yield b"second"

    with caplog.at_level(logging.WARNING, logger="fastapi_gateway.legacy.bridge"):
        messages = await call(WSGIBridge(report, send_timeout=0.2), http_scope("/report"))
    assert body_of(messages) == b"first second" and messages[-1]["more_body"] is False
    assert "took nothing" not in caplog.text


async def test_a_stream_cancelled_from_outside_is_not_taken_for_a_stall(caplog: pytest.LogCaptureFixture) -> None:
    """A server ending a stream (its shutdown, the client's task) cancels it: that cancellation
    goes on as it came, never swallowed nor turned into the stall's quiet end."""

    def download(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])
        return (bytes([n % 251]) * 64 * KiB for n in range(1000))

    async def slow_client(message: Message) -> None:
        await asyncio.sleep(0.05)

    with caplog.at_level(logging.WARNING, logger="fastapi_gateway.legacy.bridge"):
        task = asyncio.create_task(call(WSGIBridge(download, send_timeout=0.2), http_scope("/download"), on_send=slow_client))
        await asyncio.sleep(0.3)  # past the limit: the watch has re-armed at least once
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert "took nothing" not in caplog.text


async def test_the_stall_watch_is_a_stall_even_in_a_task_already_cancelling() -> None:
    """As 3.12's asyncio.timeout: a task with a cancellation pending from before (a server's
    shutdown being handled) still has its own stall told apart."""
    from fastapi_gateway.legacy.bridge import _ClientStalled, _StallWatch

    async def stalls() -> None:
        asyncio.current_task().cancel()  # type: ignore[union-attr]
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            pass  # handled, but still counted as cancelling
        with _StallWatch(0.05):
            await asyncio.sleep(5)  # a send that never returns

    with pytest.raises(_ClientStalled):
        await asyncio.wait_for(stalls(), 2)


async def test_the_stall_watch_fires_again_when_a_cancellation_is_swallowed() -> None:
    from fastapi_gateway.legacy.bridge import _ClientStalled, _StallWatch

    async def swallows_once() -> None:
        with _StallWatch(0.05):
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                pass  # something in the send chain ate it
            await asyncio.sleep(5)

    with pytest.raises(_ClientStalled):
        await asyncio.wait_for(swallows_once(), 2)


async def test_a_client_that_reads_nothing_cannot_keep_a_thread_behind_its_head() -> None:
    """From a review: the head's send waits too, behind an earlier pipelined answer the client
    never read; the thread filling the stream's window must not wait on it for ever."""
    closed = threading.Event()

    def download(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])

        def blocks() -> Iterator[bytes]:
            try:
                for _ in range(100):
                    yield b"x" * MiB
            finally:
                closed.set()

        return blocks()

    async def window_full(message: Message) -> None:
        await asyncio.Event().wait()

    bridge = WSGIBridge(download, threads=1, concurrency=None, send_timeout=0.3)
    messages = await asyncio.wait_for(call(bridge, http_scope("/download"), on_send=window_full), 5)
    assert messages == []
    assert await asyncio.to_thread(closed.wait, 5), "the thread let go of the response"


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_over_the_limit_is_refused_before_it_reaches_the_app_or_the_disk(chunked: bool) -> None:
    """From an attack pass: an anonymous POST to any legacy URL was stored whole, however large,
    before Django ran (under gunicorn only a view that reads the body stores it)."""
    called: list[str] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        called.append(environ["PATH_INFO"])
        start_response("200 OK", [])
        return [b"read"]

    read = 0

    async def receive() -> Message:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b"x" * 64 * KiB, "more_body": True}  # a body that never ends

    headers = [(b"transfer-encoding", b"chunked")] if chunked else [(b"content-length", str(10 * MiB).encode())]
    messages = await asyncio.wait_for(call(WSGIBridge(app, max_body=MiB), http_scope("/no-such-page/", method="POST", headers=headers),
                                           receive), 5)
    assert status_of(messages) == 413
    assert dict(messages[0]["headers"])[b"connection"] == b"close"
    assert body_of(messages) == b"Content Too Large: the request body is over this site's limit of 1048576 bytes.\n"
    assert called == []
    assert read == (17 if chunked else 0), "counted as it came when undeclared; not read at all when declared"
    # At the limit it is taken.
    exact = await call(WSGIBridge(app, max_body=MiB), http_scope("/", method="POST", headers=[(b"content-length", str(MiB).encode())]),
                       body_messages(b"x" * MiB))
    assert status_of(exact) == 200
