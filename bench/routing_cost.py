"""(g) What the route table costs: a route in ``legacy`` state, and the same route in ``shadow``.

Legacy-state overhead: ``/api/tickets/`` (a declared route, state ``legacy``) through the
gateway, against a gateway whose settings declare no routes (``bench.settings_no_routes``).
Shadow cost: the same server with ``manage.py routes set api-tickets shadow`` against its
database, against itself in ``legacy`` state, flipped back and forth round by round; the
new side's comparisons are read from ``/metrics`` so a shadow run that compared nothing
cannot pass for a cheap one. At 16 connections the server is saturated, so the shadow work
competes with the legacy work for the same two cores; at one connection it does not.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx

from .config import BenchConfig
from .figures import Figure, Goal, Series
from .login import Login, check_page, log_in
from .servers import GATEWAY, GATEWAY_NO_ROUTES, RunningServer, ServerPool
from .sites import METRICS_TOKEN, SiteFactory
from .wrk import WrkResult, run_wrk

__all__ = ["measure_routing_cost"]

PATH = "/api/tickets/"
_MIDDLE = 4  # connections between idle (1) and saturated (16): the chart's middle point
ROUTE = "api-tickets"
_SHADOW_LINE = re.compile(r'^gateway_shadow_(comparisons|dropped)_total\{([^}]*)\}\s+([\d.e+]+)$', re.MULTILINE)


def _shadow_counts(server: RunningServer) -> dict[str, float]:
    text = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=30).text
    counts: dict[str, float] = {}
    for kind, labels, value in _SHADOW_LINE.findall(text):
        if f'route="{ROUTE}"' in labels:
            result = re.search(r'result="([^"]+)"', labels)
            reason = re.search(r'reason="([^"]+)"', labels)
            if kind == "comparisons" and result:
                key = result.group(1)
            else:
                key = f"dropped ({reason.group(1)})" if reason else kind
            counts[key] = counts.get(key, 0) + float(value)
    return counts


def _flip(server: RunningServer, login: Login, state: str, settle: float) -> None:
    server.site.manage("routes", "set", ROUTE, state, "--reason", "bench")
    time.sleep(settle)
    answer = httpx.get(server.url + PATH, cookies=login.cookies, timeout=30)
    if answer.status_code != 200 or answer.headers.get("x-served-by") != "legacy":
        raise RuntimeError(f"{PATH} in {state}: {answer.status_code}, served by {answer.headers.get('x-served-by')}")


def _run(results: dict[str, list[WrkResult]], key: str, server: RunningServer, login: Login, *,
         connections: int, duration: float, log: Any) -> None:
    result = run_wrk(server.url + PATH, cookie=login.cookie, connections=connections, duration=duration)
    if result.failed:
        raise RuntimeError(f"{key}: {result.failed} failed requests: {result.errors}")
    results.setdefault(key, []).append(result)
    log(f"  (g) {key:<22} {result.rps:8.1f} req/s  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:7.2f} ms")


def measure_routing_cost(config: BenchConfig, sites: SiteFactory, pool: ServerPool, *, out: Path,
                         log: Any = print) -> tuple[list[Figure], list[dict[str, Any]]]:
    routed = pool.start(GATEWAY, sites.new("routing-on"))
    plain = pool.start(GATEWAY_NO_ROUTES, sites.new("routing-off"))
    logins = {routed.name: log_in(routed.url), plain.name: log_in(plain.url)}
    for server in (routed, plain):
        check_page(server.url, PATH, logins[server.name], "Alice:")
        run_wrk(server.url + PATH, cookie=logins[server.name].cookie, connections=config.connections, duration=config.warmup)
    results: dict[str, list[WrkResult]] = {}
    c = config.connections
    for _ in range(config.repeats):
        for key, server in (("routes on", routed), ("routes off", plain)):
            _run(results, f"{key} c{c}", server, logins[server.name], connections=c, duration=config.duration, log=log)
            _run(results, f"{key} c1", server, logins[server.name], connections=1, duration=config.duration, log=log)
    pool.stop(plain)
    login = logins[routed.name]
    compared: dict[str, float] = {}
    for _ in range(config.repeats):
        for state in ("legacy", "shadow"):
            _flip(routed, login, state, config.shadow_settle)
            before = _shadow_counts(routed)
            _run(results, f"{state} c{c}", routed, login, connections=c, duration=config.duration, log=log)
            _run(results, f"{state} c{_MIDDLE}", routed, login, connections=_MIDDLE, duration=config.duration, log=log)
            _run(results, f"{state} c1", routed, login, connections=1, duration=config.duration, log=log)
            time.sleep(0.5)
            after = _shadow_counts(routed)
            if state == "shadow":
                for key, value in after.items():
                    compared[key] = compared.get(key, 0) + value - before.get(key, 0)
                if not sum(v for k, v in compared.items() if not k.startswith("dropped")):
                    raise RuntimeError(f"shadow state compared nothing: {after}")
    _flip(routed, login, "legacy", 0)
    pool.stop(routed)
    raw = [{"run": key, **r.as_json()} for key, runs in results.items() for r in runs]
    raw.append({"shadow_counts": compared})
    _draw(out / "shadow.png", results, (1, _MIDDLE, c))
    return _figures(results, c, compared), raw


def _draw(path: Path, results: dict[str, list[WrkResult]], levels: tuple[int, ...]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for state, style in (("legacy", "-"), ("shadow", "--")):
        for ax, metric, label in ((axes[0], "p99_ms", "p99 (ms)"), (axes[1], "rps", "req/s")):
            best = min if metric != "rps" else max
            ax.plot(list(levels), [best(getattr(r, metric) for r in results[f"{state} c{n}"]) for n in levels], style,
                    marker="o", label=f"route in {state} state")
            ax.set_xlabel("connections (wrk, keep-alive)")
            ax.set_ylabel(label)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"(g) {PATH}: shadow on every request vs legacy, from idle to saturated")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _series(results: dict[str, list[WrkResult]], key: str, metric: str) -> Series:
    return Series.of([getattr(r, metric) for r in results[key]], "higher" if metric == "rps" else "lower")


def _figures(results: dict[str, list[WrkResult]], c: int, compared: dict[str, float]) -> list[Figure]:
    shadow_note = "shadow calls: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(compared.items()))
    figures = [
        Figure("g", f"g.legacy_state.c{c}.rps", f"{PATH} req/s, route in legacy state, {c} conns", "req/s",
               _series(results, f"routes on c{c}", "rps"), "gateway without routes", _series(results, f"routes off c{c}", "rps")),
        Figure("g", f"g.legacy_state.c{c}.p99", f"{PATH} p99, route in legacy state, {c} conns", "ms",
               _series(results, f"routes on c{c}", "p99_ms"), "gateway without routes", _series(results, f"routes off c{c}", "p99_ms")),
        Figure("g", "g.legacy_state.c1.p50", f"{PATH} p50, route in legacy state, 1 conn", "ms",
               _series(results, "routes on c1", "p50_ms"), "gateway without routes", _series(results, "routes off c1", "p50_ms")),
        Figure("g", f"g.shadow.c{c}.p99", f"{PATH} p99 in shadow state, {c} conns (saturated)", "ms",
               _series(results, f"shadow c{c}", "p99_ms"), "same server, legacy state", _series(results, f"legacy c{c}", "p99_ms"),
               goal=Goal("ratio", "<=", 1.05, "#6.5, #17.3"), note=shadow_note + "; chart: shadow.png"),
        Figure("g", f"g.shadow.c{c}.rps", f"{PATH} req/s in shadow state, {c} conns (saturated)", "req/s",
               _series(results, f"shadow c{c}", "rps"), "same server, legacy state", _series(results, f"legacy c{c}", "rps")),
        Figure("g", f"g.shadow.c{_MIDDLE}.p99", f"{PATH} p99 in shadow state, {_MIDDLE} conns", "ms",
               _series(results, f"shadow c{_MIDDLE}", "p99_ms"), "same server, legacy state",
               _series(results, f"legacy c{_MIDDLE}", "p99_ms"), goal=Goal("ratio", "<=", 1.05, "#17.3"),
               note="chart: shadow.png"),
        Figure("g", "g.shadow.c1.p99", f"{PATH} p99 in shadow state, 1 conn", "ms",
               _series(results, "shadow c1", "p99_ms"), "same server, legacy state", _series(results, "legacy c1", "p99_ms"),
               goal=Goal("ratio", "<=", 1.05, "#6.5")),
        Figure("g", "g.shadow.c1.p50", f"{PATH} p50 in shadow state, 1 conn", "ms",
               _series(results, "shadow c1", "p50_ms"), "same server, legacy state", _series(results, "legacy c1", "p50_ms")),
    ]
    return figures
