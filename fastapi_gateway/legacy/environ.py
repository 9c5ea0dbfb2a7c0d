"""The WSGI side of an ASGI exchange: environ, ``wsgi.input``, ``wsgi.file_wrapper``, headers.

The environ is a2wsgi's ``build_environ`` with gunicorn's header rules on top, both ways.
``wsgi.input`` differs from a2wsgi's streamed body: the body is received whole on the event
loop before a worker thread is taken, as nginx buffers a request body before passing it
upstream, so a client that trickles or stalls its upload holds a coroutine and a spool file,
never one of the WSGI app's few threads; and a body the client abandoned never reaches the
app at all, so a view never runs on half a form.
"""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from typing import IO, Any

from starlette.types import Message, Receive, Scope

from fastapi_gateway.compat import a2wsgi_build_environ
from fastapi_gateway.exceptions import GatewayError

__all__ = [
    "IncompleteBody",
    "ClientDisconnected",
    "BodyTimeout",
    "BodyTooLarge",
    "PathOutsideScriptName",
    "RequestBody",
    "FileWrapper",
    "build_environ",
    "is_under",
    "response_headers",
    "HOP_BY_HOP_HEADERS",
]

FILE_BLOCK_SIZE = 1024 * 1024
# RFC 9110 §7.6.1, gunicorn's list: the ASGI server runs the connection, not the app behind it.
HOP_BY_HOP_HEADERS = frozenset(
    (b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization")
    + (b"te", b"trailers", b"transfer-encoding", b"upgrade")
)


class IncompleteBody(GatewayError):
    """The request body ended before its declared length: the request is refused unread."""

    def __init__(self, received: int, declared: int | None, reason: str = "ended") -> None:
        expected = "the final chunk" if declared is None else f"{declared} bytes"
        super().__init__(f"request body {reason} after {received} bytes, before {expected}")
        self.received = received
        self.declared = declared


class ClientDisconnected(IncompleteBody):
    """The client left before its request body was complete: nobody is left to answer."""

    def __init__(self, received: int, declared: int | None) -> None:
        super().__init__(received, declared, "cut by a disconnect")


class BodyTooLarge(IncompleteBody):
    """The request body is (or says it will be) larger than the site takes: refused unread,
    before it costs the disk (nginx's ``client_max_body_size``)."""

    def __init__(self, received: int, declared: int | None, limit: int) -> None:
        super().__init__(received, declared, f"over the limit of {limit} bytes")
        self.limit = limit


class BodyTimeout(IncompleteBody):
    """No byte of the request body arrived for ``timeout`` seconds (nginx's ``client_body_timeout``)."""

    def __init__(self, received: int, declared: int | None, timeout: float) -> None:
        super().__init__(received, declared, f"stalled for {timeout:g} s")
        self.timeout = timeout


class PathOutsideScriptName(GatewayError):
    """The request path is not under the ``SCRIPT_NAME`` the site is served at: there is no
    ``PATH_INFO`` to give the app (gunicorn's ``ConfigurationProblem``)."""

    def __init__(self, path: str, script_name: str) -> None:
        super().__init__(f"request path {path!r} is not under SCRIPT_NAME {script_name!r}")
        self.path = path
        self.script_name = script_name


class RequestBody:
    """A request's body, received whole on the event loop, then ``wsgi.input`` in the thread.

    The first ``spool_limit`` bytes stay in memory; past that the body goes to a temporary file
    (``tempfile.SpooledTemporaryFile``) in batches of about ``spool_limit`` bytes, written by the
    ``writer`` executor's thread: a disk that throttles a writer for milliseconds must not stop
    the event loop. So a 200 MB upload costs disk, and about twice ``spool_limit`` of RAM. A
    bodiless request (the usual GET) creates nothing and never waits.
    """

    __slots__ = ("declared", "complete", "received", "max_size", "_spool_limit", "_file", "_writing")

    def __init__(self, scope: Scope, *, spool_limit: int, max_size: int | None = None) -> None:
        self.declared, self.complete = _declared_length(scope)
        self.received = 0
        self.max_size = max_size  # None: no limit
        self._spool_limit = spool_limit
        self._file: IO[bytes] | None = None
        self._writing: Future[None] | None = None  # the batch the writer thread has in hand

    async def receive_all(self, receive: Receive, *, idle_timeout: float, writer: Executor) -> None:
        """Read the body to its end; the idle clock runs only while the client is waited on.

        Raises ``ClientDisconnected`` when the client leaves first, ``BodyTimeout`` when no
        message came for ``idle_timeout`` seconds, ``IncompleteBody`` when the body ended
        short of its ``Content-Length``, ``BodyTooLarge`` when its ``Content-Length`` or the
        bytes that came are over ``max_size`` (checked before anything is read or stored).
        """
        if self.complete:
            return
        if self.max_size is not None and self.declared is not None and self.declared > self.max_size:
            raise BodyTooLarge(0, self.declared, self.max_size)
        loop = asyncio.get_running_loop()
        spool: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(max_size=self._spool_limit)
        self._file = spool
        batch: list[bytes] = []
        batched = 0
        idle = asyncio.timeout(None)
        try:
            async with idle:
                while not self.complete:
                    idle.reschedule(loop.time() + idle_timeout)
                    message = await receive()
                    idle.reschedule(None)
                    chunk = self._take(message)
                    if self.received <= self._spool_limit:
                        spool.write(chunk)  # into memory: a copy, on the loop
                        continue
                    batch.append(chunk)
                    batched += len(chunk)
                    if batched >= self._spool_limit or self.complete:
                        await self._write_batch(writer, spool, batch)
                        batch, batched = [], 0
                if self._writing is not None:
                    await asyncio.wrap_future(self._writing)
        except TimeoutError:
            if not idle.expired():
                raise
            raise BodyTimeout(self.received, self.declared, idle_timeout) from None
        spool.seek(0)

    def _take(self, message: Message) -> bytes:
        if message["type"] != "http.request":
            raise ClientDisconnected(self.received, self.declared)
        chunk: bytes = message.get("body", b"")
        self.received += len(chunk)
        if self.max_size is not None and self.received > self.max_size:
            raise BodyTooLarge(self.received, self.declared, self.max_size)
        if not message.get("more_body", False):
            if self.declared is not None and self.received < self.declared:
                raise IncompleteBody(self.received, self.declared)
            self.complete = True
        return chunk

    async def _write_batch(self, writer: Executor, spool: tempfile.SpooledTemporaryFile[bytes], batch: list[bytes]) -> None:
        if self._writing is not None:
            await asyncio.wrap_future(self._writing)  # in order, and one batch in hand at a time
        self._writing = writer.submit(_write_to_disk, spool, batch)

    @property
    def input(self) -> IO[bytes]:
        """``wsgi.input``: the whole body, from its start."""
        if self._file is None:
            self._file = io.BytesIO()
        return self._file

    def close(self) -> None:
        """Free the memory or delete the file once its last reader is done with it (a batch
        the writer thread still has in hand closes it when written)."""
        file, writing = self._file, self._writing
        if file is None:
            return
        if writing is None:
            file.close()
        else:
            writing.add_done_callback(lambda _: file.close())


def _write_to_disk(spool: tempfile.SpooledTemporaryFile[bytes], batch: list[bytes]) -> None:
    spool.rollover()
    spool.writelines(batch)


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


def is_under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or below it: ``/app`` and ``/app/x`` are under ``/app``,
    ``/application`` is not (Starlette's ``get_route_path`` draws the same line)."""
    return path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/")


def build_environ(
    scope: Scope, body: IO[bytes], file_wrapper: Callable[..., Any] = FileWrapper, script_name: str = ""
) -> dict[str, Any]:
    """a2wsgi's environ, minus header names with ``_`` (gunicorn and Django's ASGI handler drop
    them: ``X-Forwarded_Proto`` would otherwise pass as ``HTTP_X_FORWARDED_PROTO``), and with a
    raw non-ASCII query string kept as latin-1 like gunicorn does, where a2wsgi would fail.

    ``SCRIPT_NAME`` is the scope's ``root_path``, or else ``script_name`` (a prefix the request
    path keeps, as under gunicorn), and ``PATH_INFO`` the path below it, cut only at a ``/``.
    a2wsgi takes ``SCRIPT_NAME`` from ``os.environ`` without taking it off ``PATH_INFO``, and
    cuts ``/app`` off ``/application``. A path outside ``script_name`` raises
    ``PathOutsideScriptName``; one outside ``root_path`` is taken to be below it (ASGI's
    older convention, where ``path`` does not repeat ``root_path``), as Starlette routes it.
    """
    headers = scope.get("headers", ())
    query = scope.get("query_string", b"")
    if not query.isascii() or any(b"_" in name for name, _ in headers):
        headers = [(name, value) for name, value in headers if b"_" not in name]
        scope = {**scope, "headers": headers, "query_string": b""}
    environ: dict[str, Any] = a2wsgi_build_environ(scope, body)
    root_path: str = scope.get("root_path", "")
    prefix = root_path or script_name
    if prefix:
        path: str = scope["path"]
        if is_under(path, prefix):
            path = path[len(prefix):]
        elif not root_path:
            raise PathOutsideScriptName(path, script_name)
        environ["SCRIPT_NAME"] = prefix.encode("utf-8").decode("latin-1")
        environ["PATH_INFO"] = path.encode("utf-8").decode("latin-1")
    else:
        environ["SCRIPT_NAME"] = ""
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
