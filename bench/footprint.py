"""(f) Memory of a gateway process with every page loaded, and cold start to first answer.

Memory: one worker process, after every legacy page (as alice, as admin and anonymous),
every admin change list, the new API and its docs, both Gradio pages with their config and
one event. The baseline is a gunicorn worker after the same legacy pages. Cold start: from
``Popen`` to the first 200 on ``/healthz`` and then on ``/tickets/`` (a session made
earlier on the same database), against gunicorn's first 200 on ``/tickets/``; the OS file
cache is warm (a server was started on the same files just before), as on a restart. Idle
CPU: the process tree's CPU time over ``IDLE_SECONDS`` with no request, after the pages (a
gateway whose Gradio queues polled every millisecond spent 4.9 % of a CPU doing nothing).
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from tests.gradio_protocol import fn_index_of, new_session_hash, parse_sse

from .config import BenchConfig
from .figures import Figure, Goal, Series
from .login import Login, log_in
from .memory import process_tree, rss_mib
from .servers import GATEWAY, GUNICORN, RunningServer, ServerPool
from .sites import Site, SiteFactory

__all__ = ["measure_footprint"]

IDLE_SECONDS = 5.0

_ADMIN_LIST = re.compile(r'href="(/admin/[a-z_]+/[a-z_]+/)"')


def _get(client: httpx.Client, path: str, **kwargs: Any) -> httpx.Response:
    answer = client.get(path, **kwargs)
    if answer.status_code != 200:
        raise RuntimeError(f"{client.base_url}{path}: {answer.status_code}")
    return answer


def _load_every_page(server: RunningServer, *, gateway: bool) -> int:
    """Every page a user of this server can open; returns how many were loaded."""
    loaded = 0
    alice, admin = log_in(server.url, "alice"), log_in(server.url, "admin")
    with httpx.Client(base_url=server.url, timeout=60) as anonymous:
        for path in ("/accounts/login/", "/accounts/password_reset/"):
            _get(anonymous, path)
            loaded += 1
    with httpx.Client(base_url=server.url, cookies=alice.cookies, timeout=60) as client:
        ticket = _get(client, "/api/tickets/").json()[0]["id"]
        legacy = ["/", "/tickets/", "/tickets/?status=open", "/tickets/new/", f"/tickets/{ticket}/",
                  "/tickets/export.csv", "/api/tickets/", f"/api/tickets/{ticket}/"]
        new = ["/healthz", "/api/v2/tickets", "/api/v2/me"] if gateway else []
        for path in legacy + new:
            _get(client, path)
            loaded += 1
        if gateway:
            for mount in ("/ui/tickets", "/ui/assistant"):
                _get(client, f"{mount}/", headers={"Accept": "text/html"})
                _get(client, f"{mount}/config")
                loaded += 1
            _gradio_event(client)
    with httpx.Client(base_url=server.url, cookies=admin.cookies, timeout=60) as client:
        index = _get(client, "/admin/").text
        pages = sorted(set(_ADMIN_LIST.findall(index)))
        extra = ["/metrics", "/api/v2/docs", "/api/v2/openapi.json"] if gateway else []
        for path in pages + extra:
            _get(client, path)
            loaded += 1
    return loaded + 1


def _gradio_event(client: httpx.Client) -> None:
    fn_index = fn_index_of(_get(client, "/ui/tickets/config").json(), "signed_in_text")
    session_hash, origin = new_session_hash(), {"Origin": str(client.base_url).rstrip("/")}
    client.post("/ui/tickets/gradio_api/queue/join", headers=origin,
                json={"data": [], "fn_index": fn_index, "session_hash": session_hash}).raise_for_status()
    stream = client.get("/ui/tickets/gradio_api/queue/data", params={"session_hash": session_hash}, headers=origin)
    if not any(m.get("msg") == "process_completed" for m in parse_sse(stream.text)):
        raise RuntimeError(f"Gradio event did not complete: {stream.text[:300]}")


def _idle_cpu_percent(pid: int, seconds: float = IDLE_SECONDS) -> float:
    """Percent of one CPU the process tree uses while nobody sends it anything."""
    processes = process_tree(pid)
    before = sum(sum(process.cpu_times()[:2]) for process in processes)
    time.sleep(seconds)
    return (sum(sum(process.cpu_times()[:2]) for process in processes) - before) / seconds * 100


def _cold_start(pool: ServerPool, site: Site, login: Login, *, gateway: bool) -> tuple[float | None, float]:
    server = pool.spawn(GATEWAY if gateway else GUNICORN, site)
    try:
        health = server.wait_ready(path="/healthz") if gateway else None
        legacy = server.wait_ready(path="/tickets/", cookie=login.cookie)
    finally:
        pool.stop(server)
    return health, legacy


def measure_footprint(config: BenchConfig, sites: SiteFactory, pool: ServerPool,
                      log: Any = print) -> tuple[list[Figure], list[dict[str, Any]]]:
    raw: list[dict[str, Any]] = []
    rss: dict[str, tuple[float, float, int]] = {}
    idle_cpu: dict[str, float] = {}
    logins: dict[str, tuple[Site, Login]] = {}
    for kind in (GATEWAY, GUNICORN):
        site = sites.new(f"footprint-{kind.name}")
        server = pool.start(kind, site)
        time.sleep(1.0)
        idle = rss_mib(server.process.pid)
        pages = _load_every_page(server, gateway=kind is GATEWAY)
        time.sleep(1.0)
        loaded = rss_mib(server.process.pid)
        rss[kind.name] = (idle, loaded, pages)
        idle_cpu[kind.name] = _idle_cpu_percent(server.process.pid)
        log(f"  (f) {kind.name:<9} idle CPU {idle_cpu[kind.name]:.2f} % over {IDLE_SECONDS:.0f} s")
        logins[kind.name] = (site, log_in(server.url))
        raw.append({"server": kind.name, "idle_rss_mib": idle, "loaded_rss_mib": loaded, "pages": pages,
                    "idle_cpu_percent": idle_cpu[kind.name]})
        log(f"  (f) {kind.name:<9} RSS idle {idle:6.1f} MiB, after {pages} pages {loaded:6.1f} MiB")
        pool.stop(server)
    health: list[float] = []
    first: dict[str, list[float]] = {"gateway": [], "gunicorn": []}
    for round_index in range(config.cold_start_repeats):
        for name in ("gateway", "gunicorn"):
            site, login = logins[name]
            ready, legacy = _cold_start(pool, site, login, gateway=name == "gateway")
            if ready is not None:
                health.append(ready)
            first[name].append(legacy)
            raw.append({"server": name, "round": round_index, "healthz_s": ready, "first_legacy_200_s": legacy})
            log(f"  (f) round {round_index + 1} cold start {name:<9} "
                + (f"/healthz {ready:5.2f} s, " if ready is not None else "") + f"/tickets/ {legacy:5.2f} s")
    gateway_idle, gateway_rss, gateway_pages = rss["gateway"]
    gunicorn_idle, gunicorn_rss, gunicorn_pages = rss["gunicorn"]
    return [
        Figure("f", "f.rss.gateway", f"RSS of one gateway process after {gateway_pages} pages", "MiB",
               Series.of([gateway_rss]), f"gunicorn worker after its {gunicorn_pages} legacy pages",
               Series.of([gunicorn_rss]), goal=Goal("value", "<=", 250, "#8.2"),
               note=f"idle after start: gateway {gateway_idle:.0f} MiB, gunicorn {gunicorn_idle:.0f} MiB"),
        Figure("f", "f.idle_cpu", f"CPU of an idle gateway process after its pages, over {IDLE_SECONDS:.0f} s", "%",
               Series.of([idle_cpu["gateway"]]), "gunicorn, idle after its pages", Series.of([idle_cpu["gunicorn"]]),
               compare=False, note="growth over a near-zero baseline: the value is the figure"),
        Figure("f", "f.cold_start.healthz", "cold start: spawn → first 200 on /healthz", "s",
               Series.of(health), "gunicorn: spawn → first 200 on /tickets/", Series.of(first["gunicorn"]),
               goal=Goal("value", "<=", 4.0, "#8.2")),
        Figure("f", "f.cold_start.legacy", "cold start: spawn → first 200 on /tickets/ (logged in)", "s",
               Series.of(first["gateway"]), "gunicorn: spawn → first 200 on /tickets/", Series.of(first["gunicorn"]),
               goal=Goal("value", "<=", 4.0, "#8.2")),
    ], raw
