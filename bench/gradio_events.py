"""(d) A Gradio event round trip, logged in through the gateway, against bare Gradio.

One event is what the browser does for a click: ``queue/join`` then the SSE stream of
``queue/data`` read to ``process_completed``. The event is the ticket page's
``signed_in_text`` load event; the baseline serves the same Blocks with Gradio alone and no
login (``bench.bare_gradio``), so the difference is the gateway: session lookup, guard,
ownership binding, login redirect and the middleware stack. Events run one after another
on one keep-alive client, as one user's clicks do.

Two baselines. Stock bare Gradio is what a team would run, and the goal (#17: ≤ 1.1×) is
measured against it. It builds, after every event, a pandas summary of up to 10,000 past
events for a monitoring dashboard, which the gateway's pages skip
(``fastapi_gateway.pages.queue.skip_monitoring_summary``); so the second baseline is bare
Gradio with the same saving (its own ``GRADIO_ANALYTICS_*`` variables), and the ratio to it
is what the gateway itself costs.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from tests.gradio_protocol import fn_index_of, new_session_hash, parse_sse

from .config import BenchConfig
from .figures import Figure, Goal, Series
from .login import log_in
from .servers import BARE_GRADIO, BARE_GRADIO_LEAN, GATEWAY, ServerPool
from .sites import SiteFactory

__all__ = ["measure_gradio_events"]

MOUNT = "/ui/tickets"
EVENT = "signed_in_text"


def _quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _event_series(client: httpx.Client, count: int, expected: str) -> list[float]:
    fn_index = fn_index_of(client.get(f"{MOUNT}/config").raise_for_status().json(), EVENT)
    origin = {"Origin": str(client.base_url).rstrip("/")}
    elapsed = []
    for _ in range(count):
        session_hash = new_session_hash()
        started = time.perf_counter()
        joined = client.post(
            f"{MOUNT}/gradio_api/queue/join",
            json={"data": [], "fn_index": fn_index, "session_hash": session_hash, "event_data": None, "trigger_id": None},
            headers=origin,
        )
        stream = client.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": session_hash}, headers=origin)
        elapsed.append((time.perf_counter() - started) * 1000)
        completed = [m for m in parse_sse(stream.text) if m.get("msg") == "process_completed"]
        if joined.status_code != 200 or not completed or completed[-1]["output"].get("data") != [expected]:
            raise RuntimeError(f"event failed: join {joined.status_code}, stream {stream.status_code}: {stream.text[:300]}")
    return elapsed


def measure_gradio_events(config: BenchConfig, sites: SiteFactory, pool: ServerPool,
                          log: Any = print) -> tuple[list[Figure], list[dict[str, Any]]]:
    gateway = pool.start(GATEWAY, sites.new("gradio-gateway"))
    bare = pool.start(BARE_GRADIO, sites.new("gradio-bare"))
    lean = pool.start(BARE_GRADIO_LEAN, sites.new("gradio-bare-lean"))
    login = log_in(gateway.url)
    clients = {
        "gateway": (httpx.Client(base_url=gateway.url, cookies=login.cookies, timeout=30), "Signed in as alice"),
        "bare": (httpx.Client(base_url=bare.url, timeout=30), "Not signed in"),
        "lean": (httpx.Client(base_url=lean.url, timeout=30), "Not signed in"),
    }
    p50: dict[str, list[float]] = {name: [] for name in clients}
    p99: dict[str, list[float]] = {name: [] for name in clients}
    raw: list[dict[str, Any]] = []
    try:
        for client, expected in clients.values():
            _event_series(client, 10, expected)  # warm-up
        for round_index in range(config.gradio_repeats):
            for name, (client, expected) in clients.items():
                samples = _event_series(client, config.gradio_events, expected)
                p50[name].append(statistics.median(samples))
                p99[name].append(_quantile(samples, 0.99))
                raw.append({"server": name, "round": round_index, "events": len(samples),
                            "p50_ms": p50[name][-1], "p99_ms": p99[name][-1], "max_ms": max(samples)})
                log(f"  (d) round {round_index + 1} {name:<8} {len(samples)} events  p50 {p50[name][-1]:6.2f} ms  "
                    f"p99 {p99[name][-1]:6.2f} ms")
    finally:
        for client, _ in clients.values():
            client.close()
        pool.stop(gateway)
        pool.stop(bare)
        pool.stop(lean)
    events = f"{config.gradio_events} sequential events per round"
    return [
        Figure("d", "d.gradio.event.p50", f"Gradio event round trip p50 ({EVENT}, logged in)", "ms",
               Series.of(p50["gateway"]), "bare Gradio, no auth", Series.of(p50["bare"]),
               goal=Goal("ratio", "<=", 1.1, "#17.2"), note=events),
        Figure("d", "d.gradio.event.p99", f"Gradio event round trip p99 ({EVENT}, logged in)", "ms",
               Series.of(p99["gateway"]), "bare Gradio, no auth", Series.of(p99["bare"]),
               goal=Goal("ratio", "<=", 1.1, "#17.2"), note=events),
        Figure("d", "d.gradio.event.p50.lean", f"Gradio event round trip p50 ({EVENT}, logged in)", "ms",
               Series.of(p50["gateway"]), "bare Gradio, no auth, no monitoring statistics", Series.of(p50["lean"]),
               note=events + "; what the gateway itself adds"),
        Figure("d", "d.gradio.event.p99.lean", f"Gradio event round trip p99 ({EVENT}, logged in)", "ms",
               Series.of(p99["gateway"]), "bare Gradio, no auth, no monitoring statistics", Series.of(p99["lean"]),
               note=events + "; what the gateway itself adds"),
    ], raw
