"""Every open guarded Gradio stream of a process, re-checked together.

A Gradio page holds streams open for as long as its tab is: the heartbeat, the results of
events (``queue/data``), upload progress. Each must end once its Django session no longer
holds its user (logout, password change, deactivation) or the user no longer passes the
page's rule. Re-checked one by one, every stream looked up its session every interval: 2,000
open tabs were 1,000 lookups a second, three quarters of a CPU with nobody clicking, and the
legacy pages beside them went from 9 ms to 488 ms at p99 (bench/RESULTS.md, section j).

Here one task per process re-checks them in rounds, every ``interval`` seconds:

* one lookup per Django session per round, however many streams (tabs, pages) it holds;
* a round's lookups in hand-offs of ``CHUNK`` sessions, spread over the interval;
* at most ``per_second`` lookups a second: past ``per_second * interval`` sessions with
  streams open, each round takes the sessions checked longest ago, so every session is still
  re-checked, every ``sessions / per_second`` seconds instead of every ``interval``.

What a stream can carry is bounded by what was admitted: every new event is a ``queue/join``,
looked up when it arrives on every process, so a re-check only decides how long an already
admitted result or a heartbeat may go on arriving.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

from fastapi_gateway.exceptions import BackendUnavailable
from fastapi_gateway.identity.lookup_threads import run_lookup
from fastapi_gateway.identity.session import resolve_user
from fastapi_gateway.pages.access import PageAccess

__all__ = ["CHUNK", "PER_SECOND", "StreamWatch"]

logger = logging.getLogger("fastapi_gateway.pages.guard")  # its parts log as the guard (filtered: routing.log_redaction)

#: Session lookups a second one process spends on re-checking open streams (about 0.65 ms
#: each: 3 % of a CPU at most).
PER_SECOND = 50.0
#: Sessions looked up in one hand-off to a lookup thread: a round's are spread over its
#: interval in hand-offs of this many (about 3 ms of work each, a page's worth), where one
#: hand-off of a whole round held the GIL up to 65 ms at a time, legacy pages waiting behind it.
CHUNK = 5
#: A hand-off that takes longer (a lookup's own limit is 20 s; a page rule's query has none)
#: ends its streams, fail closed, and the round goes on.
CHECK_TIMEOUT_SECONDS = 30.0


@dataclass(eq=False)
class _Watched:
    user_pk: str
    access: PageAccess
    revoke: Callable[[], None]


class StreamWatch:
    def __init__(self, *, interval: float, per_second: float = PER_SECOND) -> None:
        if interval <= 0 or per_second <= 0:
            raise ValueError(f"need interval > 0 and per_second > 0, not {interval=}, {per_second=}")
        self.interval = interval
        self.per_second = per_second
        self._sessions: OrderedDict[str, set[_Watched]] = OrderedDict()  # checked longest ago first
        self._task: asyncio.Task[None] | None = None
        self.lookups = 0  # sessions looked up so far (for tests and operators)

    def __len__(self) -> int:
        return sum(len(streams) for streams in self._sessions.values())

    def watch(self, session_key: str, user_pk: str, access: PageAccess, revoke: Callable[[], None]) -> Any:
        """Call ``revoke`` once ``session_key`` no longer holds ``user_pk`` (or the user no
        longer passes ``access``); returns the handle to give ``unwatch`` when the stream ends."""
        watched = _Watched(user_pk, access, revoke)
        self._sessions.setdefault(session_key, set()).add(watched)
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._run(), name="gateway: re-check open Gradio streams")
        return session_key, watched

    def unwatch(self, handle: Any) -> None:
        session_key, watched = handle
        streams = self._sessions.get(session_key)
        if streams is not None:
            streams.discard(watched)
            if not streams:
                del self._sessions[session_key]

    async def _run(self) -> None:
        while self._sessions:
            batch = list(itertools.islice(self._sessions, max(1, int(self.per_second * self.interval))))
            for session_key in batch:
                self._sessions.move_to_end(session_key)
            chunks = [batch[start:start + CHUNK] for start in range(0, len(batch), CHUNK)]
            for chunk in chunks:  # spread over the round: never more than a page's worth of work at once
                await asyncio.sleep(self.interval / len(chunks))
                try:
                    with anyio.fail_after(CHECK_TIMEOUT_SECONDS):  # a hung query must not stop every re-check
                        await self._check(chunk)
                except Exception:  # noqa: BLE001 - the task re-checks every stream: it must not die
                    logger.exception("re-checking open Gradio streams failed; ending the streams of this batch")
                    self._revoke_all(chunk)

    async def _check(self, session_keys: list[str]) -> None:
        try:
            users = await run_lookup(_resolve_each, session_keys)
        except BackendUnavailable:  # the whole hand-off timed out: cannot tell, fail closed
            users = [None] * len(session_keys)
        self.lookups += len(session_keys)
        for session_key, user in zip(session_keys, users):
            for watched in list(self._sessions.get(session_key, ())):
                if not await _still_allowed(user, watched):
                    logger.info("ending a Gradio stream: the Django session no longer holds its user")
                    self.unwatch((session_key, watched))
                    watched.revoke()

    def _revoke_all(self, session_keys: list[str]) -> None:
        for session_key in session_keys:
            for watched in list(self._sessions.get(session_key, ())):
                self.unwatch((session_key, watched))
                watched.revoke()


def _resolve_each(session_keys: list[str]) -> list[Any]:
    """Each session's user, or None where the store could not say (fail closed)."""
    users: list[Any] = []
    for session_key in session_keys:
        try:
            users.append(resolve_user(session_key))
        except BackendUnavailable:
            users.append(None)
    return users


async def _still_allowed(user: Any, watched: _Watched) -> bool:
    if user is None or not user.is_authenticated or str(getattr(user, "pk", None)) != watched.user_pk:
        return False
    try:
        return not watched.access.restricted or await watched.access.aallows(user)
    except BackendUnavailable:
        return False  # cannot tell whether the page's rule still lets the user in: fail closed
    except Exception:  # noqa: BLE001 - a page rule's bug ends that stream, not the others' re-checks
        logger.exception("a Gradio page's access rule failed on an open stream; ending the stream")
        return False
