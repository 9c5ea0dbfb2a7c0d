"""(j) 2,000 open Gradio streams in one process: what a stream costs in memory, and whether
the legacy pages served beside them notice.

A stream is a page's heartbeat, ``GET /ui/tickets/gradio_api/heartbeat/<session_hash>``: the
server-sent-event stream every open browser tab of a Gradio page holds for as long as it is
open (Gradio writes ``data: ALIVE`` at once, then every 15 s, and runs the session's unload
events when it closes). Through the gateway each one is also re-checked with the process's
other streams (``pages.stream_watch``: one lookup per Django session a round, at most 50 a
second). The bench holds them on raw sockets (``bench.held_streams``), each the tab of a person of its own: a
user with a Django session, made in the site's database through the project's own
``SessionStore`` (logging 2,000 people in through the form would cost minutes of password
hashing). Several tabs per session would flatter the gateway, which re-checks once per session,
and the guard keeps its records per user and per session (``pages.ownership``), so one user
with 2,000 sessions would measure its eviction instead. Each opens after a random delay within
the default re-check interval, as tabs open at moments of their own; opened in one burst,
their re-checks would fall in step. Each is checked open (200, ``text/event-stream``, its
first ``ALIVE``) and, when the bench closes them, still open; the section fails if more than
``MAX_ENDED`` ended or fell silent.

Memory: the RSS of the one gateway process (uvicorn, one worker) at 0 to 2,000 open streams,
settled a second at each step, after a few streams were opened and closed so that what the
first one loads is not counted per stream; the figure is (RSS at 2,000 - RSS at 0) / 2,000,
the first time the process grows to 2,000 (later rounds reuse freed memory). The baseline is
bare Gradio (``bench.bare_gradio``) holding as many, so the ratio is what the gateway adds per
stream. CPU: each process holding all its streams with no request, the median of three
windows of one re-check period.

Legacy pages: ``/tickets/`` as alice with wrk at 1 and ``connections`` connections, in the
same process with no stream open and with all of them open, over ``repeats`` rounds in
alternating order (without, with | with, without | ...: the streams stay open from one round
into the next, and are all closed, the server's side of them gone, before a run without).

The goal (#17.3): the memory per stream stated (≤ 64 KiB), and the legacy p99 unchanged within
noise beside them (≤ 1.1×).

The collector: full collections skip what a process keeps (``fastapi_gateway.server.gc_policy``)
and walk everything once every ``GATEWAY['GC_FULL_WALK_SECONDS']``, a pause that grows with
the streams, in a moment when the process is idle (none comes while wrk sends back to back;
the pauses between the bench's runs are such moments), or after one more period without one.
The default is 600 s; here the gateway walks every ``WALK_SECONDS``, so walks come during
the section, and the last walk's pause (``/metrics``) is a figure of its own, with how many
walks found no quiet moment.
"""

from __future__ import annotations

import dataclasses
import json
import re
import resource
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from .config import BenchConfig
from .figures import Figure, Goal, Series
from .held_streams import HeldStreams, Stream
from .login import check_page, log_in
from .memory import process_tree, rss_mib
from .servers import BARE_GRADIO, GATEWAY, RunningServer, ServerPool
from .sites import METRICS_TOKEN, Site, SiteFactory
from .wrk import WrkResult, run_wrk

__all__ = ["measure_streams"]

MOUNT = "/ui/tickets"
PAGE = "/tickets/"
MAX_ENDED = 5
SETTLE_SECONDS = 1.0
SPREAD_SECONDS = 2.0  # the default STREAM_RECHECK_SECONDS
WARM_STREAMS = 20
WALK_SECONDS = 45  # GATEWAY['GC_FULL_WALK_SECONDS'] of the gateway under test (600 by default)
_WALK_LINES = re.compile(r"^gateway_gc_(full_walks_total|full_walks_forced_total|last_full_walk_seconds) ([\d.e+-]+)$",
                         re.MULTILINE)


def _raise_open_files_limit(streams: int) -> int:
    """Soft to hard limit of open files, before any server starts (the servers inherit it):
    the bench holds one socket per stream, the server another."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = streams + 1024
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise RuntimeError(f"(j) needs {needed} open files per process for {streams} streams; the hard limit is {hard}"
                           f" (raise it: `ulimit -Hn {needed}` as root, or LimitNOFILE= in the unit)")
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return int(resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def _server_sockets(server: RunningServer) -> int:
    """Connections the server process holds open on its port (its side of every stream)."""
    count = 0
    for process in process_tree(server.process.pid):
        try:
            count += sum(1 for c in process.net_connections("tcp")
                         if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == server.port)
        except psutil.Error:
            pass
    return count


def _wait_sockets(server: RunningServer, *, at_most: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while (held := _server_sockets(server)) > at_most:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name} still holds {held} connections {timeout:.0f} s after the streams closed")
        time.sleep(0.2)
    return held


def _cpu_percent(server: RunningServer, windows: int, seconds: float) -> float:
    """Percent of one CPU the server's process tree uses, the median of ``windows`` windows of
    ``seconds`` each: a window in which this shared machine stalled the whole process tells
    nothing of the streams."""
    processes = process_tree(server.process.pid)
    shares = []
    for _ in range(windows):
        before = sum(sum(p.cpu_times()[:2]) for p in processes)
        time.sleep(seconds)
        shares.append((sum(sum(p.cpu_times()[:2]) for p in processes) - before) / seconds * 100)
    return statistics.median(shares)


@dataclass
class _MemoryCurve:
    steps: list[int]
    rss_mib: list[float]
    sockets: list[int]
    cpu_percent: float = 0.0

    @property
    def kib_per_stream(self) -> float:
        return (self.rss_mib[-1] - self.rss_mib[0]) * 1024 / self.steps[-1]


def _open_in_steps(held: HeldStreams, server: RunningServer, steps: Sequence[int], cookies: Sequence[str],
                   log: Any) -> _MemoryCurve:
    curve = _MemoryCurve(list(steps), [], [])
    for step in steps:
        started = time.perf_counter()
        held.open_until(step, cookies)
        opening = time.perf_counter() - started
        time.sleep(SETTLE_SECONDS)
        curve.rss_mib.append(rss_mib(server.process.pid))
        curve.sockets.append(_server_sockets(server))
        if curve.sockets[-1] < step:
            raise RuntimeError(f"{server.name}: {step} streams open, but the server holds {curve.sockets[-1]} connections")
        log(f"  (j) {server.kind.name:<11} {step:5d} streams  RSS {curve.rss_mib[-1]:7.1f} MiB"
            f"  (opened in {opening:5.2f} s, server holds {curve.sockets[-1]} connections)")
    curve.cpu_percent = _cpu_percent(server, 3, SPREAD_SECONDS)
    log(f"  (j) {server.kind.name:<11} {steps[-1]:5d} streams  CPU {curve.cpu_percent:5.1f} % of a core, no request")
    return curve


def _close_all(held: HeldStreams, server: RunningServer, log: Any) -> list[Stream]:
    count = len(held.streams)
    lost = held.close()
    if len(lost) > MAX_ENDED:
        reasons = sorted({s.ended or "silent" for s in lost})
        raise RuntimeError(f"{len(lost)} of {count} streams to {server.name} ended or fell silent on their own: {reasons}")
    _wait_sockets(server, at_most=MAX_ENDED)
    if lost:
        log(f"  (j) {len(lost)} of {count} streams had ended on their own: {[s.ended or 'silent' for s in lost]}")
    return lost


def _warm(held: HeldStreams, server: RunningServer, cookies: Sequence[str]) -> None:
    """What the first streams load once (imports, caches) is not a cost per stream."""
    held.open_until(WARM_STREAMS, cookies)
    held.close()
    _wait_sockets(server, at_most=0)
    time.sleep(SETTLE_SECONDS)


def _bare_curve(pool: ServerPool, sites: SiteFactory, steps: Sequence[int], log: Any) -> _MemoryCurve:
    server = pool.start(BARE_GRADIO, sites.new("streams-bare"))
    held = HeldStreams(server, mount=MOUNT)
    try:
        _warm(held, server, [])
        curve = _open_in_steps(held, server, steps, [], log)
        _close_all(held, server, log)
        return curve
    finally:
        held.shut_down()
        pool.stop(server)


def _people(site: Site, count: int) -> list[str]:
    """``count`` users with a Django session each, made in the site's database through the
    project's own ``SessionStore`` (the keys ``login()`` stores); returns their cookies."""
    code = (
        "import json\n"
        "from importlib import import_module\n"
        "from django.conf import settings\n"
        "from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model\n"
        "from django.contrib.auth.hashers import make_password\n"
        "from django.db import transaction\n"
        "User = get_user_model()\n"
        "store = import_module(settings.SESSION_ENGINE).SessionStore\n"
        "keys = []\n"
        "with transaction.atomic():\n"
        "    password = make_password(None)\n"
        f"    User.objects.bulk_create([User(username=f'stream-{{n}}', password=password) for n in range({count})])\n"
        "    for user in User.objects.filter(username__startswith='stream-').order_by('pk'):\n"
        "        session = store()\n"
        "        session[SESSION_KEY] = user._meta.pk.value_to_string(user)\n"
        "        session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]\n"
        "        session[HASH_SESSION_KEY] = user.get_session_auth_hash()\n"
        "        session.create()\n"
        "        keys.append(session.session_key)\n"
        "print(json.dumps([settings.SESSION_COOKIE_NAME, keys]))\n"
    )
    name, keys = json.loads(site.manage("shell", "-c", code).strip().splitlines()[-1])
    if len(keys) != count:
        raise RuntimeError(f"(j) made {len(keys)} sessions, not {count}")
    return [f"{name}={key}" for key in keys]


def measure_streams(config: BenchConfig, sites: SiteFactory, pool: ServerPool, *, out: Path,
                    log: Any = print) -> tuple[list[Figure], list[dict[str, Any]]]:
    count = 2_000 if not config.quick else 200
    steps = (0, 250, 500, 1_000, 1_500, 2_000) if not config.quick else (0, 50, 100, 200)
    limit = _raise_open_files_limit(count)
    log(f"  (j) open files per process: {limit}")
    c = config.connections
    site = sites.new("streams")
    cookies = _people(site, count)
    server = pool.start(dataclasses.replace(GATEWAY, env=(("GATEWAY_GC_FULL_WALK_SECONDS", str(WALK_SECONDS)),)), site)
    alice = log_in(server.url)
    check_page(server.url, PAGE, alice, "Alice:")
    run_wrk(server.url + PAGE, cookie=alice.cookie, connections=c, duration=config.warmup)
    held = HeldStreams(server, mount=MOUNT, spread=SPREAD_SECONDS)
    results: dict[str, list[WrkResult]] = {}
    raw: list[dict[str, Any]] = []
    lost: list[Stream] = []
    curve: _MemoryCurve | None = None
    # Alternating order, each state measured once per round: without, with | with, without | ...;
    # the streams stay open from one round's "with" into the next one's.
    states = [state for round_index in range(config.repeats)
              for state in (("without", "with") if round_index % 2 == 0 else ("with", "without"))]
    try:
        _warm(held, server, cookies)
        for index, state in enumerate(states):
            round_index = index // 2
            if state == "with" and not held.streams:
                if curve is None:
                    curve = _open_in_steps(held, server, steps, cookies, log)
                else:
                    held.open_until(count, cookies)
                    time.sleep(SETTLE_SECONDS)
            for connections in (1, c):
                key = f"{state} c{connections}"
                result = run_wrk(server.url + PAGE, cookie=alice.cookie, connections=connections,
                                 duration=config.duration)
                if result.failed or not result.requests:
                    raise RuntimeError(f"(j) {key}: {result.requests} requests, {result.failed} failed: {result.errors}")
                results.setdefault(key, []).append(result)
                raw.append({"run": key, "round": round_index, "streams": len(held.streams), **result.as_json()})
                log(f"  (j) round {round_index + 1} {key:<11} {result.rps:8.1f} req/s  p50 {result.p50_ms:6.2f} ms"
                    f"  p99 {result.p99_ms:7.2f} ms")
            following = states[index + 1] if index + 1 < len(states) else None
            if state == "with" and following != "with":
                lost += _close_all(held, server, log)
                time.sleep(SETTLE_SECONDS)
        after_close = rss_mib(server.process.pid)
        walks = _gc_walks(server)
        log(f"  (j) the collector walked everything {walks[0]:.0f} times ({walks[2]:.0f} without a quiet moment); "
            f"the last walk took {walks[1] * 1000:.0f} ms")
    finally:
        held.shut_down()
        pool.stop(server)
    assert curve is not None
    bare = _bare_curve(pool, sites, steps, log)
    for name, measured in (("gateway", curve), ("bare-gradio", bare)):
        raw.append({"server": name, "streams": measured.steps, "rss_mib": measured.rss_mib,
                    "server_connections": measured.sockets, "kib_per_stream": measured.kib_per_stream,
                    "cpu_percent_at_most_streams": measured.cpu_percent})
    raw.append({"gateway_rss_mib_after_closing_all": after_close, "streams_lost": len(lost),
                "lost_reasons": [s.ended or "silent" for s in lost]})
    raw.append({"gc_full_walks": walks[0], "gc_last_full_walk_seconds": walks[1], "gc_full_walks_forced": walks[2]})
    _draw(out / "streams.png", curve, bare, results, c)
    return _figures(curve, bare, results, count, c, after_close, lost, walks), raw


def _gc_walks(server: RunningServer) -> tuple[float, float, float]:
    """How many walks of everything the gateway's collector made, how long the last one took,
    and how many of them found no quiet moment in a whole period of waiting for one."""
    text = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=30).text
    found = dict(_WALK_LINES.findall(text))
    return (float(found.get("full_walks_total", 0)), float(found.get("last_full_walk_seconds", 0)),
            float(found.get("full_walks_forced_total", 0)))


def _series(results: dict[str, list[WrkResult]], key: str, metric: str) -> Series:
    return Series.of([getattr(r, metric) for r in results[key]], "higher" if metric == "rps" else "lower")


def _figures(curve: _MemoryCurve, bare: _MemoryCurve, results: dict[str, list[WrkResult]], count: int, c: int,
             after_close: float, lost: list[Stream], walks: tuple[float, float, float]) -> list[Figure]:
    memory_note = (f"gateway RSS {curve.rss_mib[0]:.0f} → {curve.rss_mib[-1]:.0f} MiB, "
                   f"{after_close:.0f} MiB after closing them all; bare Gradio {bare.rss_mib[0]:.0f} → "
                   f"{bare.rss_mib[-1]:.0f} MiB; chart: streams.png")
    beside = f"{count:,} streams open ({len(lost)} ended on their own); wrk as alice"
    figures = [
        Figure("j", "j.memory_per_stream", f"memory per open Gradio stream (heartbeat), {count:,} in one process", "KiB",
               Series.of([curve.kib_per_stream]), "bare Gradio, no auth, as many streams", Series.of([bare.kib_per_stream]),
               goal=Goal("value", "<=", 64, "#17.3"), note=memory_note),
        Figure("j", "j.idle_cpu", f"CPU of the process holding {count:,} streams, no request", "%",
               Series.of([curve.cpu_percent]), "bare Gradio holding as many", Series.of([bare.cpu_percent]),
               compare=False, note="the guard re-checks the streams' Django sessions together: one lookup per session a round, at most 50 a second"),
    ]
    if walks[0]:
        figures.append(Figure(
            "j", "j.gc_walk", f"the collector's walk of everything, {count:,} streams open", "ms",
            Series.of([walks[1] * 1000]), f"{PAGE} p99 beside them, {c} conns", _series(results, f"with c{c}", "p99_ms"),
            compare=False,
            note=(f"one pause every GATEWAY['GC_FULL_WALK_SECONDS'] (600 s by default; {WALK_SECONDS} s here: "
                  f"{walks[0]:.0f} in this section), in a moment the process is idle, or after another period without one "
                  f"({walks[2]:.0f} of them); between walks full collections skip what the process keeps"),
        ))
    for connections in (1, c):
        for metric, name, goal in (("p99_ms", "p99", Goal("ratio", "<=", 1.1, "#17.3")), ("p50_ms", "p50", None),
                                   ("rps", "req/s", None)):
            if metric == "rps" and connections == 1:
                continue
            figures.append(Figure(
                "j", f"j.legacy.c{connections}.{metric.removesuffix('_ms')}",
                f"{PAGE} {name} beside {count:,} open streams, {connections} conn{'s' if connections > 1 else ''}",
                "req/s" if metric == "rps" else "ms",
                _series(results, f"with c{connections}", metric), "same process, no stream open",
                _series(results, f"without c{connections}", metric), goal=goal, note=beside,
            ))
    return figures


def _draw(path: Path, curve: _MemoryCurve, bare: _MemoryCurve, results: dict[str, list[WrkResult]], c: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (memory, latency) = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": (3, 2)})
    for label, measured in (("gateway (logged in, guarded)", curve), ("bare Gradio, no auth", bare)):
        memory.plot(measured.steps, measured.rss_mib, marker="o",
                    label=f"{label}: {measured.kib_per_stream:.1f} KiB per stream")
    memory.set_xlabel("open heartbeat streams")
    memory.set_ylabel("RSS of the server process, MiB")
    memory.set_ylim(bottom=0)
    memory.set_title("memory as streams open")
    memory.grid(True, linewidth=0.3)
    memory.legend(fontsize=8)

    groups = [("p50 c1", "p50_ms", 1), ("p99 c1", "p99_ms", 1), (f"p50 c{c}", "p50_ms", c), (f"p99 c{c}", "p99_ms", c)]
    width = 0.38
    states = ((-width / 2, "without", "no stream open"), (width / 2, "with", f"{curve.steps[-1]:,} streams open"))
    for offset, state, label in states:
        values = [min(getattr(r, metric) for r in results[f"{state} c{conns}"]) for _, metric, conns in groups]
        bars = latency.bar([i + offset for i in range(len(groups))], values, width, label=label)
        latency.bar_label(bars, fmt="%.1f", fontsize=7)
    latency.set_xticks(range(len(groups)), [name for name, _, _ in groups])
    latency.set_ylabel(f"{PAGE} latency, ms (best of rounds)")
    latency.set_title(f"legacy page beside them\n(idle, the process holding them uses {curve.cpu_percent:.0f} % CPU)",
                      fontsize=10)
    latency.grid(True, axis="y", linewidth=0.3)
    latency.legend(fontsize=8)
    fig.suptitle(f"(j) {curve.steps[-1]:,} open Gradio streams in one gateway process")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
