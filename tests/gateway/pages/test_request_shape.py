"""``check_upload``: the uploads Gradio's ``/upload`` answers with a 500 are a 400 instead.

Three layers: the check on a hand-fed ``receive``; Gradio's real upload route without and
with it (the first pins Gradio's failure, so a release that fixes it shows here); and the
whole gateway, where the Gradio guard calls it for the upload route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr
import httpx
import pytest
from fastapi import FastAPI
from python_multipart.exceptions import MultipartParseError
from starlette.responses import JSONResponse
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastapi_gateway.exceptions import MalformedUpload
from fastapi_gateway.pages.request_shape import check_upload

from tests.gateway.conftest import BASE_URL, login
from .gradio_pages import PROBE, probe_page

BOUNDARY = b"abc"
MULTIPART = b"multipart/form-data; boundary=abc"
LONG_BOUNDARY = b"b" * 257


def _part(disposition: bytes, data: bytes = b"content", *, boundary: bytes = BOUNDARY) -> bytes:
    return b"--" + boundary + b"\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + data + b"\r\n"


def _body(*parts: bytes, boundary: bytes = BOUNDARY) -> bytes:
    return b"".join(parts) + b"--" + boundary + b"--\r\n"


A_FILE = _part(b'form-data; name="files"; filename="a.txt"')
PLAIN_FILES = _part(b'form-data; name="files"')

# Shapes that make Gradio 6.31's upload route fail with a 500 (content type, body).
FAILING_SHAPES = [
    pytest.param(b"multipart/form-data; boundary=" + LONG_BOUNDARY, _body(_part(b'form-data; name="files"; filename="a.txt"', boundary=LONG_BOUNDARY), boundary=LONG_BOUNDARY), id="boundary-over-256-bytes"),
    pytest.param(MULTIPART, _body(PLAIN_FILES), id="plain-files-field"),
    pytest.param(MULTIPART, _body(A_FILE, A_FILE, PLAIN_FILES), id="plain-files-field-after-files"),
    pytest.param(MULTIPART + b"; charset=utf-16-le", _body(_part(b'form-data; name="' + "files".encode("utf-16-le") + b'"')), id="plain-files-field-named-in-utf-16"),
]


def _scope(content_type: bytes | None) -> Scope:
    headers = [] if content_type is None else [(b"content-type", content_type)]
    return {"type": "http", "method": "POST", "path": "/ui/probe/gradio_api/upload", "headers": headers}


def _feeder(body: bytes, chunk_size: int) -> Receive:
    chunks = [body[start:start + chunk_size] for start in range(0, len(body), chunk_size)] or [b""]

    async def receive() -> Message:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    return receive


async def _drain(receive: Receive) -> bytes:
    received = b""
    while True:
        message = await receive()
        received += message.get("body", b"")
        if not message.get("more_body"):
            return received


def test_an_overlong_boundary_is_refused_from_the_headers() -> None:
    with pytest.raises(MalformedUpload, match="257 bytes"):
        check_upload(_scope(b"multipart/form-data; boundary=" + LONG_BOUNDARY), _feeder(b"", 1))


@pytest.mark.parametrize("chunk_size", [1, 7, 4096])
async def test_a_plain_files_field_stops_the_stream_wherever_it_is_split(chunk_size: int) -> None:
    receive = check_upload(_scope(MULTIPART), _feeder(_body(A_FILE, PLAIN_FILES, A_FILE), chunk_size))
    with pytest.raises(MultipartParseError, match="must be a file"):
        await _drain(receive)


async def test_a_files_field_named_in_the_requests_charset_is_seen() -> None:
    """Gradio decodes field names in the request's charset: ``f\\0i\\0l\\0e\\0s\\0`` is ``files`` in UTF-16."""
    content_type, body = FAILING_SHAPES[-1].values
    receive = check_upload(_scope(content_type), _feeder(body, 4096))
    with pytest.raises(MultipartParseError):
        await _drain(receive)


async def test_a_disconnect_mid_upload_is_a_parse_error() -> None:
    messages: list[Message] = [{"type": "http.request", "body": A_FILE[:40], "more_body": True}, {"type": "http.disconnect"}]

    async def receive() -> Message:
        return messages.pop(0)

    checked = check_upload(_scope(MULTIPART), receive)
    assert (await checked())["body"] == A_FILE[:40]
    with pytest.raises(MultipartParseError, match="cut off"):
        await checked()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param(MULTIPART, _body(A_FILE, _part(b'form-data; name="other"'), A_FILE), id="files-and-other-fields"),
        pytest.param(MULTIPART, _body(_part(b'form-data; name="files"; filename=""')), id="empty-filename-is-a-file"),
        pytest.param(MULTIPART, b"--abc\r\nbroken", id="unparsable-left-to-gradio"),
        pytest.param(MULTIPART, _body(_part(b'form-data; name="files"', boundary=b"other"), boundary=b"other"), id="another-boundary-left-to-gradio"),
        pytest.param(b"multipart/form-data", _body(PLAIN_FILES), id="no-boundary-left-to-gradio"),
        pytest.param(b"application/json", b"{}", id="not-multipart-left-to-gradio"),
        pytest.param(None, b"", id="no-content-type"),
    ],
)
async def test_everything_else_passes_through_unchanged(content_type: bytes | None, body: bytes) -> None:
    receive = check_upload(_scope(content_type), _feeder(body, 5))
    assert await _drain(receive) == body


def _gradio_app(check: bool) -> FastAPI:
    """The probe page mounted as Gradio mounts it, behind the check when ``check`` (as the guard calls it)."""
    app = gr.mount_gradio_app(FastAPI(), probe_page(), path="/ui/probe", ssr_mode=False)
    if check:
        mount = next(route for route in app.routes if isinstance(route, Mount) and route.path == "/ui/probe")
        mount.app = _checked(mount.app)
    return app


def _checked(gradio_app: ASGIApp) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/gradio_api/upload"):
            try:
                receive = check_upload(scope, receive)
            except MalformedUpload as exc:
                await JSONResponse({"detail": exc.detail}, status_code=400)(scope, receive, send)
                return
        await gradio_app(scope, receive, send)

    return app


async def _upload(app: ASGIApp, content_type: bytes, body: bytes, **transport: Any) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, **transport), base_url=BASE_URL) as client:
        return await client.post("/ui/probe/gradio_api/upload", content=body, headers=[(b"Content-Type", content_type)])


@pytest.mark.parametrize(("content_type", "body"), FAILING_SHAPES)
async def test_gradio_alone_answers_these_shapes_with_a_500(content_type: bytes, body: bytes) -> None:
    """Gradio's own bug, pinned: when a release answers these 4xx, this module can go."""
    response = await _upload(_gradio_app(check=False), content_type, body, raise_app_exceptions=False)
    assert response.status_code == 500


@pytest.mark.parametrize(("content_type", "body"), FAILING_SHAPES)
async def test_with_the_check_gradio_answers_400_with_the_reason(content_type: bytes, body: bytes) -> None:
    response = await _upload(_gradio_app(check=True), content_type, body)
    assert response.status_code == 400
    assert "boundary" in response.text or "must be a file" in response.text


async def _cut_upload(app: ASGIApp) -> list[Message]:
    """An upload whose client leaves half-way, straight through ASGI (no client library can)."""
    incoming: list[Message] = [{"type": "http.request", "body": A_FILE[:40], "more_body": True}, {"type": "http.disconnect"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    path = "/ui/probe/gradio_api/upload"
    headers = [(b"host", b"testserver"), (b"content-type", MULTIPART), (b"content-length", b"100000")]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http", "path": path,
             "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": headers, "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}
    await app(scope, receive, send)
    return sent


async def test_gradio_alone_raises_on_an_upload_cut_off() -> None:
    """Pinned: Starlette's ``ClientDisconnect`` escapes Gradio's upload (a traceback in the server's log)."""
    from starlette.requests import ClientDisconnect

    with pytest.raises(ClientDisconnect):
        await _cut_upload(_gradio_app(check=False))


async def test_with_the_check_an_upload_cut_off_ends_in_a_400_not_an_exception() -> None:
    sent = await _cut_upload(_gradio_app(check=True))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 400


async def test_with_the_check_a_good_upload_still_works() -> None:
    response = await _upload(_gradio_app(check=True), MULTIPART, _body(A_FILE, A_FILE))
    assert response.status_code == 200
    assert len(response.json()) == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("content_type", "body"), FAILING_SHAPES)
async def test_the_gateway_answers_these_uploads_400(
    gateway_factory: Callable[..., Any], demo_users: Any, demo_password: str, content_type: bytes, body: bytes
) -> None:
    """Issue 13, end to end: the Gradio guard calls ``check_upload`` for the upload route."""
    async with gateway_factory(gradio_pages=[PROBE]) as client:
        await login(client, "alice", demo_password)
        response = await client.post(
            "/ui/probe/gradio_api/upload", content=body, headers=[(b"Content-Type", content_type), (b"Origin", BASE_URL.encode())]
        )
    assert response.status_code == 400, response.text
