"""How many Django calls the bridge lets run at once: one, unless the one running is stuck.

Django views are mostly CPU under the GIL. Several of them started together in a process's
worker threads do not finish sooner; they take turns every switch interval, each needs more
GIL time than alone (caches evicted, locks contended) and every one of them finishes late
(bench/RESULTS.md measures it). One thread only, though, is gunicorn's weakness too: a view
waiting on a slow query or a remote API holds up every page of the process.

So calls are admitted one at a time (``limit``), in arrival order, and one more is let in each
time the oldest running call has held its turn for ``overflow_after`` seconds (it is waiting on
I/O, or it is simply slow), up to ``ceiling`` (the thread pool's size). A call gives its turn
back as soon as its response head is on its way: a long download streams in its thread
without holding anyone up.

Arrival order is the order in which the loop hands calls to the pool (``queue()`` gives each a
ticket): the pool's threads take them in that order, but the second thread can reach the gate
a few microseconds before the first, and would have gone first.

The turns are taken and given back in the worker threads themselves, not on the event loop:
the thread that finishes a page wakes the next call's thread directly, and that call starts
while the loop sends the finished page. Taken on the loop, each hand-over waited for the
loop to wake, settle the finished call and submit the next one to the pool: a gap of the
loop's making between two pages, in which Django ran nothing. And a turn given back wakes the
thread it goes to, not every waiting thread: each wake-up is a thread switch and a wait for
the GIL, taken from the Django call running (at 16 connections the pool's threads switched
9-12 times a page when all were woken, 5-7 times since).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["Admission", "QuietWindow", "legacy_calls_started", "legacy_idle", "legacy_last_active", "on_legacy_call"]

logger = logging.getLogger("fastapi_gateway.legacy.bridge")  # the page's path: filtered as the bridge's (routing.log_redaction)
_GATES: weakref.WeakSet[Admission] = weakref.WeakSet()
RECENT_SECONDS = 0.005  # a Django call started or ended this recently: pages are arriving back to back
ARRIVAL_WAIT = 0.05  # seconds a call waits at the gate for an earlier ticket's thread to arrive


_ON_CALL: list[Callable[[], None]] = []  # called as each Django call is handed over


def on_legacy_call(hook: Callable[[], None]) -> Callable[[], None]:
    """Have ``hook()`` called each time a Django call is handed to a bridge that takes turns,
    from the thread and context that hand it over (the event loop's: an ASGI request's task),
    until the function returned is called. For background work that competes with pages and
    can stop (a shadow comparison): the page must not wait for it. A hook must be quick, and
    not raise: it runs in the page's path."""
    _ON_CALL.append(hook)

    def remove() -> None:
        try:
            _ON_CALL.remove(hook)
        except ValueError:
            pass

    return remove


def legacy_idle() -> bool:
    """Whether no Django call of this process is running or waiting for its turn (every bridge).

    What background work that competes with pages (shadow comparisons, the collector's walk)
    waits for: a page that arrives while one runs waits behind it. Only bridges that take turns
    are seen (``concurrency`` below ``threads``, the default); one that lets all its threads run
    at once has no gate, and its calls show only in the CPU the process uses."""
    return not any(gate.running or gate.waiting or gate.queued for gate in list(_GATES))


def legacy_calls_started() -> int:
    """How many Django calls this process has handed to its bridges so far (every bridge that
    takes turns, as ``legacy_idle()``): a count for tests and operators. Background work asks
    ``QuietWindow``, which reads when one last started or ended (``legacy_last_active``)."""
    return sum(gate.started for gate in list(_GATES))


def legacy_last_active() -> float:
    """When (``time.monotonic()``) a Django call was last handed to a bridge or gave its turn
    back, whichever is later; 0 for never."""
    return max((gate.last_active for gate in list(_GATES)), default=0.0)


class QuietWindow:
    """A stretch of time, opened now, over which background work that competes with pages
    (shadow comparisons, the collector's walk) judges whether this process stayed quiet.

    ``was_quiet`` at its end: the wait ended within ``late_wake`` of ``window`` (a later wake-up
    means threads queuing for the GIL, or a starved machine, where the CPU share alone would
    look low), the process's threads together used under ``cpu_share`` of a CPU, no Django call
    runs or waits for its turn (``legacy_idle``), and none started or ended in the last
    ``RECENT_SECONDS`` (one client's back-to-back pages start a call within a millisecond of
    the last one's end, and a page that took longer than that started before it; a whole
    window with no call started at all was rare at moderate load, and a shadow rollout's step
    waited for comparisons it never got)."""

    __slots__ = ("cpu", "wall")

    def __init__(self) -> None:
        self.cpu, self.wall = time.process_time(), time.monotonic()

    def was_quiet(self, window: float, *, cpu_share: float, late_wake: float) -> bool:
        now = time.monotonic()
        elapsed = now - self.wall
        return (elapsed - window < late_wake and time.process_time() - self.cpu < cpu_share * elapsed
                and legacy_idle() and now - legacy_last_active() >= RECENT_SECONDS)


class Admission:
    """A FIFO gate for the bridge's worker threads.

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
        self._lock = threading.Lock()
        self._fresh: OrderedDict[object, float] = OrderedDict()  # token -> admitted at, oldest first
        self._stuck: set[object] = set()
        self._waiting: deque[object] = deque()  # tokens in threads waiting for their turn, first first
        # Each waiting token's ticket (inf: none given) and its own condition, on the one lock.
        self._waiters: dict[object, tuple[float, threading.Condition]] = {}
        self._queued = 0  # calls handed to the pool whose thread has not asked for its turn yet
        self._arrived_below = 0  # every ticket below this has reached the gate (or never will)
        self._early: set[int] = set()  # tickets at the gate before an earlier one
        self.overflows = 0  # calls that outlived overflow_after while others waited (for tests and operators)
        self.started = 0  # calls handed to the pool so far
        self.last_active = 0.0  # when (time.monotonic()) a call was last handed over or gave its turn back
        _GATES.add(self)

    @property
    def running(self) -> int:
        return len(self._fresh) + len(self._stuck)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def queued(self) -> int:
        return self._queued

    def queue(self) -> int:
        """A call is handed to the pool (loop side): it counts as waiting from now on, before
        its thread gets to ``enter``, which every call handed over does. Returns its ticket,
        its place in arrival order, for ``enter`` (or ``unqueue``)."""
        with self._lock:
            self._queued += 1
            ticket = self.started
            self.started += 1
            self.last_active = time.monotonic()
        for hook in tuple(_ON_CALL) if _ON_CALL else ():
            try:
                hook()
            except Exception:  # noqa: BLE001 - background work's hook must not fail the page
                logger.exception("a hook on legacy calls failed; the page goes on")
        return ticket

    def unqueue(self, ticket: int) -> None:
        """The pool refused the call ``ticket`` was given to (it is shutting down): no thread will ``enter``."""
        with self._lock:
            self._queued = max(0, self._queued - 1)
            self._arrive(ticket)

    def enter(self, token: object, *, ticket: int | None = None, abandoned: Callable[[], bool] = lambda: False) -> bool:
        """Block this worker thread until ``token``'s turn; False (and no turn taken) when
        ``abandoned()`` says, on waking, that nobody waits for the call any more.

        With the ``ticket`` from ``queue()``, turns follow the tickets: a thread that reaches
        the gate before the thread of an earlier ticket waits for it (``ARRIVAL_WAIT`` at most:
        a ticket whose thread never comes must not stop the others). A call without one (that
        was never ``queue()``d) lines up behind every call with one."""
        with self._lock:
            self._queued = max(0, self._queued - 1)
            if ticket is not None:
                self._arrive(ticket)
            if abandoned():  # cancelled while it waited for a thread: Django never sees it
                return False
            place: float = math.inf if ticket is None else ticket
            if not self._waiting and self._has_room() and self._earlier_arrived(place):
                self._fresh[token] = time.monotonic()
                return True
            waker = self._line_up(token, place)
            arrived_at = time.monotonic()
            try:
                while True:
                    if abandoned():
                        return False
                    now = time.monotonic()
                    if not self._earlier_arrived(place) and now - arrived_at >= ARRIVAL_WAIT:
                        self._give_up_arrivals_below(int(place))  # an earlier ticket's thread is lost: go on without it
                    if self._waiting[0] is token and self._earlier_arrived(place):
                        self._unstick(now)
                        if self._has_room():
                            self._fresh[token] = time.monotonic()
                            return True
                    # Woken one at a time, the first in line, when a turn is given back (not all of
                    # them at each turn: each wake-up is a thread switch and a wait for the GIL),
                    # or when the oldest call may be stuck, or an earlier ticket is overdue.
                    waker.wait(self._next_wake(place, arrived_at))
            finally:
                self._waiting.remove(token)
                del self._waiters[token]
                if token not in self._fresh or self._has_room():
                    self._wake_first()  # the next in line may take the turn this one left or did not take

    def leave(self, token: object) -> None:
        """Give ``token``'s turn back (idempotent); the next call's thread wakes."""
        with self._lock:
            if self._fresh.pop(token, None) is None:
                if token not in self._stuck:
                    return
                self._stuck.discard(token)
            self.last_active = time.monotonic()
            self._wake_first()

    def wake(self) -> None:
        """Have the waiting threads look again (one of them may have been abandoned)."""
        with self._lock:
            for _, waker in self._waiters.values():
                waker.notify()

    def _earlier_arrived(self, place: float) -> bool:
        """Whether every ticket before ``place`` has reached the gate (always, without a ticket)."""
        return place == math.inf or place < self._arrived_below

    def _arrive(self, ticket: int) -> None:
        if ticket < self._arrived_below:
            return  # given up on already
        self._early.add(ticket)
        while self._arrived_below in self._early:
            self._early.remove(self._arrived_below)
            self._arrived_below += 1
        self._wake_first()  # it may have waited for this one

    def _give_up_arrivals_below(self, ticket: int) -> None:
        self._early = {early for early in self._early if early > ticket}
        self._arrived_below = ticket + 1
        while self._arrived_below in self._early:
            self._early.remove(self._arrived_below)
            self._arrived_below += 1
        self._wake_first()

    def _wake_first(self) -> None:
        if self._waiting:
            self._waiters[self._waiting[0]][1].notify()

    def _line_up(self, token: object, place: float) -> threading.Condition:
        """Into the waiting line in ticket order (behind every token with a lower one); returns
        the condition it waits on."""
        waker = threading.Condition(self._lock)
        self._waiters[token] = (place, waker)
        index = len(self._waiting)
        while index and self._waiters[self._waiting[index - 1]][0] > place:
            index -= 1
        self._waiting.insert(index, token)
        return waker

    def _next_wake(self, place: float, arrived_at: float) -> float:
        overflow = self._next_overflow()
        arrival = self._arrival_wait(place, arrived_at)
        return overflow if arrival is None else min(overflow, arrival)

    def _arrival_wait(self, place: float, arrived_at: float) -> float | None:
        """Seconds until an earlier ticket's thread is overdue (None: all have arrived)."""
        if self._earlier_arrived(place):
            return None
        return max(0.001, arrived_at + ARRIVAL_WAIT - time.monotonic())

    def _has_room(self) -> bool:
        return len(self._fresh) < self.limit and self.running < self.ceiling

    def _unstick(self, now: float) -> None:
        deadline = now - self.overflow_after
        while self._fresh:
            token, admitted_at = next(iter(self._fresh.items()))
            if admitted_at > deadline:
                break
            del self._fresh[token]
            self._stuck.add(token)
            self.overflows += 1

    def _next_overflow(self) -> float:
        """Seconds until the oldest fresh call becomes stuck. With none, a whole ``overflow_after``:
        a call admitted while this thread sleeps (the one before it in line, say, which wakes no
        one as it takes its turn) is stuck no sooner, and the sleeper looks again by then."""
        oldest = next(iter(self._fresh.values()), None)
        return self.overflow_after if oldest is None else max(0.001, oldest + self.overflow_after - time.monotonic())
