"""(e) A 1 GB download and a 1 GB upload, time and the server's peak memory.

The download is a ticket attachment served by Django's ``FileResponse`` (the view checks who
asks, so it goes through the whole stack); the upload is the ticket form's multipart POST
with the CSRF token, as a browser sends it. curl is the client, so the client is not what
is measured. Baselines: gunicorn (sendfile through ``wsgi.file_wrapper``) and Django's own
ASGI handler; plain a2wsgi is shown beside them. Memory is the serving process's peak
resident set during the transfer (``VmHWM`` after a reset) and its growth over the idle RSS.
The size is ``BenchConfig.transfer_mb`` (1 GB: #17.3 asks for flat memory at 1 GB).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from .config import BenchConfig
from .figures import Figure, Goal, Series
from .login import Login, log_in
from .memory import peak_rss
from .servers import A2WSGI_PLAIN, DJANGO_ASGI, GATEWAY, GUNICORN, RunningServer, ServerPool
from .sites import SiteFactory

__all__ = ["measure_transfers"]

FLAT_MEMORY_MIB = 50.0  # "flat": the process grows by under 5 % of the 1 GB moved (#17.3)


def _payload(directory: Path, megabytes: int) -> Path:
    path = directory / f"payload-{megabytes}mb.bin"
    if not path.exists() or path.stat().st_size != megabytes * 1024 * 1024:
        block = bytes(range(256)) * 4096  # 1 MiB
        with path.open("wb") as out:
            for _ in range(megabytes):
                out.write(block)
    return path


def _curl(*args: str) -> list[str]:
    done = subprocess.run(["curl", "-sS", "-o", "/dev/null", *args], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"curl failed: {done.stderr}")
    return done.stdout.split()


def _download(server: RunningServer, login: Login, ticket: int, size: int) -> tuple[float, float, float]:
    with peak_rss(server.process.pid) as memory:
        status, downloaded, seconds = _curl("-w", "%{http_code} %{size_download} %{time_total}",
                                            "-H", f"Cookie: {login.cookie}", f"{server.url}/tickets/{ticket}/attachment")
    if status != "200" or int(downloaded) != size:
        raise RuntimeError(f"{server.name}: download answered {status} with {downloaded} of {size} bytes")
    return float(seconds), memory.peak_mib, memory.growth_mib


def _upload(server: RunningServer, login: Login, payload: Path) -> tuple[float, float, float]:
    with peak_rss(server.process.pid) as memory:
        status, uploaded, seconds = _curl(
            "-w", "%{http_code} %{size_upload} %{time_total}", "-H", f"Cookie: {login.cookie}", "-H", "Expect:",
            "-F", f"csrfmiddlewaretoken={login.csrftoken}", "-F", "title=Bench upload", "-F", "body=bench upload",
            "-F", "priority=normal", "-F", f"attachment=@{payload};type=application/octet-stream",
            f"{server.url}/tickets/new/",
        )
    if status != "302" or int(uploaded) < payload.stat().st_size:
        raise RuntimeError(f"{server.name}: upload answered {status} after {uploaded} bytes (expected 302)")
    for stored in (server.site.media / "attachments").rglob("*"):  # keep the disk from filling up
        if stored.is_file() and "bench" not in stored.parts:
            stored.unlink()
    return float(seconds), memory.peak_mib, memory.growth_mib


def measure_transfers(config: BenchConfig, sites: SiteFactory, pool: ServerPool,
                      log: Any = print) -> tuple[list[Figure], list[dict[str, Any]]]:
    payload = _payload(config.workdir, config.transfer_mb)
    size = payload.stat().st_size
    servers: list[tuple[RunningServer, Login, int]] = []
    for kind in (GUNICORN, GATEWAY, DJANGO_ASGI, A2WSGI_PLAIN):
        site = sites.new(f"transfer-{kind.name}")
        ticket = site.add_attachment(payload)
        server = pool.start(kind, site)
        servers.append((server, log_in(server.url), ticket))
    samples: dict[tuple[str, str, str], list[float]] = {}
    raw: list[dict[str, Any]] = []
    for round_index in range(config.transfer_repeats):
        for direction in ("download", "upload"):
            for server, login, ticket in servers:
                if direction == "download":
                    seconds, peak, growth = _download(server, login, ticket, size)
                else:
                    seconds, peak, growth = _upload(server, login, payload)
                for metric, value in (("seconds", seconds), ("peak_mib", peak), ("growth_mib", growth)):
                    samples.setdefault((server.kind.name, direction, metric), []).append(value)
                raw.append({"server": server.kind.name, "direction": direction, "round": round_index,
                            "seconds": seconds, "peak_rss_mib": peak, "rss_growth_mib": growth, "bytes": size})
                log(f"  (e) round {round_index + 1} {direction:<8} {server.kind.name:<13} {seconds:6.2f} s  "
                    f"peak RSS {peak:6.0f} MiB (+{growth:.0f})")
    for server, _, _ in servers:
        pool.stop(server)
    return _figures(samples, config.transfer_mb), raw


def _size(megabytes: int) -> str:
    return f"{megabytes // 1024} GB" if megabytes % 1024 == 0 else f"{megabytes} MB"


def _figures(samples: dict[tuple[str, str, str], list[float]], megabytes: int) -> list[Figure]:
    figures: list[Figure] = []
    labels = {"gateway": "gateway", "a2wsgi-plain": "plain a2wsgi", "django-asgi": "Django ASGI", "gunicorn": "gunicorn"}
    for direction in ("download", "upload"):
        pairs = [("gateway", "gunicorn", True), ("gateway", "django-asgi", False), ("a2wsgi-plain", "gunicorn", False),
                 ("django-asgi", "gunicorn", False)]
        for name, base, goal in pairs:
            figures.append(Figure(
                "e", f"e.{direction}.{name}.vs.{base}.seconds", f"{_size(megabytes)} {direction} time, {labels[name]}", "s",
                Series.of(samples[(name, direction, "seconds")]), f"{labels[base]}",
                Series.of(samples[(base, direction, "seconds")]),
                goal=Goal("ratio", "<=", 1.0, "#8.2") if goal and direction == "download" else None,
                note="time ratio; throughput is its inverse",
            ))
        for name in ("gateway", "django-asgi", "a2wsgi-plain"):
            peak = Series.of(samples[(name, direction, "peak_mib")])
            figures.append(Figure(
                "e", f"e.{direction}.{name}.rss_growth", f"{_size(megabytes)} {direction} RSS growth, {labels[name]}", "MiB",
                Series.of(samples[(name, direction, "growth_mib")]), "gunicorn worker",
                Series.of(samples[("gunicorn", direction, "growth_mib")]),
                goal=Goal("value", "<=", FLAT_MEMORY_MIB, "#8.2, #17.3 flat memory") if name == "gateway" else None,
                note=f"peak RSS {peak.best:.0f} MiB", compare=False,
            ))
    return figures
