"""Every open guarded Gradio stream of a process, re-checked together.

A Gradio page holds streams open for as long as its tab is: the heartbeat, the results of
events (``queue/data``), upload progress. Each must end once its Django session no longer
holds its user (logout, password change, deactivation) or the user no longer passes the
page's rule. Re-checked one by one, every stream would look its session up every interval:
with thousands of open tabs, most of a CPU with nobody clicking, and the legacy pages beside
them waiting (bench/RESULTS.md, section j).

Here one task per process re-checks them in rounds, every ``interval`` seconds:

* one lookup per Django session per round, however many streams (tabs, pages) it holds, and
  one decision of each page's rule per session;
* a round's lookups one session per hand-off (``CHUNK``), spread over the interval;
* at most ``per_second`` lookups a second: past ``per_second * interval`` sessions with
  streams open, each round takes the sessions checked longest ago, so every session is still
  re-checked, every ``sessions / per_second`` seconds instead of every ``interval``;
* at most ``max_sessions_per_user`` Django sessions of one user with streams open (the
  ownership record's own budget): a user logging in again and again ends the streams of
  their own oldest session, and cannot stretch everyone else's re-check period.

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
from fastapi_gateway.pages.ownership import MAX_SESSIONS_PER_USER

__all__ = ["CHUNK", "PER_SECOND", "StreamWatch"]

logger = logging.getLogger("fastapi_gateway.pages.guard")  # its parts log as the guard (filtered: routing.log_redaction)

#: Session lookups a second one process spends on re-checking open streams: a few per cent
#: of a CPU at most.
PER_SECOND = 50.0
#: Sessions looked up in one hand-off to a lookup thread. One: a lookup holds the GIL for about
#: 0.7 ms here (``resolve_user``, SQLite), and a legacy page that arrives meanwhile waits for
#: it. Five to a hand-off made that wait 3.5 ms, which showed in the p99 of pages beside 2,000
#: open streams (+3.2 ms at one connection, 1.26x); a hand-off costs about a tenth of a lookup.
CHUNK = 1
#: A hand-off that takes longer (a lookup's own limit is 20 s; a page rule's query has none)
#: ends its streams, fail closed, and the round goes on.
CHECK_TIMEOUT_SECONDS = 30.0


@dataclass(eq=False)
class _Watched:
    user_pk: str
    access: PageAccess
    revoke: Callable[[], None]


class StreamWatch:
    def __init__(
        self, *, interval: float, per_second: float = PER_SECOND, max_sessions_per_user: int = MAX_SESSIONS_PER_USER
    ) -> None:
        if interval <= 0 or per_second <= 0 or max_sessions_per_user < 1:
            raise ValueError(f"need interval > 0, per_second > 0 and max_sessions_per_user >= 1, not "
                             f"{interval=}, {per_second=}, {max_sessions_per_user=}")
        self.interval = interval
        self.per_second = per_second
        self.max_sessions_per_user = max_sessions_per_user
        self._sessions: OrderedDict[str, set[_Watched]] = OrderedDict()  # checked longest ago first
        self._users: dict[str, OrderedDict[str, None]] = {}  # user -> their sessions, first watched first
        self._task: asyncio.Task[None] | None = None
        self.lookups = 0  # sessions looked up so far (for tests and operators)

    def __len__(self) -> int:
        return sum(len(streams) for streams in self._sessions.values())

    def watch(self, session_key: str, user_pk: str, access: PageAccess, revoke: Callable[[], None]) -> Any:
        """Call ``revoke`` once ``session_key`` no longer holds ``user_pk`` (or the user no
        longer passes ``access``); returns the handle to give ``unwatch`` when the stream ends."""
        watched = _Watched(user_pk, access, revoke)
        self._sessions.setdefault(session_key, set()).add(watched)
        sessions = self._users.setdefault(user_pk, OrderedDict())
        sessions[session_key] = None
        sessions.move_to_end(session_key)  # the session used last is kept, as the ownership record keeps it
        while len(sessions) > self.max_sessions_per_user:
            oldest = next(iter(sessions))
            logger.info("ending the Gradio streams of a user's oldest Django session: past their budget of sessions")
            self._end_session(oldest, user_pk)
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._run(), name="gateway: re-check open Gradio streams")
        return session_key, watched

    def unwatch(self, handle: Any) -> None:
        session_key, watched = handle
        streams = self._sessions.get(session_key)
        if streams is None:
            return
        streams.discard(watched)
        if not any(other.user_pk == watched.user_pk for other in streams):
            user_sessions = self._users.get(watched.user_pk)
            if user_sessions is not None:
                user_sessions.pop(session_key, None)
                if not user_sessions:
                    del self._users[watched.user_pk]
        if not streams:
            del self._sessions[session_key]

    def _end(self, session_key: str, watched: _Watched) -> None:
        self.unwatch((session_key, watched))
        watched.revoke()

    def _end_session(self, session_key: str, user_pk: str | None = None) -> None:
        """End the session's streams (of ``user_pk`` only, when given)."""
        for watched in list(self._sessions.get(session_key, ())):
            if user_pk is None or watched.user_pk == user_pk:
                self._end(session_key, watched)

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
                    for session_key in chunk:
                        self._end_session(session_key)

    async def _check(self, session_keys: list[str]) -> None:
        try:
            users = await run_lookup(_resolve_each, session_keys)
        except BackendUnavailable:  # the whole hand-off timed out: cannot tell, fail closed
            users = [None] * len(session_keys)
        self.lookups += len(session_keys)
        for session_key, user in zip(session_keys, users):
            decided: dict[tuple[str, int], bool] = {}  # each page's rule, once per session
            for watched in list(self._sessions.get(session_key, ())):
                key = (watched.user_pk, id(watched.access))  # a rule need not be hashable
                if key not in decided:
                    decided[key] = await _still_allowed(user, watched)
                if not decided[key]:
                    logger.info("ending a Gradio stream: the Django session no longer holds its user")
                    self._end(session_key, watched)


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
