"""The bridge runs one Django call at a time, unless the one running is stuck.

Driven by raw ASGI calls against ``WSGIBridge`` (helpers from ``test_wsgi_bridge``) and by
``Admission`` on its own; no database.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fastapi_gateway.legacy import admission
from fastapi_gateway.legacy.admission import Admission, legacy_calls_started, legacy_idle, legacy_last_active, on_legacy_call
from fastapi_gateway.legacy.bridge import WSGIBridge

from tests.gateway.legacy.test_bridge import Environ, StartResponse, body_of, call, http_scope, status_of


class Overlap:
    """A WSGI app that records how many of its calls run at once; ``/slow`` sleeps 1 s."""

    def __init__(self, work: float = 0.005) -> None:
        self.work = work
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.stream_may_end = threading.Event()
        self.order: list[str] = []

    def __call__(self, environ: Environ, start_response: StartResponse) -> Any:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.order.append(environ["QUERY_STRING"])
        try:
            time.sleep(1.0 if environ["PATH_INFO"] == "/slow" else self.work)
            if environ["PATH_INFO"] == "/stream":
                start_response("200 OK", [("Content-Type", "text/plain")])
                return self._stream()
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        finally:
            with self.lock:
                self.now -= 1

    def _stream(self) -> Iterator[bytes]:
        yield b"first"
        self.stream_may_end.wait(10)
        yield b"last"


async def test_fast_calls_run_one_at_a_time_in_arrival_order(monkeypatch: pytest.MonkeyPatch) -> None:
    app = Overlap()
    # No call outlives the overflow limit, nor gives up on an earlier ticket's thread, however
    # slow the machine: only the gate is at work.
    monkeypatch.setattr(admission, "ARRIVAL_WAIT", 30.0)
    bridge = WSGIBridge(app, threads=4, overflow_after=30)
    answers = await asyncio.gather(*(call(bridge, http_scope("/fast", query=str(n).encode())) for n in range(12)))
    assert [status_of(a) for a in answers] == [200] * 12
    assert app.most == 1
    assert app.order == [str(n) for n in range(12)]
    assert bridge.admission is not None and bridge.admission.overflows == 0 and bridge.admission.running == 0


async def test_without_the_gate_calls_interleave() -> None:
    """The control for the test above: ``concurrency=None`` is a2wsgi's behaviour."""
    app = Overlap()
    bridge = WSGIBridge(app, threads=4, concurrency=None)
    await asyncio.gather(*(call(bridge, http_scope("/fast")) for _ in range(12)))
    assert app.most > 1


async def test_a_slow_view_costs_the_others_one_overflow_delay_not_its_duration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admission, "ARRIVAL_WAIT", 30.0)  # the slow call's thread goes first, however late it starts
    app = Overlap()
    bridge = WSGIBridge(app, threads=4, overflow_after=0.05)
    slow = asyncio.create_task(call(bridge, http_scope("/slow")))
    await asyncio.sleep(0.01)
    fast = await asyncio.gather(*(call(bridge, http_scope("/fast")) for _ in range(10)))
    assert [body_of(a) for a in fast] == [b"ok"] * 10
    assert not slow.done(), "the fast calls waited for the slow one"
    # The stuck call overflowed, and the ten ran beside it (one after another, unless a
    # stall of the machine made one of them look stuck too).
    assert bridge.admission is not None and bridge.admission.overflows >= 1
    assert 2 <= app.most <= 4
    assert status_of(await slow) == 200


async def test_stuck_calls_never_exceed_the_thread_pool() -> None:
    app = Overlap()
    bridge = WSGIBridge(app, threads=2, overflow_after=0.02)
    answers = await asyncio.gather(*(call(bridge, http_scope("/slow")) for _ in range(3)))
    assert [status_of(a) for a in answers] == [200] * 3
    assert app.most == 2


async def test_a_streaming_response_gives_its_turn_back_when_its_head_is_out() -> None:
    app = Overlap()
    bridge = WSGIBridge(app, threads=4, overflow_after=30)  # no overflow could explain a fast answer
    first_chunk = asyncio.Event()

    async def on_send(message: dict[str, Any]) -> None:
        if message.get("body") == b"first":
            first_chunk.set()

    stream = asyncio.create_task(call(bridge, http_scope("/stream"), on_send=on_send))
    await asyncio.wait_for(first_chunk.wait(), 5)
    fast = await asyncio.wait_for(call(bridge, http_scope("/fast")), 2)
    assert body_of(fast) == b"ok" and not stream.done()
    app.stream_may_end.set()
    assert body_of(await stream) == b"firstlast"
    assert bridge.admission is not None and bridge.admission.running == 0


def _in_thread(gate: Admission, token: object, **kwargs: Any) -> tuple[threading.Thread, list[bool]]:
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(gate.enter(token, **kwargs)), daemon=True)
    thread.start()
    return thread, result


def test_an_abandoned_waiter_takes_no_turn_with_it() -> None:
    gate = Admission(limit=1, ceiling=4, overflow_after=30)
    first, second, third = object(), object(), object()
    assert gate.enter(first)
    gone = threading.Event()
    waiter, entered = _in_thread(gate, second, abandoned=gone.is_set)
    _until(lambda: gate.waiting == 1)
    assert gate.running == 1
    gone.set()
    gate.wake()
    waiter.join(2)
    assert entered == [False] and gate.waiting == 0 and gate.running == 1
    gate.leave(first)
    assert not gate.enter(object(), abandoned=lambda: True), "cancelled while it waited for a thread: no turn"
    assert gate.enter(third)
    assert gate.running == 1
    gate.leave(third)
    gate.leave(third)  # idempotent
    assert gate.running == 0


async def test_a_call_handed_to_the_pool_counts_as_waiting_before_its_thread_starts() -> None:
    """Background work (shadow comparisons) starts only while no Django call runs or waits: a
    call whose thread has not started yet is one that waits, or a shadow slips in before it."""
    gate = Admission(limit=1, ceiling=4, overflow_after=30)
    ticket = gate.queue()
    assert gate.queued == 1 and not legacy_idle()
    token = object()
    assert gate.enter(token, ticket=ticket)
    assert gate.queued == 0 and gate.running == 1 and not legacy_idle()
    gate.leave(token)
    assert legacy_idle()
    # Through the bridge: every call handed over is counted, and counted out.
    bridge = WSGIBridge(Overlap(), threads=4, overflow_after=30)
    answers = await asyncio.gather(*(call(bridge, http_scope("/fast")) for _ in range(6)))
    assert [status_of(a) for a in answers] == [200] * 6
    assert bridge.admission is not None and bridge.admission.queued == 0 and legacy_idle()


async def test_every_call_handed_to_a_bridge_is_counted_as_started() -> None:
    """Background work reads the count twice to learn whether a page arrived in between, even
    one already over: the process's count covers every bridge, and a call the pool refused."""
    first = WSGIBridge(Overlap(), threads=2, overflow_after=30)
    second = WSGIBridge(Overlap(), threads=2, overflow_after=30)
    before = legacy_calls_started()
    await asyncio.gather(*(call(first, http_scope("/fast")) for _ in range(3)), call(second, http_scope("/fast")))
    assert legacy_calls_started() == before + 4 and legacy_idle()
    gate = Admission(limit=1, ceiling=1, overflow_after=30)
    gate.unqueue(gate.queue())  # refused by a pool shutting down: it still arrived
    assert legacy_calls_started() == before + 5 and legacy_idle()


def test_the_last_activity_is_a_call_handed_over_or_its_turn_given_back() -> None:
    """Background work waits until no call started or ended for a moment: a long page started
    well before the gap that follows it, so its end counts too, on whichever gate it was."""
    first = Admission(limit=1, ceiling=1, overflow_after=30)
    second = Admission(limit=1, ceiling=1, overflow_after=30)
    page = object()
    assert first.enter(page, ticket=first.queue())
    handed = legacy_last_active()
    assert handed == first.last_active > 0
    time.sleep(0.01)
    assert legacy_last_active() == handed, "a call running is no new activity"
    first.leave(page)
    assert legacy_last_active() - handed >= 0.01 and legacy_last_active() == first.last_active
    ended = legacy_last_active()
    first.leave(page)  # given back twice: nothing happened
    assert legacy_last_active() == ended
    time.sleep(0.001)
    second.unqueue(second.queue())
    assert legacy_last_active() == second.last_active > ended


def test_hooks_hear_of_each_call_handed_over_until_removed_and_never_fail_it(caplog: pytest.LogCaptureFixture) -> None:
    """Background work that can stop (a shadow comparison) hears of each page as it arrives;
    a hook that raises is logged, and the page goes on."""
    gate = Admission(limit=1, ceiling=1, overflow_after=30)
    heard: list[int] = []

    def broken() -> None:
        raise RuntimeError("a broken hook")

    remove = on_legacy_call(lambda: heard.append(gate.started))
    remove_broken = on_legacy_call(broken)
    try:
        first = gate.queue()
        gate.unqueue(first)
        assert heard == [first + 1]
        assert "a hook on legacy calls failed" in caplog.text
    finally:
        remove()
        remove_broken()
    remove()  # twice: nothing
    gate.unqueue(gate.queue())
    assert heard == [first + 1]


def test_the_thread_that_leaves_hands_its_turn_over_in_arrival_order() -> None:
    gate = Admission(limit=1, ceiling=4, overflow_after=30)
    first = object()
    assert gate.enter(first)
    order: list[int] = []
    tokens = [object() for _ in range(3)]
    threads = []
    for number, token in enumerate(tokens):
        def take(number: int = number, token: object = token) -> None:
            assert gate.enter(token)
            order.append(number)
            gate.leave(token)
        threads.append(threading.Thread(target=take, daemon=True))
        threads[-1].start()
        while gate.waiting != number + 1:
            time.sleep(0.001)
    gate.leave(first)
    for thread in threads:
        thread.join(2)
    assert order == [0, 1, 2] and gate.running == 0 and gate.overflows == 0


def test_a_stuck_turn_lets_the_next_in_after_overflow_after() -> None:
    gate = Admission(limit=1, ceiling=2, overflow_after=0.05)
    stuck = object()
    assert gate.enter(stuck)
    started = time.monotonic()
    waiter, entered = _in_thread(gate, object())
    waiter.join(2)
    assert entered == [True] and 0.04 <= time.monotonic() - started < 1.0
    assert gate.overflows == 1 and gate.running == 2
    third, entered_third = _in_thread(gate, object())  # the ceiling: two threads' worth at most
    _until(lambda: gate.waiting == 1)
    time.sleep(0.15)  # past overflow_after, twice
    assert entered_third == [] and gate.waiting == 1
    gate.leave(stuck)
    third.join(2)
    assert entered_third == [True]


@pytest.mark.parametrize("limit, ceiling, overflow_after", [(0, 4, 0.02), (3, 2, 0.02), (1, 4, 0.0)])
def test_nonsense_settings_are_refused(limit: int, ceiling: int, overflow_after: float) -> None:
    with pytest.raises(ValueError):
        Admission(limit=limit, ceiling=ceiling, overflow_after=overflow_after)


def test_turns_follow_the_tickets_whichever_thread_reaches_the_gate_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pool's threads take calls in the order the loop handed them over, but a later one
    can reach the gate a few microseconds before an earlier one: it must not go first."""
    monkeypatch.setattr(admission, "ARRIVAL_WAIT", 30.0)  # however slowly this machine starts the threads
    gate = Admission(limit=1, ceiling=4, overflow_after=30)
    tickets = [gate.queue() for _ in range(4)]
    order: list[int] = []
    threads = []
    for arrived, ticket in enumerate(reversed(tickets)):  # the last ticket reaches the gate first
        def take(ticket: int = ticket) -> None:
            token = object()
            assert gate.enter(token, ticket=ticket)
            order.append(ticket)
            gate.leave(token)
        threads.append(threading.Thread(target=take, daemon=True))
        threads[-1].start()
        if ticket:  # every thread but the first ticket's waits for the earlier ones
            _until(lambda: gate.waiting == arrived + 1)
    for thread in threads:
        thread.join(2)
    assert order == tickets and gate.running == 0 and gate.waiting == 0 and gate.queued == 0


def test_a_ticket_whose_thread_never_comes_holds_the_others_up_briefly_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admission, "ARRIVAL_WAIT", 1.0)  # long enough that no stall of this thread passes for it
    gate = Admission(limit=1, ceiling=4, overflow_after=30)
    lost = gate.queue()  # handed over, but its thread never reaches the gate
    started = time.monotonic()
    token = object()
    assert gate.enter(token, ticket=gate.queue())
    waited = time.monotonic() - started
    gate.leave(token)
    assert lost == 0 and 1.0 <= waited < 5.0
    started = time.monotonic()
    assert gate.enter(token, ticket=gate.queue())  # the lost ticket is given up on for good
    gate.leave(token)
    assert time.monotonic() - started < 0.5
    assert gate.enter(object(), ticket=lost)  # if it comes after all, it is let in as any call


def test_a_ticket_the_pool_refused_holds_nobody_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admission, "ARRIVAL_WAIT", 5.0)
    gate = Admission(limit=1, ceiling=4, overflow_after=30)
    refused = gate.queue()
    gate.unqueue(refused)
    started = time.monotonic()
    token = object()
    assert gate.enter(token, ticket=gate.queue())
    assert time.monotonic() - started < 2.5 and gate.queued == 0


def test_a_turn_given_back_wakes_the_first_in_line_only() -> None:
    """Each wake-up is a thread switch and a wait for the GIL, paid by the Django call running:
    a turn given back wakes the thread it goes to, not every thread in line."""
    gate = Admission(limit=1, ceiling=4, overflow_after=30)
    holder = object()
    assert gate.enter(holder, ticket=gate.queue())
    looks = [0, 0, 0]  # how often each waiter woke and looked (abandoned() is asked at each)

    def counted(index: int) -> Callable[[], bool]:
        def abandoned() -> bool:
            looks[index] += 1
            return False
        return abandoned

    tokens = [object() for _ in looks]
    threads = []
    for index, token in enumerate(tokens):
        threads.append(_in_thread(gate, token, ticket=gate.queue(), abandoned=counted(index))[0])
        _until(lambda: gate.waiting == index + 1)
    with gate._lock:  # every waiter is asleep in wait() once it let go of the lock
        settled = list(looks)
    gate.leave(holder)  # to the first waiter
    _until(lambda: gate.running == 1 and gate.waiting == 2)
    time.sleep(0.05)
    with gate._lock:
        assert looks[0] > settled[0] and looks[1:] == settled[1:], "a thread not given the turn was woken"
    gate.leave(tokens[0])
    _until(lambda: gate.waiting == 1)
    gate.leave(tokens[1])
    for thread in threads:
        thread.join(2)
    gate.leave(tokens[2])
    assert gate.running == 0 and gate.waiting == 0


def test_a_waiter_that_becomes_first_unwoken_still_lets_itself_in_past_a_stuck_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """A turn taken wakes nobody, so the next in line may sleep on a wait it timed while no call
    ran: it must look again within ``overflow_after`` all the same, and get past the call let in
    meanwhile once that one is stuck, not wait for it to end."""
    monkeypatch.setattr(admission, "ARRIVAL_WAIT", 0.3)
    gate = Admission(limit=1, ceiling=4, overflow_after=0.1)
    gate.queue()  # ticket 0: its thread never comes
    first_ticket, second_ticket = gate.queue(), gate.queue()
    second_thread, second_in = _in_thread(gate, object(), ticket=second_ticket)  # waits for tickets 0 and 1
    _until(lambda: gate.waiting == 1)
    time.sleep(0.05)
    first = object()
    first_in = _in_thread(gate, first, ticket=first_ticket)[1]  # in front of the second, waiting for ticket 0
    _until(lambda: gate.waiting == 2)
    # Ticket 0 is given up on; the first takes the turn, and is slow: it never leaves. Nothing
    # else happens at the gate that would wake the second.
    _until(lambda: first_in == [True])
    started = time.monotonic()
    second_thread.join(5)
    assert second_in == [True] and time.monotonic() - started < 2.0
    assert gate.overflows >= 1
    gate.leave(first)


def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)
