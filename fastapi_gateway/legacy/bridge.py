"""``WSGIBridge``: a WSGI app served as an ASGI app with one thread hop per ordinary request.

It follows a2wsgi's ``WSGIMiddleware`` (own thread pool, bodies streamed both ways, ``close()``
always called) but runs the whole WSGI call in the worker thread. a2wsgi blocks that thread on
the event loop for ``start_response``, for every chunk and for the end, about four round trips
per page; here the status, headers and a body up to ``buffer_limit`` go to the loop in a single
hand-off when the body is already made (Django's ``HttpResponse``, a list). Any other body
(Django's ``StreamingHttpResponse``, a generator even with a ``Content-Length``, ``write()``)
streams from its first block, with backpressure, and stops when the client leaves: PEP 3333
lets a server hold no block back while the app works on the next one. Blocks and the end that
come before the loop has taken the first go out with it, so a quick generator still costs one
hand-off.

The request body goes the other way whole: it is received on the event loop, spooled to disk
past ``body_spool_limit`` by a writer thread of its own, before a worker thread is taken (see
``wsgi_environ.RequestBody``). A worker a stalled upload held was a worker no page could have:
four stalled uploads froze the site.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.types import Message, Receive, Scope, Send

from fastapi_gateway.legacy.admission import Admission
from fastapi_gateway.legacy.thread_context import run_in_thread_context
from fastapi_gateway.legacy.environ import (
    FILE_BLOCK_SIZE,
    BodyTimeout,
    ClientDisconnected,
    BodyTooLarge,
    FileWrapper,
    IncompleteBody,
    PathOutsideScriptName,
    RequestBody,
    build_environ,
    response_headers,
)

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from wsgiref.types import WSGIApplication

__all__ = ["WSGIBridge", "BUFFER_LIMIT", "OVERFLOW_AFTER", "BODY_TIMEOUT", "BODY_SPOOL_LIMIT", "SEND_SLICE", "SEND_TIMEOUT"]

logger = logging.getLogger(__name__)

BUFFER_LIMIT = 256 * 1024
OVERFLOW_AFTER = 0.02
BODY_TIMEOUT = 60.0  # seconds without a byte of the request body, as nginx's client_body_timeout
BODY_SPOOL_LIMIT = 256 * 1024
SEND_TIMEOUT = 30.0  # seconds a streamed response may wait on a client taking nothing, as gunicorn's --timeout
_COALESCE_LIMIT = 64 * 1024
SEND_SLICE = 128 * 1024  # the largest send: the progress a streaming client must make within the send timeout
_ERROR_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"21")]
_OUTSIDE_TEXT = b"Not Found: the request path is outside this site's SCRIPT_NAME.\n"
_OUTSIDE_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(_OUTSIDE_TEXT))]

_Headers = list[tuple[bytes, bytes]]


class _Abandoned(Exception):
    """Raised in the worker thread to stop producing a response nobody will receive."""


class _ClientStalled(Exception):
    """Raised on the loop when the client took less than a slice of a streamed response in the send timeout."""


@dataclass(slots=True)
class _Head:
    """What the thread hands the loop: a whole response, or its start and the stream to follow."""

    status: int
    headers: _Headers
    body: bytes = b""
    stream: _ResponseStream | None = None


class _ResponseStream:
    """Chunks from the worker thread to the loop: one wake-up per batch rather than a blocking
    round trip per chunk, and the thread held back while more than ``window`` bytes are unsent.
    The window shrinks slice by slice as they go out, so the thread makes its next block while
    the last one's final slices are sent: a stream holds at most the window and three blocks."""

    def __init__(self, loop: asyncio.AbstractEventLoop, window: int, chunks: list[bytes]) -> None:
        self._loop = loop
        self._window = window
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._ready = asyncio.Event()
        self._chunks = chunks
        self._unsent = sum(map(len, chunks))
        self._wake_pending = True  # the loop takes the first chunks without being woken
        self._finished = False
        self._error: BaseException | None = None
        self.abandoned = False

    def _notify(self) -> None:
        if not self._wake_pending:
            self._wake_pending = True
            try:
                self._loop.call_soon_threadsafe(self._ready.set)
            except RuntimeError:  # the loop is closed
                self.abandoned = True

    def put(self, chunk: bytes) -> None:
        with self._lock:
            while self._unsent > self._window and not self.abandoned:
                self._room.wait()
            if self.abandoned:
                raise _Abandoned
            self._chunks.append(chunk)
            self._unsent += len(chunk)
            self._notify()

    def finish(self, error: BaseException | None = None) -> None:
        with self._lock:
            self._finished = True
            self._error = error
            self._notify()

    async def send_to(self, send: Send, *, stall_timeout: float) -> None:
        """Loop side: send each batch (small chunks joined) until the end, an error or abandon();
        the end rides on the last batch when the thread finished before the loop took it.
        Raises ``_ClientStalled`` when the client takes less than a slice (128 KiB) in
        ``stall_timeout`` seconds (the server's ``send`` waits while the client's window is
        full): the thread waiting on the stream is a legacy thread every other page needs."""
        with _StallWatch(stall_timeout) as watch:
            while True:
                with self._lock:
                    chunks, self._chunks = self._chunks, []
                    finished, error = self._finished, self._error
                    self._wake_pending = False
                    self._ready.clear()
                if self.abandoned:
                    return
                ending = finished and error is None
                if chunks:
                    batch = [b"".join(chunks)] if sum(map(len, chunks)) <= _COALESCE_LIMIT else chunks
                    last = len(batch) - 1
                    for index, chunk in enumerate(batch):
                        # In slices: each send waits for the one before to reach the client, so the
                        # stall limit is on a slice's worth of progress, not a whole large block's.
                        final = ending and index == last
                        for start in range(0, len(chunk), SEND_SLICE):
                            piece = chunk[start:start + SEND_SLICE] if len(chunk) > SEND_SLICE else chunk
                            await send({"type": "http.response.body", "body": piece,
                                        "more_body": not (final and start + SEND_SLICE >= len(chunk))})
                            watch.progress()
                            with self._lock:  # the thread may read its next block while this one goes out
                                self._unsent -= len(piece)
                                if self._unsent <= self._window:
                                    self._room.notify()
                if error is not None:
                    raise error
                if finished:
                    if not chunks:
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                if not chunks:
                    with watch.paused():  # the app is making the next block: nobody's stall
                        await self._ready.wait()

    def abandon(self) -> None:
        """Loop side: wake both ends for good."""
        with self._lock:
            self.abandoned = True
            self._room.notify_all()
        self._ready.set()


class _StallWatch:
    """Raises ``_ClientStalled`` in the task that made it when ``timeout`` seconds pass with no
    ``progress()`` while not ``paused()``: one timer a period for a whole stream, where a
    timeout around each send cost a timer and a cancelled handle for every 128 KiB sent.

    As ``asyncio.timeout`` does (3.12's, which knows the cancellations it found on entering),
    only its own cancellation becomes ``_ClientStalled``; one from outside goes on as it came.
    It fires again each period that still brings no progress, should anything swallow one."""

    def __init__(self, timeout: float) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a stall watch needs a task to cancel")
        self._task = task
        self._loop = asyncio.get_running_loop()
        self._timeout = timeout
        self._last = self._loop.time()
        self._paused = False
        self._fired = 0
        self._cancelling = task.cancelling()  # cancellations from before are not ours
        self._handle: asyncio.TimerHandle | None = None

    def __enter__(self) -> _StallWatch:
        self._handle = self._loop.call_at(self._last + self._timeout, self._check)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: Any) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if not self._fired:
            return
        for _ in range(self._fired):
            left = self._task.uncancel()
        if kind is asyncio.CancelledError and left <= self._cancelling:
            raise _ClientStalled from None  # our cancellation, and nobody else's besides

    def progress(self) -> None:
        self._last = self._loop.time()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self._paused = True
        try:
            yield
        finally:
            self._paused = False
            self._last = self._loop.time()

    def _check(self) -> None:
        now = self._loop.time()
        due = self._last + self._timeout
        if self._paused:
            due = now + self._timeout  # progress is counted again from the resume
        elif now >= due:
            self._fired += 1
            self._task.cancel()
            due = now + self._timeout
        self._handle = self._loop.call_at(due, self._check)


async def _send_within(send: Send, timeout: float, message: Message) -> None:
    try:
        async with asyncio.timeout(timeout):
            await send(message)
    except TimeoutError:
        raise _ClientStalled from None


def _is_made(iterable: Iterable[bytes]) -> bool:
    """Whether the whole body is already made: iterating it waits on nothing but memory or a file.

    Django marks its responses with ``streaming`` (a non-streaming ``HttpResponse`` holds its
    content as bytes); a list or a tuple is made. A ``Content-Length`` says how long a body will
    be, not that it is ready: a generator may sleep between blocks whatever it declared.
    """
    if isinstance(iterable, (list, tuple, FileWrapper)):
        return True
    return getattr(iterable, "streaming", None) is False


async def _refuse(exc: IncompleteBody, scope: Scope, send: Send) -> None:
    """Answer a request whose body never arrived whole, and close the connection (its unread
    rest cannot be skipped); a client that left gets nothing, as there is nobody to answer."""
    if isinstance(exc, ClientDisconnected):
        return
    if isinstance(exc, BodyTimeout):
        logger.info("%s %s refused: %s", scope.get("method"), scope.get("path"), exc)
        status, text = 408, b"Request Timeout: the request body stopped arriving.\n"
    elif isinstance(exc, BodyTooLarge):
        logger.info("%s %s refused: %s", scope.get("method"), scope.get("path"), exc)
        status, text = 413, b"Content Too Large: the request body is over this site's limit of %d bytes.\n" % exc.limit
    else:
        status, text = 400, b"Bad Request: the request body is shorter than its Content-Length.\n"
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(text)), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})


async def _watch_for_disconnect(receive: Receive, on_disconnect: Callable[[], None]) -> None:
    """Sole reader of ``receive`` while a response streams; the body is all in, so what comes
    next is the client leaving (or the server saying the response is done)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    on_disconnect()


def _resolve(outcome: asyncio.Future[_Head | None], value: _Head | None) -> None:
    if not outcome.done():
        outcome.set_result(value)


class _WSGICall:
    """One request in its worker thread: runs the app, collects or streams, always closes."""

    def __init__(self, bridge: WSGIBridge, scope: Scope, body: RequestBody, loop: asyncio.AbstractEventLoop) -> None:
        self.bridge = bridge
        self.scope = scope
        self.body = body
        self.loop = loop
        self.outcome: asyncio.Future[_Head | None] = loop.create_future()
        self.status: int | None = None
        self.headers: _Headers = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.buffered: bool | None = False  # a block from write() leaves at once, as PEP 3333 asks
        self.stream: _ResponseStream | None = None
        self.delivered = False
        self.abandoned = False
        self.ticket: int | None = None  # its place in the admission's arrival order

    def abandon(self) -> None:
        """Loop side: the client is gone or the request ended; stop the thread at its next chunk
        (or before it starts, if it still waits for its turn)."""
        if self.abandoned:
            return
        self.abandoned = True
        if self.stream is not None:
            self.stream.abandon()
        _resolve(self.outcome, None)
        gate = self.bridge.admission
        if gate is not None and not self.delivered:
            gate.wake()

    def run(self) -> None:
        iterable: Iterable[bytes] | None = None
        gate = self.bridge.admission
        try:
            # First thing in the thread; turns follow the tickets, which are arrival order.
            if gate is not None and not gate.enter(self, ticket=self.ticket, abandoned=lambda: self.abandoned):
                return  # nobody waits for it any more: Django never sees it
            environ = build_environ(self.scope, self.body.input, self.bridge.file_wrapper, self.bridge.script_name)
            iterable = self.bridge.app(environ, self.start_response)
            self.buffered = None
            for chunk in iterable:
                if chunk and self.buffered is None:
                    self.buffered = _is_made(iterable)
                self._emit(chunk)
            if self.stream is not None:
                self.stream.finish()
            elif self.status is None:
                raise RuntimeError("the WSGI app returned without calling start_response")
            else:
                self._deliver(_Head(self.status, self.headers, b"".join(self.chunks)))
        except _Abandoned:
            pass
        except PathOutsideScriptName as exc:  # no URL of this site: 404 (gunicorn answers 500, a server error it is not)
            logger.warning("%s %s refused: %s", self.scope.get("method"), self.scope.get("path"), exc)
            self._deliver(_Head(404, list(_OUTSIDE_HEADERS), _OUTSIDE_TEXT), quietly=True)
        except BaseException as exc:  # whatever the app raised must reach the client as an error
            if self.stream is not None:
                self.stream.finish(exc)  # too late for a 500: the loop re-raises, the server drops the connection
            else:
                logger.error("WSGI app failed on %s %s", self.scope.get("method"), self.scope.get("path"), exc_info=exc)
                self._deliver(_Head(500, list(_ERROR_HEADERS), b"Internal Server Error"), quietly=True)
        finally:
            if not self.delivered:  # never leave the loop waiting, whatever went wrong above
                self._deliver(None, quietly=True)
            close = getattr(iterable, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    logger.exception("close() of the WSGI response for %s failed", self.scope.get("path"))
            self.body.close()

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None) -> Any:
        if exc_info is not None:
            try:
                if (self.stream is not None or self.size) and exc_info[1] is not None:
                    raise exc_info[1].with_traceback(exc_info[2])  # PEP 3333: too late to change
            finally:
                exc_info = None
        elif self.status is not None:
            raise RuntimeError("start_response called a second time without exc_info")
        self.status = int(status.split(None, 1)[0])
        self.headers = response_headers(headers)
        return self._emit  # PEP 3333's write(), for apps that still use it

    def _emit(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self.stream is not None:
            self.stream.put(chunk)
            return
        if self.abandoned:
            raise _Abandoned
        if self.status is None:
            raise RuntimeError("the WSGI app sent body before calling start_response")
        self.chunks.append(chunk)
        self.size += len(chunk)
        if not self.buffered or self.size > self.bridge.buffer_limit:
            self.stream = _ResponseStream(self.loop, self.bridge.buffer_limit, self.chunks)
            self.chunks = []
            if self.abandoned:  # abandon() may have looked for the stream just before it existed
                raise _Abandoned
            self._deliver(_Head(self.status, self.headers, stream=self.stream))

    def _deliver(self, value: _Head | None, *, quietly: bool = False) -> None:
        self.delivered = True
        if self.bridge.admission is not None:
            self.bridge.admission.leave(self)  # the head is on its way: the next call starts now
        try:
            self.loop.call_soon_threadsafe(_resolve, self.outcome, value)
        except RuntimeError:  # the loop is closed: nobody is listening
            if not quietly:
                raise _Abandoned from None


class WSGIBridge:
    """Serve ``app`` over ASGI from a pool of ``threads`` worker threads.

    ``buffer_limit`` is how much of a known-length body is collected in the thread before it
    is streamed instead, and how far a stream may run ahead of the client (plus up to three of
    the app's blocks); ``file_block_size``
    is the smallest block ``wsgi.file_wrapper`` reads. ``concurrency`` calls run at once, more
    only while some have run longer than ``overflow_after`` seconds (see ``admission``);
    ``None`` lets all ``threads`` run at once, as a2wsgi does. A request body is received
    whole before the app is called, in memory up to ``body_spool_limit`` bytes and in a
    temporary file past that; one that stops arriving for ``body_timeout`` seconds is
    answered 408 and its connection closed; one over ``max_body`` bytes (``None``: no limit) is
    answered 413 before it is read. A streamed response whose client takes less than
    ``SEND_SLICE`` bytes in ``send_timeout`` seconds is abandoned and its connection closed, so a
    client that stops reading cannot keep a thread (gunicorn's sync worker is killed after its
    ``--timeout``).

    ``script_name`` is the path prefix the site is served under when the request path keeps it,
    as gunicorn takes ``SCRIPT_NAME`` from its environment: ``/app/x`` is ``SCRIPT_NAME`` ``/app``
    and ``PATH_INFO`` ``/x``, and a path outside it is answered 500 as gunicorn answers it. An
    ASGI ``root_path`` (a mount, ``uvicorn --root-path``) takes precedence over it.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        threads: int = 4,
        concurrency: int | None = 1,
        overflow_after: float = OVERFLOW_AFTER,
        buffer_limit: int = BUFFER_LIMIT,
        file_block_size: int = FILE_BLOCK_SIZE,
        body_timeout: float = BODY_TIMEOUT,
        body_spool_limit: int = BODY_SPOOL_LIMIT,
        max_body: int | None = None,
        send_timeout: float = SEND_TIMEOUT,
        script_name: str = "",
    ) -> None:
        if body_timeout <= 0 or body_spool_limit <= 0 or send_timeout <= 0:  # a zero spool limit would keep every body in memory
            raise ValueError(f"need body_timeout, body_spool_limit and send_timeout > 0, not {body_timeout=}, {body_spool_limit=}, "
                             f"{send_timeout=}")
        if max_body is not None and max_body < 0:
            raise ValueError(f"max_body must be None or at least 0, not {max_body}")
        if script_name and not script_name.startswith("/"):
            raise ValueError(f"script_name must be empty or start with '/', not {script_name!r}")
        self.app = app
        self.script_name = script_name.rstrip("/")
        self.admission = (
            Admission(limit=concurrency, ceiling=threads, overflow_after=overflow_after)
            if concurrency is not None and concurrency < threads
            else None
        )
        self.buffer_limit = buffer_limit
        self.body_timeout = body_timeout
        self.body_spool_limit = body_spool_limit
        self.max_body = max_body
        self.send_timeout = send_timeout
        self.file_wrapper = functools.partial(FileWrapper, min_block_size=file_block_size)
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="legacy-wsgi")
        self.spool_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="legacy-spool")  # started by the first big body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._serve(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})
        elif scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        body = RequestBody(scope, spool_limit=self.body_spool_limit, max_size=self.max_body)
        if not body.complete:
            try:
                await body.receive_all(receive, idle_timeout=self.body_timeout, writer=self.spool_writer)
            except IncompleteBody as exc:
                body.close()
                await _refuse(exc, scope, send)
                return
            except BaseException:
                body.close()
                raise
        call = _WSGICall(self, scope, body, loop)
        pump = None
        submitted = False
        try:
            if self.admission is not None:
                call.ticket = self.admission.queue()  # before the thread can ask for its turn
            try:
                self.executor.submit(run_in_thread_context, contextvars.copy_context(), call.run)
            except BaseException:
                if self.admission is not None and call.ticket is not None:
                    self.admission.unqueue(call.ticket)
                raise
            submitted = True  # the thread owns the body now, and closes it (and takes its turn: ``admission``)
            outcome = await call.outcome
            if outcome is None:
                return
            head = {"type": "http.response.start", "status": outcome.status, "headers": outcome.headers}
            if outcome.stream is None:  # whole: its thread is free already, whatever the client reads
                await send(head)
                await send({"type": "http.response.body", "body": outcome.body})
                return
            try:
                # A server's send waits while the client's window is full, the head's too (behind
                # an earlier pipelined answer): a client that reads nothing must not keep the
                # thread filling this stream.
                await _send_within(send, self.send_timeout, head)
                pump = loop.create_task(_watch_for_disconnect(receive, call.abandon))
                await outcome.stream.send_to(send, stall_timeout=self.send_timeout)
            except _ClientStalled:  # returning unfinished makes the server close the connection
                logger.warning("%s %s: the client took nothing of the response for %g s; abandoned", scope.get("method"),
                               scope.get("path"), self.send_timeout)
        finally:
            if not submitted:
                body.close()
            call.abandon()
            if pump is not None:
                pump.cancel()
