"""(i) How a request's cost grows with the route table: 3, 100 and 1,000 declared routes.

One gateway per table size (``bench.settings_route_count``: synthetic routes declared before
the bundled three, so the real ones are matched last), each answering, at one keep-alive
connection (wrk):

* ``/api/tickets/``: a declared route in ``legacy`` state, the last declared;
* ``/accounts/login/``: a legacy page no route declares, which every route is checked against.

Every server's rounds are interleaved, so all sizes feel the same neighbours. The route table
matches through ``RouteIndex``; the same sizes run once more with every route tried in order
(``BENCH_ROUTE_MATCHING=linear``, how it matched before) to show what the index saves.

The goal (#17.3): per-request cost flat from 3 to 1,000 declared routes: p50 at 1,000 routes
≤ 1.05× p50 at 3 (5 % is the noise of a 4 s run here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import BenchConfig
from .figures import Figure, Goal, Series
from .login import check_page, log_in
from .servers import GATEWAY, RunningServer, ServerKind, ServerPool
from .sites import SiteFactory
from .wrk import run_wrk

__all__ = ["measure_route_count"]

PATHS = {"/api/tickets/": "a declared route (legacy state, declared last)", "/accounts/login/": "a page no route declares"}


def _kind(count: int, matching: str) -> ServerKind:
    env = (("DJANGO_SETTINGS_MODULE", "bench.settings_route_count"), ("BENCH_ROUTE_COUNT", str(count)),
           ("BENCH_ROUTE_MATCHING", matching))
    return ServerKind(f"routes-{count}-{matching}", f"gateway, {count} declared routes, {matching} matching",
                      GATEWAY.target, GATEWAY.runner, GATEWAY.ready_path, env=env)


def measure_route_count(config: BenchConfig, sites: SiteFactory, pool: ServerPool, *, out: Path,
                        log: Any = print) -> tuple[list[Figure], list[dict[str, Any]]]:
    counts = (3, 100, 1_000)
    duration = max(2.0, config.duration * 0.4)
    servers: dict[tuple[int, str], RunningServer] = {}
    for count in counts:
        for matching in ("index", "linear"):
            servers[count, matching] = pool.start(_kind(count, matching), sites.new(f"routes-{count}-{matching}"))
    logins = {key: log_in(server.url) for key, server in servers.items()}
    p50: dict[tuple[int, str, str], list[float]] = {}
    raw: list[dict[str, Any]] = []
    try:
        for key, server in servers.items():
            check_page(server.url, "/api/tickets/", logins[key], "Alice:")
            run_wrk(server.url + "/api/tickets/", cookie=logins[key].cookie, connections=1, duration=config.warmup)
        for round_index in range(config.repeats):
            for (count, matching), server in servers.items():
                for path in PATHS:
                    result = run_wrk(server.url + path, cookie=logins[count, matching].cookie, connections=1,
                                     duration=duration)
                    if result.failed:
                        raise RuntimeError(f"{server.name} {path}: {result.failed} failed requests: {result.errors}")
                    p50.setdefault((count, matching, path), []).append(result.p50_ms)
                    raw.append({"routes": count, "matching": matching, "path": path, "round": round_index,
                                **result.as_json()})
                log(f"  (i) {count:>5} routes, {matching:<6} " + "  ".join(
                    f"{path} p50 {p50[count, matching, path][-1]:.2f} ms" for path in PATHS))
    finally:
        for server in servers.values():
            pool.stop(server)
    _draw(out / "routes.png", p50, counts)
    first, last = counts[0], counts[-1]
    note = f"wrk, 1 connection, {duration:g} s per run; chart: routes.png"
    figures = [
        Figure("i", f"i.routes.{key}.p50", f"{path} p50 at {last:,} declared routes ({label})", "ms",
               Series.of(p50[last, "index", path]), f"the same at {first} routes", Series.of(p50[first, "index", path]),
               goal=Goal("ratio", "<=", 1.05, "#17.3"), note=note)
        for key, (path, label) in zip(("declared", "undeclared"), PATHS.items())
    ]
    figures += [
        Figure("i", f"i.routes.{key}.p50.linear", f"{path} p50 at {last:,} routes, every route tried in order (before)",
               "ms", Series.of(p50[last, "linear", path]), f"the same at {first} routes",
               Series.of(p50[first, "linear", path]), note=note)
        for key, path in zip(("declared", "undeclared"), PATHS)
    ]
    return figures, raw


def _draw(path: Path, p50: dict[tuple[int, str, str], list[float]], counts: tuple[int, ...]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for url, label in PATHS.items():
        for matching, style in (("index", "-"), ("linear", ":")):
            ax.plot(list(counts), [min(p50[count, matching, url]) for count in counts], style, marker="o",
                    label=f"{url} ({label}), {'RouteIndex' if matching == 'index' else 'every route in order'}")
    ax.set_xscale("log")
    ax.set_xlabel("declared routes")
    ax.set_ylabel("p50 at 1 connection (ms)")
    ax.set_ylim(bottom=0)
    ax.set_title("(i) per-request cost vs declared routes")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
