"""Wrappers around an ASGI request's two channels, shared by the gateway's middleware.

``ResponseTracker`` watches what has been sent, so an error can still be answered properly
before the response started and is re-raised (ending the connection) after. ``read_body``
and ``replay_body`` let a middleware look at a request body and still hand it on intact,
with the client's own channel behind it so a disconnect remains visible.
"""

from __future__ import annotations

from starlette.types import Message, Receive, Send

__all__ = ["ResponseTracker", "read_body", "replay_body"]


class ResponseTracker:
    """A ``send`` that records whether the response has started and finished, and its status."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status: int | None = None
        self.finished = False

    @property
    def started(self) -> bool:
        return self.status is not None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.finished = True
        await self._send(message)

    async def finish(self) -> None:
        """End a started response cleanly (an empty last chunk), once."""
        if self.started and not self.finished:
            await self({"type": "http.response.body", "body": b"", "more_body": False})


async def read_body(receive: Receive, *, limit: int | None = None) -> bytes:
    """The whole request body. Raises ``ConnectionAbortedError`` if the client left half-way,
    ``OverflowError`` past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError("the client disconnected before the end of the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            raise OverflowError(f"request body over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out ``body`` once, then defers to the client's channel."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
