"""How many Django calls the bridge lets run at once: one, unless the one running is stuck.

Django views are mostly CPU under the GIL. Several of them started together in a process's
worker threads do not finish sooner; they take turns every switch interval, each needs more
GIL time than alone (caches evicted, locks contended) and every one of them finishes late:
with 4 threads the gateway served 0.72-0.78x gunicorn's sync worker and with 1 thread
0.87-0.93x (bench/RESULTS.md). One thread only, though, is gunicorn's weakness too: a view
waiting 2 s on a slow query or a remote API holds up every page of the process.

So calls are admitted one at a time (``limit``), in arrival order, and a watchdog lets one more
in each time the oldest running call has held its turn for ``overflow_after`` seconds (it is
waiting on I/O, or it is simply slow), up to ``ceiling`` (the thread pool's size). A call gives
its turn back as soon as its response head is on its way: a long download streams in its
thread without holding anyone up.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import OrderedDict, deque

__all__ = ["Admission", "legacy_idle"]

_GATES: weakref.WeakSet[Admission] = weakref.WeakSet()


def legacy_idle() -> bool:
    """Whether no Django call of this process is running or waiting for its turn (every bridge).

    What background work that competes with pages (shadow comparisons) waits for: a page that
    arrives while one runs waits behind it."""
    return not any(gate.running or gate._waiting for gate in _GATES)


class Admission:
    """A FIFO gate for the bridge, used from the event loop only.

    A call admitted more than ``overflow_after`` seconds ago is *stuck*: it stops counting
    against ``limit`` (it still counts against ``ceiling``), so one slow view costs the others
    one ``overflow_after`` of waiting, once, and never throttles them afterwards.
    """

    def __init__(self, *, limit: int, ceiling: int, overflow_after: float) -> None:
        if limit < 1 or ceiling < limit or overflow_after <= 0:
            raise ValueError(f"need 1 <= limit <= ceiling and overflow_after > 0, not {limit=}, {ceiling=}, {overflow_after=}")
        self.limit = limit
        self.ceiling = ceiling
        self.overflow_after = overflow_after
        self._fresh: OrderedDict[object, float] = OrderedDict()  # token -> admitted at, oldest first
        self._stuck: set[object] = set()
        self._waiting: deque[tuple[object, asyncio.Future[None]]] = deque()
        self._watchdog: asyncio.TimerHandle | None = None
        self.overflows = 0  # calls that outlived overflow_after while others waited (for tests and operators)
        _GATES.add(self)

    @property
    def running(self) -> int:
        return len(self._fresh) + len(self._stuck)

    def _has_room(self) -> bool:
        return len(self._fresh) < self.limit and self.running < self.ceiling

    async def enter(self, token: object) -> None:
        """Wait for ``token``'s turn; on cancellation the turn is never taken (or given back)."""
        if not self._waiting and self._has_room():
            self._fresh[token] = time.monotonic()
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append((token, turn))
        self._arm()
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.leave(token)  # admitted just as it was cancelled
            else:
                self._waiting = deque(entry for entry in self._waiting if entry[0] is not token)
            raise

    def leave(self, token: object) -> None:
        """Give ``token``'s turn back (idempotent) and admit whoever is next."""
        if self._fresh.pop(token, None) is None:
            if token not in self._stuck:
                return
            self._stuck.discard(token)
        self._admit_while_room()

    def _admit_while_room(self) -> None:
        while self._waiting and self._has_room():
            token, turn = self._waiting.popleft()
            self._fresh[token] = time.monotonic()
            turn.set_result(None)

    def _arm(self) -> None:
        if self._watchdog is not None:
            return
        loop = asyncio.get_running_loop()
        oldest = next(iter(self._fresh.values()), None)
        delay = self.overflow_after if oldest is None else max(0.0, oldest + self.overflow_after - time.monotonic())
        self._watchdog = loop.call_later(delay, self._check)

    def _check(self) -> None:
        self._watchdog = None
        if not self._waiting:
            return
        deadline = time.monotonic() - self.overflow_after
        while self._fresh:
            token, admitted_at = next(iter(self._fresh.items()))
            if admitted_at > deadline:
                break
            del self._fresh[token]
            self._stuck.add(token)
            self.overflows += 1
        self._admit_while_room()
        if self._waiting:
            self._arm()
