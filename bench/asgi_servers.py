"""The gateway under another ASGI server, against uvicorn and granian's WSGI (#17.1), on demand.

``python -m bench.asgi_servers [--connections 1,16] [--rounds 5] [--duration 4]``

Would serving the gateway on granian's ASGI interface (its HTTP in Rust, off the GIL) close
the gap to granian's WSGI, and what does the gateway's own protocol cost? Five servers, one
process each, each on its own copy of the site:

- the gateway on plain uvicorn (``--http httptools``, as ``python -m bench`` runs it at one
  process);
- the gateway as ``python -m fastapi_gateway`` serves it: uvicorn with the gateway's
  ``LimitedHttpToolsProtocol`` (head limits and timeouts, send timeouts), under its supervisor;
- the gateway on ``granian --interface asgi``, with its multi-threaded and its
  single-threaded Rust runtime;
- ``granian --interface wsgi`` serving Django alone (the anchor).

wrk asks each for ``/tickets/`` as alice, round by round in a rotating order, so slow minutes
hit every server. Per server: the median req/s, p50 and p99 over the rounds, and the CPU per
request (the lowest over the rounds; at one connection nothing overlaps) of the thread(s)
doing the HTTP (uvicorn's event loop, the launcher's worker's too; granian's ``tokio``
threads, which its single-threaded runtime does not name so: 0 there) and of the whole process.

Not part of ``python -m bench``: a question asked once, its answer in issue #17's notes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .legacy_load import PAGE, PAGE_MARKER, _cpu_split
from .login import check_page, log_in
from .servers import GATEWAY, GATEWAY_SERVE, GRANIAN, ServerKind, ServerPool
from .sites import SiteFactory
from .wrk import require_wrk, run_wrk


@dataclass(frozen=True)
class _GranianAsgi(ServerKind):
    runtime_mode: str = "auto"

    def argv(self, port: int, workers: int) -> list[str]:
        return [sys.executable, "-m", "granian", "--interface", "asgi", self.target, "--host", "127.0.0.1",
                "--port", str(port), "--workers", str(workers), "--no-ws", "--loop", "uvloop",
                "--runtime-mode", self.runtime_mode]


KINDS = (
    GATEWAY,
    GATEWAY_SERVE,
    GRANIAN,
    _GranianAsgi("gateway-granian-asgi", "gateway on granian --interface asgi", "fastapi_gateway.asgi:app", "granian",
                 "/healthz", runtime_mode="mt"),
    _GranianAsgi("gateway-granian-asgi-st", "gateway on granian --interface asgi --runtime-mode st",
                 "fastapi_gateway.asgi:app", "granian", "/healthz", runtime_mode="st"),
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.asgi_servers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", default="1,16", help="wrk connections, comma-separated (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per wrk run (default: %(default)s)")
    arguments = parser.parse_args(argv)
    connections = [int(c) for c in arguments.connections.split(",")]
    require_wrk()
    runs: dict[tuple[str, int], list[tuple[float, float, float, float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-asgi-") as root, ServerPool().session() as pool:
        sites = SiteFactory(Path(root))
        started = []
        for kind in KINDS:
            server = pool.start(kind, sites.new(kind.name))
            login = log_in(server.url)
            check_page(server.url, PAGE, login, PAGE_MARKER)
            run_wrk(server.url + PAGE, cookie=login.cookie, connections=4, duration=2)  # warm up
            started.append((server, login))
        for round_index in range(arguments.rounds):
            order = started[round_index % len(started):] + started[:round_index % len(started)]
            for count in connections:
                for server, login in order:
                    before = _cpu_split(server)
                    result = run_wrk(server.url + PAGE, cookie=login.cookie, connections=count, duration=arguments.duration)
                    used = _cpu_split(server) - before
                    if result.failed or not result.requests:
                        raise RuntimeError(f"{server.kind.name}: {result.failed} failed requests: {result.errors}")
                    runs.setdefault((server.kind.name, count), []).append((
                        result.rps, result.p50_ms, result.p99_ms,
                        used.http * 1000 / result.requests, used.total * 1000 / result.requests))
                    print(f"round {round_index + 1} c={count:<2} {server.kind.name:<24} {result.rps:7.1f} req/s "
                          f"p50 {result.p50_ms:6.2f} ms p99 {result.p99_ms:7.2f} ms", flush=True)
        for server, login in started:
            check_page(server.url, PAGE, login, PAGE_MARKER)
    print(f"\n{'server':<24} {'c':>3} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'HTTP CPU/req':>13} {'CPU/req':>8}")
    for (name, count), figures in sorted(runs.items(), key=lambda item: (item[0][1], item[0][0])):
        print(f"{name:<24} {count:>3} {statistics.median(f[0] for f in figures):8.1f} "
              f"{statistics.median(f[1] for f in figures):8.2f} {statistics.median(f[2] for f in figures):8.2f} "
              f"{min(f[3] for f in figures):10.2f} ms {min(f[4] for f in figures):5.2f} ms")


if __name__ == "__main__":
    main()
