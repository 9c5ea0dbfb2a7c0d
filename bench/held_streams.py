"""Gradio heartbeat streams held open on raw sockets, as open browser tabs hold them (section j).

Each stream is ``GET {mount}/gradio_api/heartbeat/<session_hash>`` with a tab's cookie: checked
open (200, ``text/event-stream``, its first ``ALIVE``), then read chunk by chunk so that one the
server ends (its last chunk, the connection kept alive) or lets fall silent is noticed.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from tests.gradio_protocol import new_session_hash

from .servers import RunningServer

__all__ = ["HeldStreams", "Stream"]

OPENING_AT_ONCE = 32  # connections being opened at a time: well inside the listen backlog
SILENT_SECONDS = 40.0  # Gradio writes every 15 s: a stream quiet this long is stuck


@dataclass
class Stream:
    session_hash: str
    cookie: str
    last_data: float = 0.0
    ended: str | None = None  # why it ended before the bench closed it
    task: asyncio.Task[None] | None = None


class HeldStreams:
    """Heartbeat streams held open on raw sockets by an event loop in a thread of its own, so
    the bench's own thread is free to run wrk and read memory while they stay open."""

    def __init__(self, server: RunningServer, *, mount: str, spread: float = 0.0) -> None:
        self.server = server
        self.mount = mount
        self.spread = spread  # each stream opens after a random delay up to this many seconds
        self.streams: list[Stream] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bench-streams", daemon=True)
        self._thread.start()

    def open_until(self, count: int, cookies: Sequence[str]) -> None:
        """Open streams until ``count`` are held, each checked open; the cookies taken in turn."""
        asyncio.run_coroutine_threadsafe(self._open_until(count, cookies), self._loop).result(timeout=300)

    def close(self) -> list[Stream]:
        """End every stream from the client side, as closing the tabs does; returns those that
        had ended, or fallen silent, before that."""
        now = time.monotonic()
        lost = [s for s in self.streams if s.ended is not None or now - s.last_data > SILENT_SECONDS]
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=120)
        self.streams = []
        return lost

    def shut_down(self) -> None:
        if self.streams:
            self.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    async def _open_until(self, count: int, cookies: Sequence[str]) -> None:
        slots = asyncio.Semaphore(OPENING_AT_ONCE)

        async def open_one(index: int) -> None:
            await asyncio.sleep(random.uniform(0, self.spread))
            async with slots:
                stream = Stream(new_session_hash(), cookies[index % len(cookies)] if cookies else "")
                opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                stream.task = asyncio.create_task(self._hold(stream, opened))
                self.streams.append(stream)
                await opened

        await asyncio.gather(*(open_one(index) for index in range(len(self.streams), count)))

    async def _close(self) -> None:
        tasks = [s.task for s in self.streams if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _hold(self, stream: Stream, opened: asyncio.Future[None]) -> None:
        where = f"{self.server.name} {self.mount}/gradio_api/heartbeat/{stream.session_hash}"
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.server.port)
        except OSError as exc:
            opened.set_exception(RuntimeError(f"{where}: could not connect: {exc!r}"))
            return
        try:
            writer.write(self._request(stream))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
            lowered = head.lower()
            if not lowered.startswith(b"http/1.1 200 ") or b"text/event-stream" not in lowered or b"chunked" not in lowered:
                body = await asyncio.wait_for(reader.read(500), 5)
                raise RuntimeError((head + body).decode(errors="replace")[:600])
            await asyncio.wait_for(_until_alive(reader), 60)
            stream.last_data = time.monotonic()
            opened.set_result(None)
            # The response ends with its last chunk, and the connection may stay open after
            # it (keep-alive): the end is the empty chunk, not the socket's end.
            while await _chunk(reader):
                stream.last_data = time.monotonic()
            stream.ended = "the server ended it"
        except (OSError, RuntimeError, TimeoutError, ValueError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError) as exc:
            if opened.done():
                stream.ended = repr(exc)
            else:
                opened.set_exception(RuntimeError(f"{where}: {exc}"))
        finally:
            writer.close()

    def _request(self, stream: Stream) -> bytes:
        lines = [
            f"GET {self.mount}/gradio_api/heartbeat/{stream.session_hash} HTTP/1.1",
            f"Host: 127.0.0.1:{self.server.port}",
            "Accept: text/event-stream",
            "Cache-Control: no-cache",
            f"Origin: {self.server.url}",
            f"Referer: {self.server.url}{self.mount}/",
            *([f"Cookie: {stream.cookie}"] if stream.cookie else []),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _chunk(reader: asyncio.StreamReader) -> bytes:
    """The next chunk of a chunked HTTP/1.1 body; empty at the body's end (the last chunk)."""
    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
    return (await reader.readexactly(size + 2))[:size] if size else b""


async def _until_alive(reader: asyncio.StreamReader) -> None:
    received = b""
    while b"ALIVE" not in received:
        chunk = await _chunk(reader)
        if not chunk:
            raise RuntimeError("the stream ended before Gradio's first ALIVE")
        received += chunk
