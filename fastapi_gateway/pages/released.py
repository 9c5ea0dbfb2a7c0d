"""Gradio session hashes the ownership record let go of, until nothing of them is left.

The record keeps a login's newest Gradio sessions (``ownership``); what it lets go of, Gradio
must forget too, or one user's tabs would cost everyone's memory and a freed hash would hand
its state to whoever took it next. But a session is not gone while something still works on
it: an event queued or running in Gradio's queue, a request of its old owner between the
guard and Gradio (a ``queue/join`` not yet registered, a ``run`` call still running), a
stream its old tab still reads. Whatever that work writes next would reach the new holder.

So a released hash is nobody else's to take while any of that goes on, on any page; once it
has stopped, what Gradio kept of it is forgotten before the next holder starts. Gradio's
queue lives on the event loop: a release that happens in a worker thread (a file Gradio
writes for an event is recorded there) is forgotten on the loop.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from fastapi_gateway.compat import forget_gradio_session, forget_gradio_upload, gradio_session_busy
from fastapi_gateway.pages.ownership import Kind, Owner, OwnershipRegistry

__all__ = ["ReleasedSessions"]

#: Released sessions whose events still ran when they were let go of, kept to be finished later.
UNFINISHED_KEPT = 10_000
#: Of those, how many one release looks at again (bounded work per request).
FORGET_PER_CALL = 16


class ReleasedSessions:
    def __init__(self, pages: Mapping[str, Any], registry: OwnershipRegistry) -> None:
        self.pages = pages
        self.registry = registry
        self.loop: asyncio.AbstractEventLoop | None = None  # the guard's, known from its first request
        self._unfinished: OrderedDict[str, None] = OrderedDict()
        self._in_flight: dict[str, Counter[Owner]] = {}  # session hash -> owners of requests on it

    def released(self, kind: Kind, identifier: str) -> None:
        """The registry's ``on_release``: Gradio forgets the session or upload, on the loop."""
        loop = self.loop
        if loop is not None and not _running_on(loop):
            loop.call_soon_threadsafe(self._forget, kind, identifier)
        else:
            self._forget(kind, identifier)

    @contextmanager
    def in_flight(self, session_hash: str | None, owner: Owner) -> Iterator[None]:
        """Mark a request of ``owner`` on ``session_hash`` from its checks until Gradio is done
        with it (a stream: until it ends)."""
        if session_hash is None:
            yield
            return
        owners = self._in_flight.setdefault(session_hash, Counter())
        owners[owner] += 1
        try:
            yield
        finally:
            owners[owner] -= 1
            if owners[owner] <= 0:
                del owners[owner]
            if not owners:
                self._in_flight.pop(session_hash, None)

    def may_take(self, session_hash: str, owner: Owner) -> bool:
        """Whether ``owner`` may claim a hash nobody holds; if so, Gradio has forgotten all it
        kept of it, and the new holder starts from nothing."""
        if any(other != owner for other in self._in_flight.get(session_hash, ())) or self._busy(session_hash):
            return False
        self._forget_session(session_hash)  # with its owner's own stream still open, the queue's records stay
        return True

    def _forget(self, kind: Kind, identifier: str) -> None:
        if kind == "upload":
            forget_gradio_upload(identifier)
        elif kind == "session":
            # Taken again between a worker thread's release and now: the new holder's, not ours.
            if not self.registry.held("session", identifier):
                self._forget_session(identifier)
            self._forget_unfinished()

    def _forget_session(self, session_hash: str) -> None:
        idle = session_hash not in self._in_flight
        finished = all([forget_gradio_session(gradio_app, session_hash, queue_too=idle) for gradio_app in self.pages.values()])
        if finished:
            self._unfinished.pop(session_hash, None)
            return
        self._unfinished[session_hash] = None
        self._unfinished.move_to_end(session_hash)
        if len(self._unfinished) > UNFINISHED_KEPT:
            self._unfinished.popitem(last=False)

    def _forget_unfinished(self) -> None:
        """Look again at a few of the oldest; those still busy go to the back of the line."""
        for session_hash in list(itertools.islice(self._unfinished, FORGET_PER_CALL)):
            if self.registry.held("session", session_hash):
                self._unfinished.pop(session_hash, None)  # someone took it since: forgotten then
            elif self._busy(session_hash) or session_hash in self._in_flight:
                self._unfinished.move_to_end(session_hash)
            else:
                self._forget_session(session_hash)

    def _busy(self, session_hash: str) -> bool:
        return any(gradio_session_busy(gradio_app, session_hash) for gradio_app in self.pages.values())


def _running_on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:  # a worker thread
        return False
