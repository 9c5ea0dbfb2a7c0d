"""The bridge runs one Django call at a time, unless the one running is stuck.

Driven by raw ASGI calls against ``WSGIBridge`` (helpers from ``test_wsgi_bridge``) and by
``Admission`` on its own; no database.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fastapi_gateway.legacy.admission import Admission
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


async def test_fast_calls_run_one_at_a_time_in_arrival_order() -> None:
    app = Overlap()
    # No call outlives the overflow limit, however slow the machine: only the gate is at work.
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


async def test_a_slow_view_costs_the_others_one_overflow_delay_not_its_duration() -> None:
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


async def test_a_waiter_cancelled_in_the_queue_takes_no_turn_with_it() -> None:
    gate = Admission(limit=1, ceiling=4, overflow_after=30)
    first, second, third = object(), object(), object()
    await gate.enter(first)
    waiting = asyncio.create_task(gate.enter(second))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    gate.leave(first)
    await asyncio.wait_for(gate.enter(third), 1)
    assert gate.running == 1
    gate.leave(third)
    gate.leave(third)  # idempotent
    assert gate.running == 0


@pytest.mark.parametrize("limit, ceiling, overflow_after", [(0, 4, 0.02), (3, 2, 0.02), (1, 4, 0.0)])
def test_nonsense_settings_are_refused(limit: int, ceiling: int, overflow_after: float) -> None:
    with pytest.raises(ValueError):
        Admission(limit=limit, ceiling=ceiling, overflow_after=overflow_after)
