"""The gateway's per-request cost, counted rather than timed: the regression guard's meter.

A fixed loop of legacy requests goes through ``create_app()`` as raw ASGI calls (no
sockets, no server) while a profile hook (``sys.setprofile`` on the loop thread,
``threading.setprofile`` on every thread the app starts) counts each Python and C function
call. Each call is charged to a layer by where it runs: the gateway's own code, the ASGI
framework under it (Starlette, FastAPI, AnyIO, a2wsgi, prometheus_client), the legacy Django
app, or, when no such frame is on the stack, scheduling: the event loop's and the thread pools'
own machinery. A call into
the standard library is charged to the frame that called it, so ``urllib`` work done by the
gateway's environ builder is the gateway's. Thread hops are counted apart: each hand-off
to a worker thread (an executor ``submit``, AnyIO's worker-thread call) and each wake-up of
the event loop from a thread (``call_soon_threadsafe``).

Why counts and not callgrind instructions: callgrind would also count Django's own work and
CPython's interpreter loop, runs the interpreter 50-100× slower (importing Gradio alone
takes minutes under it, well past the one-minute budget), and its totals move with how the
worker threads and the event loop interleave (a waiting loop spins through different code
depending on when the thread answers). Function calls in the framework layer and the hop
counts are the same on every run for the same request, whatever the scheduling (measured:
identical over ten runs); the gateway layer moves by under 1 % (whether the bridge finds the
thread's answer already there), far inside the margin. The hops are exactly what made plain
a2wsgi slow: the same loop through plain a2wsgi counts 5 hops a request against the bridge's 2,
and ~630 framework calls against ~350. The guard checks
those two; the Django and scheduling layers are reported for context only. GC is paused
during the counted loop so finalisers cannot land in a random request.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import os
import sys
import sysconfig
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = ["BASELINE", "GUARDED", "HotPathCost", "LegacyRequest", "count_hot_path", "load_baseline"]

BASELINE = Path(__file__).with_name("guard_baseline.json")
GUARDED = ("gateway", "framework", "hops")  # what the guard holds; the rest is context

_ROOT = str(Path(__file__).resolve().parent.parent) + os.sep
_STDLIB = tuple({sysconfig.get_paths()["stdlib"] + os.sep, os.path.dirname(os.__file__) + os.sep})
_LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gateway", (f"{_ROOT}fastapi_gateway{os.sep}",)),
    ("framework", tuple(f"{os.sep}{name}{os.sep}" for name in
                        ("starlette", "fastapi", "anyio", "a2wsgi", "prometheus_client", "sniffio", "pydantic", "opentelemetry"))),
    ("django", tuple(f"{os.sep}{name}{os.sep}" for name in ("django", "asgiref", "whitenoise", "legacy_django", "dj_database_url"))),
    ("harness", (f"{_ROOT}bench{os.sep}", f"{_ROOT}tests{os.sep}", f"{os.sep}_pytest{os.sep}", f"{os.sep}pytest_asyncio{os.sep}")),
)
_SUBMITS = {("submit", f"concurrent{os.sep}futures{os.sep}thread.py"), ("run_sync_in_worker_thread", f"anyio{os.sep}_backends{os.sep}_asyncio.py")}


@functools.lru_cache(maxsize=None)
def _layer_of(filename: str) -> str | None:
    """The layer of a file, None for the standard library (charged to its caller)."""
    for layer, fragments in _LAYERS:
        if any(fragment in filename for fragment in fragments):
            return layer
    if filename.startswith(_STDLIB) or filename.startswith("<"):
        return None
    return "other"


def _charged(frame: FrameType | None) -> tuple[str, str]:
    """The layer a call is charged to, and the file of the frame that charged it."""
    while frame is not None:
        filename = frame.f_code.co_filename
        layer = _layer_of(filename)
        if layer is not None:
            return layer, filename
        frame = frame.f_back
    return "scheduling", ""


_GATEWAY_ROOT = f"{_ROOT}fastapi_gateway{os.sep}"


@functools.lru_cache(maxsize=None)
def _part_of(filename: str) -> str:
    """The gateway's package a gateway file belongs to (``routing``, ``legacy``...), or the
    module's name for its top-level modules (``migrated_route``...)."""
    inner = filename[len(_GATEWAY_ROOT):].split(os.sep)
    return inner[0] if len(inner) > 1 else inner[0].removesuffix(".py")


@dataclass(frozen=True)
class LegacyRequest:
    path: str
    cookie: str = ""
    method: str = "GET"
    expect_status: int = 200


@dataclass
class HotPathCost:
    requests: int
    calls: dict[str, int] = field(default_factory=dict)  # per layer, whole loop
    hops: dict[str, int] = field(default_factory=dict)
    by_thread: dict[str, dict[str, int]] = field(default_factory=dict)  # the calls per thread (by name), per layer
    gateway_parts: dict[str, int] = field(default_factory=dict)  # the gateway layer's calls, per package of it

    def thread_figures(self) -> dict[str, dict[str, float]]:
        """Per request, per thread and layer: where an unexpected count came from."""
        return {name: {layer: round(count / self.requests, 1) for layer, count in sorted(layers.items())}
                for name, layers in sorted(self.by_thread.items())}

    def per_request(self) -> dict[str, float]:
        figures = {layer: count / self.requests for layer, count in sorted(self.calls.items())}
        figures["hops"] = sum(self.hops.values()) / self.requests
        for kind, count in sorted(self.hops.items()):
            figures[f"hops {kind}"] = count / self.requests
        return figures

    def gateway_part_per_request(self, *parts: str) -> float:
        """The gateway's calls a request made in some of its packages or top-level modules
        (``routing``, ``migrated_route``...)."""
        return sum(self.gateway_parts.get(part, 0) for part in parts) / self.requests

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "per_request": {k: round(v, 2) for k, v in self.per_request().items()}}


class _CallMeter:
    """The profile hook. Counters are per thread (no lost updates between threads)."""

    def __init__(self) -> None:
        self.active = False
        self.calls: dict[int, Counter[str]] = {}
        self.hops: dict[int, Counter[str]] = {}
        self.parts: dict[int, Counter[str]] = {}  # the gateway layer's calls, per package of it
        self.names: dict[int, str] = {}

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if not self.active:
            return
        if event == "call":
            code = frame.f_code
            layer, charged_by = _charged(frame)
            name = code.co_name
            if name == "call_soon_threadsafe":
                self._hop("to loop")
            elif any(name == n and code.co_filename.endswith(f) for n, f in _SUBMITS):
                self._hop("to thread")
        elif event == "c_call":
            layer, charged_by = _charged(frame)
            if getattr(arg, "__name__", "") == "call_soon_threadsafe":
                self._hop("to loop")
        else:
            return
        ident = threading.get_ident()
        counter = self.calls.get(ident)
        if counter is None:
            counter = self.calls.setdefault(ident, Counter())
            self.names[ident] = threading.current_thread().name
        counter[layer] += 1
        if layer == "gateway":
            parts = self.parts.get(ident)
            if parts is None:
                parts = self.parts.setdefault(ident, Counter())
            parts[_part_of(charged_by)] += 1

    def _hop(self, kind: str) -> None:
        ident = threading.get_ident()
        counter = self.hops.get(ident)
        if counter is None:
            counter = self.hops.setdefault(ident, Counter())
        counter[kind] += 1

    def totals(self) -> tuple[dict[str, int], dict[str, int]]:
        return dict(sum(self.calls.values(), Counter())), dict(sum(self.hops.values(), Counter()))

    def gateway_parts(self) -> dict[str, int]:
        return dict(sum(self.parts.values(), Counter()))

    def by_thread(self) -> dict[str, dict[str, int]]:
        named: dict[str, Counter[str]] = {}
        for ident, counter in self.calls.items():
            named.setdefault(self.names.get(ident, str(ident)), Counter()).update(counter)
        return {name: dict(counter) for name, counter in named.items()}


async def _call(app: Any, request: LegacyRequest) -> int:
    headers = [(b"host", b"127.0.0.1"), (b"accept", b"text/html")]
    if request.cookie:
        headers.append((b"cookie", request.cookie.encode("latin-1")))
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": request.method, "scheme": "http", "path": request.path, "raw_path": request.path.encode(),
        "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
    }
    body_sent = False
    disconnected = asyncio.Event()
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _build(app_factory: Any) -> Any:
    return app_factory()  # inside the loop: Gradio's Blocks bind to the running loop, not a stray new one


async def _loop(app: Any, requests: Sequence[LegacyRequest], rounds: int) -> None:
    for _ in range(rounds):
        for request in requests:
            status = await _call(app, request)
            if status != request.expect_status:
                raise AssertionError(f"{request.method} {request.path}: {status}, expected {request.expect_status}")


def _start_every_pool_thread() -> None:
    """Start now every thread the process's ``ThreadPoolExecutor``s may start (the bridge's
    legacy threads among them), so that none starts in the counted loop. Such a pool starts
    one more thread when a job comes before its last thread has said it is idle: under load
    that happens at random, and each start is a few dozen counted calls (a whole-suite CI run
    counted 254.4 gateway calls a request against 250.0 for the same code, the bridge's pool
    having started its second thread mid-loop). Jobs that wait for each other, as many as the
    pool's threads, make it start them all. (AnyIO's worker threads are not such a pool.)

    Runs with this thread's profile hook off, and matches on ``type()``: ``isinstance`` asks
    an object its ``__class__``, which a Django lazy object left from the warm-up evaluates."""
    from concurrent.futures import ThreadPoolExecutor, wait

    hook = sys.getprofile()
    sys.setprofile(None)
    try:
        gc.collect()
        pools = [o for o in gc.get_objects() if issubclass(type(o), ThreadPoolExecutor)]
    finally:
        sys.setprofile(hook)
    for executor in pools:
        size = executor._max_workers
        if executor._shutdown or len(executor._threads) >= size:
            continue
        together = threading.Barrier(size)

        def meet() -> None:
            try:
                together.wait(timeout=5)
            except threading.BrokenBarrierError:
                pass  # a thread of the pool busy with something else: its start still happened or never will

        try:
            wait([executor.submit(meet) for _ in range(size)], timeout=10)
        except RuntimeError:
            continue  # shut down meanwhile


def count_hot_path(app_factory: Any, requests: Sequence[LegacyRequest], *, rounds: int = 10, warmup: int = 3) -> HotPathCost:
    """Build the app, warm it up, then count ``rounds`` passes over ``requests``.

    ``app_factory`` is called after the hook is installed, so every thread the app starts
    carries it. Runs its own asyncio event loop, not uvloop: uvloop's ``call_soon_threadsafe``
    is compiled Cython that no profile hook sees, and the hops are the point. Call it from
    synchronous code.
    """
    meter = _CallMeter()
    previous = sys.getprofile(), threading.getprofile()
    threading.setprofile(meter)
    sys.setprofile(meter)
    gc_was_enabled = gc.isenabled()
    try:
        with asyncio.Runner() as runner:
            app = runner.run(_build(app_factory))
            runner.run(_loop(app, requests, warmup))
            _start_every_pool_thread()
            gc.collect()
            gc.disable()
            meter.active = True
            runner.run(_loop(app, requests, rounds))
            meter.active = False
    finally:
        meter.active = False
        sys.setprofile(previous[0])
        threading.setprofile(previous[1])  # type: ignore[arg-type]
        if gc_was_enabled:
            gc.enable()
    calls, hops = meter.totals()
    return HotPathCost(requests=rounds * len(requests), calls=calls, hops=hops, by_thread=meter.by_thread(),
                       gateway_parts=meter.gateway_parts())


def load_baseline(path: Path = BASELINE) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))
