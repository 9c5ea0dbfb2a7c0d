"""wrk, Debian's HTTP load generator, driven with the session cookie of a real login.

``wrk_session.lua`` adds the Cookie header (and ``Connection: close`` when asked) and prints
one JSON line with the percentiles; the ``--latency`` text is parsed too, as a cross-check
of the request rate.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["WrkResult", "require_wrk", "run_wrk"]

LUA_SCRIPT = Path(__file__).with_name("wrk_session.lua")
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)


@dataclass(frozen=True)
class WrkResult:
    url: str
    connections: int
    threads: int
    duration_s: float
    close: bool
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: `apt-get install -y wrk` (or `make bench`, which does it)")
    return path


def run_wrk(url: str, *, cookie: str, connections: int, duration: float, close: bool = False, threads: int = 1,
            think_ms: float = 0.0) -> WrkResult:
    """One wrk run. One wrk thread by default: on two cores, every core wrk takes is one the
    server under test does not get, and one thread drives far more than these servers serve.
    ``think_ms``: each connection waits a random time of this mean before its next request
    (people reading pages, not a client sending back to back); the latency excludes it."""
    threads = max(1, min(threads, connections))
    seconds = max(1, round(duration))
    command = [require_wrk(), "--latency", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
               "-s", str(LUA_SCRIPT), url]
    env = {**os.environ, "BENCH_COOKIE": cookie, "BENCH_CONNECTION_CLOSE": "1" if close else "0",
           "BENCH_THINK_MS": str(think_ms)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60)
    line = next((line for line in done.stdout.splitlines() if line.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    duration_s = data["duration_us"] / 1e6
    rps = data["requests"] / duration_s if duration_s else 0.0
    printed = _RATE.search(done.stdout)
    if printed and abs(float(printed.group(1)) - rps) > max(1.0, 0.02 * rps):
        raise RuntimeError(f"wrk's printed rate {printed.group(1)} disagrees with its summary ({rps:.1f})")
    return WrkResult(
        url=url, connections=connections, threads=threads, duration_s=duration_s, close=close,
        requests=data["requests"], rps=rps,
        p50_ms=data["p50_us"] / 1000, p90_ms=data["p90_us"] / 1000, p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000, errors=data["errors"],
    )
