"""(a) legacy page throughput and latency, (b) latency added at one connection.

``/tickets/`` as alice is a real Django page: session, user, a query, a template. The gateway
serves it through its bridge and every middleware; the baselines are ``gunicorn
legacy_django.wsgi`` (sync) and granian (a Rust HTTP server, ``--interface wsgi``, the fastest
a Django team can pick: the anchor of issue 17's goals) with the same number of processes. gunicorn's sync worker
closes every connection, so each load is run twice: with keep-alive (what a browser or a
proxy does with the gateway) and with ``Connection: close`` on both sides (like for like).
Runs are interleaved round by round, so slow minutes of a shared machine hit every server.

At one connection nothing overlaps, so the CPU a server's threads used during a run, divided
by its requests, is what each request cost each thread (read from ``/proc``, user + system):
the gateway's event-loop thread (HTTP, every middleware, the hops) against granian's Rust
threads, which do its HTTP without the GIL, and each whole process. That is where #17.1's
remaining time goes: the loop thread's share is held under the GIL, the Rust threads' is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from .config import BenchConfig
from .figures import Figure, Goal, Series
from .login import Login, check_page, log_in
from .memory import process_tree
from .servers import (
    A2WSGI_PLAIN, DJANGO_ASGI, GATEWAY, GATEWAY_SERVE, GRANIAN, GUNICORN, RunningServer, ServerKind, ServerPool,
)
from .sites import SiteFactory
from .wrk import WrkResult, run_wrk

__all__ = ["measure_legacy_load"]

PAGE = "/tickets/"
PAGE_MARKER = "Alice:"  # alice's own tickets are on the page: the session held


@dataclass(frozen=True)
class _CpuSplit:
    """CPU seconds of a server's threads: the thread(s) doing its HTTP, and all of them."""

    http: float
    total: float

    def __sub__(self, other: _CpuSplit) -> _CpuSplit:
        return _CpuSplit(self.http - other.http, self.total - other.total)


def _cpu_split(server: RunningServer) -> _CpuSplit:
    """uvicorn does its HTTP on the serving process's main thread (the event loop), as does each
    worker of ``python -m fastapi_gateway``; granian on its Rust runtime's threads (named
    ``tokio-*``), Python on the others. gunicorn's sync worker does both on one thread: its
    total only."""
    http = total = 0.0
    for process in process_tree(server.process.pid):
        try:
            threads = process.threads()
        except psutil.Error:
            continue
        for thread in threads:
            used = thread.user_time + thread.system_time
            total += used
            if server.kind.runner == "granian":
                try:
                    with open(f"/proc/{process.pid}/task/{thread.id}/comm") as comm:
                        serving = comm.read().startswith("tokio")
                except OSError:
                    serving = False
            else:  # uvicorn, or the launcher's worker (its supervisor's main thread barely runs)
                serving = server.kind.runner in ("uvicorn", "serve") and thread.id == process.pid
            if serving:
                http += used
    return _CpuSplit(http, total)


@dataclass(frozen=True)
class _Scenario:
    connections: int
    close: bool
    workers: tuple[int, ...]

    @property
    def mode(self) -> str:
        return "close" if self.close else "keep-alive"


def _servers(sections: str) -> list[tuple[ServerKind, int]]:
    wanted = [(GUNICORN, 1), (GRANIAN, 1), (GATEWAY, 1), (A2WSGI_PLAIN, 1), (DJANGO_ASGI, 1)]
    if "a" in sections:
        wanted += [(GUNICORN, 2), (GRANIAN, 2), (GATEWAY_SERVE, 2), (GATEWAY, 2), (A2WSGI_PLAIN, 2)]
    return wanted


def _scenarios(sections: str, connections: int) -> list[_Scenario]:
    scenarios = []
    if "a" in sections:
        scenarios += [_Scenario(connections, False, (1, 2)), _Scenario(connections, True, (1, 2))]
    if "b" in sections:
        scenarios += [_Scenario(1, False, (1,)), _Scenario(1, True, (1,))]
    return scenarios


def measure_legacy_load(config: BenchConfig, sites: SiteFactory, pool: ServerPool, sections: str,
                        log: Any = print) -> tuple[list[Figure], list[dict[str, Any]]]:
    started: list[tuple[RunningServer, Login]] = []
    for kind, workers in _servers(sections):
        server = pool.start(kind, sites.new(f"legacy-{kind.name}-w{workers}"), workers=workers)
        login = log_in(server.url)
        check_page(server.url, PAGE, login, PAGE_MARKER)
        started.append((server, login))
    for server, login in started:  # warm every worker: imports, template cache, connections
        run_wrk(server.url + PAGE, cookie=login.cookie, connections=config.connections, duration=config.warmup)
    runs: dict[tuple[str, int, bool], list[WrkResult]] = {}
    cpu: dict[tuple[str, bool], list[_CpuSplit]] = {}  # per request, at one connection
    scenarios = _scenarios(sections, config.connections)
    for round_index in range(config.repeats):
        order = started[round_index % len(started):] + started[:round_index % len(started)]
        for scenario in scenarios:
            for server, login in order:
                if server.workers not in scenario.workers:
                    continue
                before = _cpu_split(server)
                result = run_wrk(server.url + PAGE, cookie=login.cookie, connections=scenario.connections,
                                 duration=config.duration, close=scenario.close)
                used = _cpu_split(server) - before
                if result.failed:
                    raise RuntimeError(f"{server.name}: {result.failed} failed requests under load: {result.errors}")
                if scenario.connections == 1 and result.requests:
                    cpu.setdefault((server.name, scenario.close), []).append(
                        _CpuSplit(used.http * 1000 / result.requests, used.total * 1000 / result.requests))
                runs.setdefault((server.name, scenario.connections, scenario.close), []).append(result)
                log(f"  (a/b) round {round_index + 1} {server.name:<18} c={scenario.connections:<2} {scenario.mode:<10} "
                    f"{result.rps:8.1f} req/s  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:7.2f} ms")
    for server, login in started:
        check_page(server.url, PAGE, login, PAGE_MARKER)
        pool.stop(server)
    raw = [{"server": name, **result.as_json()} for (name, _, _), results in runs.items() for result in results]
    figures = []
    if "a" in sections:
        figures += _throughput_figures(runs, config.connections)
    if "b" in sections:
        figures += _added_latency_figures(runs) + _cpu_figures(cpu)
    return figures, raw


def _series(runs: dict[tuple[str, int, bool], list[WrkResult]], server: str, connections: int, close: bool,
            metric: str) -> Series | None:
    results = runs.get((server, connections, close))
    if not results:
        return None
    better = "higher" if metric == "rps" else "lower"
    return Series.of([getattr(r, metric) for r in results], better)  # type: ignore[arg-type]


# The goals are the gateway's as deployed at each process count: uvicorn for one process, the
# launcher for two (`uvicorn --workers 2` is reported beside it, for comparison).
_GOAL_HOLDERS = ("gateway w1", "gateway-serve w2")

_METRICS = {"rps": ("req/s", "req/s"), "p50_ms": ("p50", "ms"), "p99_ms": ("p99", "ms")}


def _throughput_figures(runs: dict[tuple[str, int, bool], list[WrkResult]], connections: int) -> list[Figure]:
    figures: list[Figure] = []
    for workers in (1, 2):
        base_name = f"gunicorn w{workers}"
        for close in (False, True):
            mode = "close" if close else "keep-alive"
            contenders: Sequence[tuple[str, tuple[str, ...]]] = [
                (f"gateway w{workers}", ("rps", "p50_ms", "p99_ms")),
                (f"a2wsgi-plain w{workers}", ("rps", "p99_ms")),
            ]
            contenders = [*contenders, (f"granian w{workers}", ("rps", "p50_ms", "p99_ms"))]
            if workers == 1:
                contenders = [*contenders, ("django-asgi w1", ("rps", "p99_ms"))]
            else:  # the gateway's own launcher first: what it offers in place of `gunicorn -w N`
                contenders = [("gateway-serve w2", ("rps", "p50_ms", "p99_ms")), *contenders]
            for name, metrics in contenders:
                for metric in metrics:
                    value = _series(runs, name, connections, close, metric)
                    base = _series(runs, base_name, connections, close, metric)
                    if value is None or base is None:
                        continue
                    title, unit = _METRICS[metric]
                    goal = None
                    if name in _GOAL_HOLDERS and metric == "rps":
                        goal = Goal("ratio", ">=", 1.0, "#8.2")
                    elif name in _GOAL_HOLDERS and metric == "p99_ms":
                        goal = Goal("ratio", "<=", 1.2, "#8.2")
                    figures.append(Figure(
                        section="a", key=f"a.{name.replace(' ', '.')}.{mode}.{metric}",
                        label=f"{PAGE} {title}, {name}, {connections} conns {mode}", unit=unit,
                        value=value, baseline_label=f"{base_name} {mode}", baseline=base, goal=goal,
                    ))
            # The goal holder against granian, the fastest WSGI server (#17.1).
            holder = _GOAL_HOLDERS[workers - 1]
            for metric in ("rps", "p50_ms", "p99_ms"):
                value = _series(runs, holder, connections, close, metric)
                base = _series(runs, f"granian w{workers}", connections, close, metric)
                if value is None or base is None:
                    continue
                title, unit = _METRICS[metric]
                goal = {"rps": Goal("ratio", ">=", 1.0, "#17.1"), "p99_ms": Goal("ratio", "<=", 1.1, "#17.1")}.get(metric)
                figures.append(Figure(
                    section="a", key=f"a.{holder.replace(' ', '.')}.vs-granian.{mode}.{metric}",
                    label=f"{PAGE} {title}, {holder}, {connections} conns {mode}", unit=unit,
                    value=value, baseline_label=f"granian w{workers} {mode}", baseline=base, goal=goal,
                ))
    return figures


def _added_latency_figures(runs: dict[tuple[str, int, bool], list[WrkResult]]) -> list[Figure]:
    figures: list[Figure] = []
    for close in (False, True):
        mode = "close" if close else "keep-alive"
        base = _series(runs, "gunicorn w1", 1, close, "p50_ms")
        for name in ("gateway w1", "a2wsgi-plain w1", "django-asgi w1"):
            value = _series(runs, name, 1, close, "p50_ms")
            if value is None or base is None:
                continue
            figures.append(Figure(
                section="b", key=f"b.{name.replace(' ', '.')}.{mode}.p50",
                label=f"{PAGE} p50 at 1 conn {mode}, {name}", unit="ms", value=value,
                baseline_label=f"gunicorn w1 {mode}", baseline=base,
                goal=Goal("delta", "<=", 0.2, "#8.2") if name.startswith("gateway") else None,
                note="added latency = Δ",
            ))
        granian = _series(runs, "granian w1", 1, close, "p50_ms")
        for name in ("gateway w1", "gunicorn w1"):
            value = _series(runs, name, 1, close, "p50_ms")
            if value is None or granian is None:
                continue
            figures.append(Figure(
                section="b", key=f"b.{name.replace(' ', '.')}.vs-granian.{mode}.p50",
                label=f"{PAGE} p50 at 1 conn {mode}, {name}", unit="ms", value=value,
                baseline_label=f"granian w1 {mode}", baseline=granian,
                goal=Goal("delta", "<=", 0.1, "#17.1") if name.startswith("gateway") else None,
                note="added latency = Δ",
            ))
    return figures


def _cpu_figures(cpu: dict[tuple[str, bool], list[_CpuSplit]]) -> list[Figure]:
    """#17.1's remaining time, per request at one connection: the gateway's event-loop thread
    against granian's Rust threads, and each whole process against granian's."""
    # (server, which threads, its label, granian's label, note)
    compared = (
        ("gateway w1", "http", "its event-loop thread", "its Rust threads",
         "HTTP, middleware and hops; the loop thread's share holds the GIL, the Rust threads' does not"),
        ("gateway w1", "total", "every thread", "every thread", ""),
        ("gunicorn w1", "total", "every thread", "every thread", ""),
    )
    figures: list[Figure] = []
    for close in (False, True):
        mode = "close" if close else "keep-alive"
        granian = cpu.get(("granian w1", close))
        for name, threads, label, granian_label, note in compared:
            series = cpu.get((name, close))
            if not series or not granian:
                continue
            figures.append(Figure(
                section="b", key=f"b.{name.replace(' ', '.')}.{threads}-cpu.{mode}",
                label=f"{PAGE} CPU per request at 1 conn {mode}, {name}: {label}", unit="ms",
                value=Series.of([getattr(c, threads) for c in series]),
                baseline_label=f"granian w1 {mode}: {granian_label}",
                baseline=Series.of([getattr(c, threads) for c in granian]), note=note,
            ))
    return figures
