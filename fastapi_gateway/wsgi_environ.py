"""The WSGI side of an ASGI exchange: environ, ``wsgi.input``, ``wsgi.file_wrapper``, headers.

The environ is a2wsgi's ``build_environ`` with gunicorn's header rules on top, both ways. ``wsgi.input``
is a2wsgi's streamed body with one difference that matters: a body the client abandoned
(``http.disconnect`` before the declared length or the last chunk) raises ``ClientDisconnected``
instead of ending like a complete one, so a view never runs on half a form.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

from a2wsgi.wsgi import build_environ as _a2wsgi_build_environ
from starlette.types import Message, Receive, Scope

from .exceptions import GatewayError

__all__ = ["ClientDisconnected", "RequestBody", "FileWrapper", "build_environ", "response_headers", "HOP_BY_HOP_HEADERS"]

FILE_BLOCK_SIZE = 1024 * 1024
# RFC 9110 §7.6.1, gunicorn's list: the ASGI server runs the connection, not the app behind it.
HOP_BY_HOP_HEADERS = frozenset(
    (b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization")
    + (b"te", b"trailers", b"transfer-encoding", b"upgrade")
)


class ClientDisconnected(GatewayError, OSError):
    """The client left before its request body was complete; an ``OSError`` because Django
    turns exactly that into ``UnreadablePostError`` (and its CSRF check into a refusal)."""

    def __init__(self, received: int, declared: int | None) -> None:
        expected = "the final chunk" if declared is None else f"{declared} bytes"
        super().__init__(f"client disconnected after {received} body bytes, before {expected}")
        self.received = received
        self.declared = declared


class RequestBody:
    """``wsgi.input``: read in the worker thread, filled on the event loop.

    The loop keeps at most ``high_water`` unread bytes (more only while the app waits for a
    bigger read), so a 200 MB upload streams through with flat memory, as under a2wsgi.
    """

    def __init__(self, scope: Scope, *, high_water: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._high_water = high_water
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._resume = asyncio.Event()
        self._buffer = bytearray()
        self._received = 0
        self._declared, self._complete = _declared_length(scope)
        self._error: ClientDisconnected | None = None
        self._wanted = 0  # bytes a waiting read needs buffered; the pump fills at least that far
        self._paused = False

    # Event loop side -----------------------------------------------------------------

    @property
    def complete(self) -> bool:
        return self._complete

    @property
    def truncated(self) -> bool:
        return self._error is not None

    def feed(self, message: Message) -> None:
        """Take one ``receive()`` message; ``http.disconnect`` before the end is a truncation."""
        with self._lock:
            if self._complete:
                return
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                self._buffer += chunk
                self._received += len(chunk)
                if message.get("more_body", False):
                    self._arrived.notify()
                    return
                if self._declared is None or self._received >= self._declared:
                    self._complete = True
                    self._arrived.notify()
                    return
            self._error = ClientDisconnected(self._received, self._declared)
            self._complete = True
            self._arrived.notify()

    async def prefetch(self, receive: Receive) -> None:
        """Read up to ``high_water`` bytes before a thread is taken: a small form costs no
        thread hop, and a client trickling its body does not hold a worker meanwhile."""
        while not self._complete and len(self._buffer) < self._high_water:
            self.feed(await receive())

    async def pump(self, receive: Receive, on_disconnect: Callable[[], None]) -> None:
        """Sole reader of ``receive`` while a thread serves the request: body, then disconnect."""
        while True:
            with self._lock:
                self._paused = not self._complete and len(self._buffer) >= max(self._high_water, self._wanted)
                if self._paused:
                    self._resume.clear()
            if self._paused:
                await self._resume.wait()
                continue
            message = await receive()
            self.feed(message)
            if message["type"] == "http.disconnect":
                on_disconnect()
                return

    def abandon(self) -> None:
        """The request is over on the loop side: a thread still reading gets an error, not a hang."""
        self.feed({"type": "http.disconnect"})

    # Worker thread side (PEP 3333 input stream) -----------------------------------------

    def _wake_pump(self) -> None:
        self._paused = False
        try:
            self._loop.call_soon_threadsafe(self._resume.set)
        except RuntimeError:  # the loop is closed: nobody will feed this body any more
            self._error = ClientDisconnected(self._received, self._declared)
            self._complete = True

    def _wait_for_more(self, wanted: int) -> None:
        self._wanted = wanted
        if self._paused and len(self._buffer) < wanted:
            self._wake_pump()
        if not self._complete:
            self._arrived.wait()

    def _take(self, size: int) -> bytes:
        if size >= len(self._buffer):
            data = bytes(self._buffer)
            self._buffer.clear()
        else:
            data = bytes(memoryview(self._buffer)[:size])
            del self._buffer[:size]
        self._wanted = 0
        if self._paused and len(self._buffer) < self._high_water:
            self._wake_pump()
        return data

    def read(self, size: int | None = -1, /) -> bytes:
        with self._lock:
            wanted = sys.maxsize if size is None or size < 0 else size
            while not self._complete and len(self._buffer) < wanted:
                self._wait_for_more(wanted)
            if size is None or size < 0 or size > len(self._buffer):
                if self._error is not None:
                    raise ClientDisconnected(self._error.received, self._error.declared)
                size = len(self._buffer)
            return self._take(size)

    def readline(self, size: int | None = -1, /) -> bytes:
        with self._lock:
            while True:
                limit = None if size is None or size < 0 else size
                end = self._buffer.find(b"\n", 0, limit)
                if end >= 0:
                    return self._take(end + 1)
                if limit is not None and len(self._buffer) >= limit:
                    return self._take(limit)
                if self._complete:
                    if self._error is not None:
                        raise ClientDisconnected(self._error.received, self._error.declared)
                    return self._take(len(self._buffer))
                self._wait_for_more(len(self._buffer) + 1 if limit is None else limit)

    def readlines(self, hint: int = -1, /) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


def _declared_length(scope: Scope) -> tuple[int | None, bool]:
    """``(Content-Length, complete)``: an HTTP/1 request with neither length nor chunking has no body."""
    length: int | None = None
    chunked = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit():
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = True
    if length is not None:
        return length, length == 0
    return None, not chunked and str(scope.get("http_version", "1.1")).startswith("1")


class FileWrapper:
    """``wsgi.file_wrapper``: Django's ``FileResponse`` asks for 4 KiB blocks; reading at least
    ``FILE_BLOCK_SIZE`` at a time is what makes a big download as fast as gunicorn's sendfile."""

    def __init__(self, filelike: IO[bytes], block_size: int = 8192, *, min_block_size: int = FILE_BLOCK_SIZE) -> None:
        self.filelike = filelike
        self.block_size = max(block_size, min_block_size)

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        while block := read(self.block_size):
            yield block

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


def build_environ(scope: Scope, body: RequestBody, file_wrapper: Callable[..., Any] = FileWrapper) -> dict[str, Any]:
    """a2wsgi's environ, minus header names with ``_`` (gunicorn and Django's ASGI handler drop
    them: ``X-Forwarded_Proto`` would otherwise pass as ``HTTP_X_FORWARDED_PROTO``), and with a
    raw non-ASCII query string kept as latin-1 like gunicorn does, where a2wsgi would fail."""
    headers = scope.get("headers", ())
    query = scope.get("query_string", b"")
    if not query.isascii() or any(b"_" in name for name, _ in headers):
        headers = [(name, value) for name, value in headers if b"_" not in name]
        scope = {**scope, "headers": headers, "query_string": b""}
    environ: dict[str, Any] = _a2wsgi_build_environ(scope, body)
    environ["QUERY_STRING"] = query.decode("latin-1")
    environ["wsgi.errors"] = sys.stderr
    environ["wsgi.input_terminated"] = True
    environ["wsgi.file_wrapper"] = file_wrapper
    return environ


def response_headers(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """The app's headers for ``http.response.start``, without hop-by-hop ones: an app's
    ``Connection`` or ``Transfer-Encoding`` would contradict how the server frames the response."""
    return [
        (key, value.strip().encode("latin-1"))
        for name, value in headers
        if (key := name.strip().lower().encode("latin-1")) not in HOP_BY_HOP_HEADERS
    ]
