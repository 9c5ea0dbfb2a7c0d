"""The legacy mount under attack, through the real gateway and the real Django project.

Each test performs the attack or the failure a client can cause (cut an upload short, walk
away from a stream, forge a header) and checks what Django did about it. Raw ASGI calls
where a client's ``receive`` has to say ``http.disconnect`` at a chosen moment.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import re
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import AbstractUser
from django.core.files.base import ContentFile
from django.core.signals import request_finished, request_started
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import include, path
from fastapi import FastAPI
from pytest_django import Settings
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import Message

from fastapi_gateway import create_app
from fastapi_gateway.legacy.bridge import SEND_SLICE
from fastapi_gateway.legacy.mount import legacy_asgi_app
from legacy_django.tickets.models import Ticket
from legacy_django.tickets.queries import create_ticket

from tests.gateway.conftest import BASE_URL, login, serve
from tests.gateway.legacy.test_bridge import body_messages, body_of, call, count_hops, http_scope, stalling, until

pytestmark = pytest.mark.django_db(transaction=True)

MiB = 1024 * 1024
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

# A slow StreamingHttpResponse next to the bundled site's URLs (the ROOT_URLCONF of the
# tests that need it): ten seconds of rows unless the response is closed first.
_closed_streams: list[int] = []


def _slow_rows(request: HttpRequest) -> StreamingHttpResponse:
    def rows() -> Iterator[bytes]:
        number = 0
        try:
            for number in range(200):
                yield f"row {number}\n".encode()
                time.sleep(0.05)
        finally:
            _closed_streams.append(number)

    return StreamingHttpResponse(rows(), content_type="text/plain")


urlpatterns = [path("slow-rows/", _slow_rows), path("", include("legacy_django.urls"))]


@pytest.fixture
async def desk() -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The gateway with two legacy threads, and a browser-like client of it."""
    app = create_app(legacy_threads=2)
    async with serve(app) as client:
        yield app, client


@pytest.fixture
def slow_rows(settings: Settings) -> list[int]:
    settings.ROOT_URLCONF = __name__
    _closed_streams.clear()
    return _closed_streams


def cookie_header(client: httpx.AsyncClient) -> tuple[bytes, bytes]:
    return b"cookie", "; ".join(f"{name}={value}" for name, value in client.cookies.items()).encode()


class _RequestsFinished:
    """Counts Django's ``request_finished``: it fires from the response's ``close()``."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = threading.Condition()

    def __call__(self, **kwargs: Any) -> None:
        with self.changed:
            self.count += 1
            self.changed.notify_all()

    async def wait_for(self, count: int, timeout: float = 5) -> bool:
        def wait() -> bool:
            with self.changed:
                return self.changed.wait_for(lambda: self.count >= count, timeout)

        return await asyncio.to_thread(wait)


@pytest.fixture
def requests_finished() -> Iterator[_RequestsFinished]:
    counter = _RequestsFinished()
    request_finished.connect(counter)
    yield counter
    request_finished.disconnect(counter)


@pytest.fixture
def requests_started() -> Iterator[list[str]]:
    """The paths Django began to handle: ``request_started`` fires in the worker thread before
    any middleware or view, so a request counted nowhere here never reached Django at all."""
    paths: list[str] = []

    def record(environ: dict[str, Any], **kwargs: Any) -> None:
        paths.append(environ["PATH_INFO"])

    request_started.connect(record)
    yield paths
    request_started.disconnect(record)


# Truncated request bodies ------------------------------------------------------------------


def _new_ticket_request(token: str, title: str, encoding: str) -> httpx.Request:
    """The create form as a browser posts it: a 600 KB attachment, or a 600 KB description."""
    fields = {"csrfmiddlewaretoken": token, "title": title, "priority": "normal"}
    if encoding == "multipart":
        files = {"attachment": ("scan.bin", b"s" * 600_000, "application/octet-stream")}
        return httpx.Request("POST", f"{BASE_URL}/tickets/new/", data={**fields, "body": "see scan"}, files=files)
    return httpx.Request("POST", f"{BASE_URL}/tickets/new/", data={**fields, "body": "b" * 600_000})


@pytest.mark.parametrize("encoding", ["multipart", "urlencoded"])
@pytest.mark.parametrize("cut", [False, True], ids=["whole", "cut-in-half"])
async def test_a_cut_upload_never_reaches_the_view_as_complete(
    desk: tuple[FastAPI, httpx.AsyncClient],
    demo_users: Any,
    demo_password: str,
    requests_finished: _RequestsFinished,
    requests_started: list[str],
    encoding: str,
    cut: bool,
) -> None:
    app, client = desk
    await login(client, "alice", demo_password)
    token = _CSRF_INPUT.search((await client.get("/tickets/new/")).text)
    assert token
    title = f"Alice: {encoding} upload"
    request = _new_ticket_request(token.group(1), title, encoding)
    content = request.read()
    headers = [(name.lower().encode(), value.encode()) for name, value in request.headers.items() if name.lower() != "host"]
    scope = http_scope("/tickets/new/", method="POST", headers=[*headers, cookie_header(client)])
    finished_before, started_before = requests_finished.count, len(requests_started)

    # The client leaves half-way. The bridge holds a body until its end, so Django never sees it.
    chunks = (content[: len(content) // 2],) if cut else (content,)
    messages = await call(app, scope, body_messages(*chunks, disconnect=cut))

    if cut:
        assert len(requests_started) == started_before, "Django handled a truncated body"
        assert not await Ticket.objects.filter(title=title).aexists(), "the view ran on a truncated body"
        assert messages == []
    else:
        assert await requests_finished.wait_for(finished_before + 1)
        assert await Ticket.objects.filter(title=title).aexists()
        assert messages[0]["status"] == 302


# Stalled and large request bodies -----------------------------------------------------------


@pytest.mark.parametrize("framing", [(b"content-length", b"2000000"), (b"transfer-encoding", b"chunked")], ids=["content-length", "chunked"])
async def test_a_stalled_login_post_gets_408_and_the_view_never_runs(
    demo_users: Any, requests_started: list[str], framing: tuple[bytes, bytes]
) -> None:
    app = create_app(legacy_threads=2, legacy_body_timeout_seconds=0.3)
    async with serve(app) as client:
        assert (await client.get("/accounts/login/")).status_code == 200
        headers = [framing, (b"content-type", b"application/x-www-form-urlencoded"), cookie_header(client)]
        stalled_body = stalling(b"username=alice&password=" + b"p" * 300 * 1024)
        messages = await asyncio.wait_for(call(app, http_scope("/accounts/login/", method="POST", headers=headers), stalled_body), 5)
    assert messages[0]["status"] == 408
    assert dict(messages[0]["headers"])[b"connection"] == b"close"
    assert body_of(messages) == b"Request Timeout: the request body stopped arriving.\n"
    assert requests_started == ["/accounts/login/"], "Django handled the stalled request"  # only the GET


async def test_a_large_upload_reaches_django_whole_after_it_is_spooled(
    desk: tuple[FastAPI, httpx.AsyncClient], demo_users: Any, demo_password: str
) -> None:
    app, client = desk
    await login(client, "alice", demo_password)
    token = _CSRF_INPUT.search((await client.get("/tickets/new/")).text)
    assert token
    boundary = "spooled-upload-boundary"
    fields = {"csrfmiddlewaretoken": token.group(1), "title": "Alice: 200 MB upload", "body": "big", "priority": "normal"}
    head = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n' for name, value in fields.items())
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="attachment"; filename="big.bin"\r\n'
    head += "Content-Type: application/octet-stream\r\n\r\n"
    tail = f"\r\n--{boundary}--\r\n".encode()
    chunk, size = 64 * 1024, 200 * MiB
    sent = hashlib.sha256()

    def file_slices() -> Iterator[bytes]:
        for number in range(size // chunk):
            piece = bytes([number % 251]) * chunk
            sent.update(piece)
            yield piece

    parts = itertools.chain([head.encode()], file_slices(), [tail])
    remaining = size // chunk + 2
    django_started_with: list[int] = []  # parts of the body still unsent when Django started on it

    async def receive() -> Message:
        nonlocal remaining
        if not remaining:
            await asyncio.Event().wait()  # a client that stays for the response
        remaining -= 1
        return {"type": "http.request", "body": next(parts), "more_body": remaining > 0}

    def started(**kwargs: Any) -> None:
        django_started_with.append(remaining)

    length = len(head.encode()) + size + len(tail)
    headers = [(b"content-type", f"multipart/form-data; boundary={boundary}".encode()), (b"content-length", str(length).encode()), cookie_header(client)]
    request_started.connect(started)
    tracemalloc.start()
    try:
        messages = await call(app, http_scope("/tickets/new/", method="POST", headers=headers), receive)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        request_started.disconnect(started)
    assert messages[0]["status"] == 302, body_of(messages)
    assert django_started_with == [0], "Django started on the request before its body had all arrived"
    assert peak < 16 * MiB, peak
    ticket = await Ticket.objects.aget(title="Alice: 200 MB upload")
    stored = hashlib.sha256()
    with ticket.attachment.open("rb") as attachment:
        while block := attachment.read(MiB):
            stored.update(block)
    assert (ticket.attachment.size, stored.hexdigest()) == (size, sent.hexdigest())


# Streams ------------------------------------------------------------------------------------


async def test_a_slow_streaming_response_starts_at_once(
    desk: tuple[FastAPI, httpx.AsyncClient], slow_rows: list[int], requests_finished: _RequestsFinished
) -> None:
    app, _ = desk
    gone = asyncio.Event()
    first_row = asyncio.Event()

    async def on_send(message: Message) -> None:
        if message.get("body"):
            first_row.set()

    started = time.monotonic()
    stream = asyncio.create_task(call(app, http_scope("/slow-rows/"), until(gone), on_send))
    await asyncio.wait_for(first_row.wait(), 2)
    assert time.monotonic() - started < 2  # the whole stream takes ten seconds
    gone.set()
    messages = await asyncio.wait_for(stream, 2)
    assert messages[0]["status"] == 200 and messages[1]["body"] == b"row 0\n"
    assert await requests_finished.wait_for(1)


async def test_abandoned_legacy_streams_free_the_pool(
    desk: tuple[FastAPI, httpx.AsyncClient], slow_rows: list[int], requests_finished: _RequestsFinished
) -> None:
    app, client = desk

    async def abandoned_stream() -> None:
        gone = asyncio.Event()

        async def leave_after_first_row(message: Message) -> None:
            if message.get("body"):
                gone.set()

        await call(app, http_scope("/slow-rows/"), until(gone), leave_after_first_row)

    # Twice as many walk-aways as the pool has threads. A stream left running holds its thread
    # for the ten seconds its rows take: the page would wait that long behind them (the bound
    # is half of it, a loaded machine's margin, not a speed test).
    await asyncio.wait_for(asyncio.gather(*(abandoned_stream() for _ in range(4))), 5)
    page = await asyncio.wait_for(client.get("/accounts/login/"), 5)
    assert page.status_code == 200
    assert await requests_finished.wait_for(5)
    assert len(slow_rows) == 4 and max(slow_rows) < 10, slow_rows


# Downloads ----------------------------------------------------------------------------------


@pytest.fixture
def alices_big_attachment(alice: AbstractUser) -> Ticket:
    payload = b"".join(bytes([n]) * MiB for n in range(3))
    return create_ticket(alice, title="Alice: disk image", attachment=ContentFile(payload, name="disk.img"))


async def test_file_response_goes_out_in_large_blocks(
    desk: tuple[FastAPI, httpx.AsyncClient], demo_password: str, alices_big_attachment: Ticket
) -> None:
    app, client = desk
    await login(client, "alice", demo_password)
    scope = http_scope(f"/tickets/{alices_big_attachment.pk}/attachment", headers=[cookie_header(client)])
    messages = await call(app, scope)
    blocks = [m["body"] for m in messages[1:] if m["body"]]
    assert messages[0]["status"] == 200
    assert [len(block) for block in blocks] == [SEND_SLICE] * (3 * MiB // SEND_SLICE)  # Django asks for 4 KiB blocks
    assert b"".join(blocks) == b"".join(bytes([n]) * MiB for n in range(3))


# Headers and prefixes ----------------------------------------------------------------------


async def test_an_underscore_header_cannot_fake_https(settings: Settings, demo_users: Any) -> None:
    # A site behind a TLS proxy trusts X-Forwarded-Proto; the gateway strips that header from
    # untrusted clients, so the forgery's only way in would be the underscore spelling.
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True  # read when Django builds its middleware: app after it
    async with serve(create_app()) as client:
        for header in ("X-Forwarded_Proto", "X-Forwarded-Proto"):
            response = await client.get("/accounts/login/", headers={header: "https"})
            assert response.status_code == 301, header
            assert response.headers["location"] == "https://testserver/accounts/login/"


async def test_the_legacy_site_under_a_prefix_builds_its_urls_there(demo_users: Any) -> None:
    app = Starlette(routes=[Mount("/legacy", app=legacy_asgi_app())])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
        page = await client.get("/legacy/accounts/login/")
    assert page.status_code == 200
    assert 'action="/legacy/accounts/login/"' in page.text


# Speed, counted ------------------------------------------------------------------------------


async def test_a_legacy_page_costs_one_thread_hop(
    desk: tuple[FastAPI, httpx.AsyncClient], demo_users: Any, demo_password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client = desk
    hops = count_hops(monkeypatch)
    await login(client, "alice", demo_password)  # GET the form, POST it
    assert (await client.get("/tickets/")).status_code == 200
    assert len(hops) == 3, hops
