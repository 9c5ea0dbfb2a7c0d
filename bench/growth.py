"""(h) How a list's cost grows with the data: alice's tickets grow from 200 to 10,000.

At each size the gateway answers, one request after another on one keep-alive client:

* ``/api/v2/tickets``: the first page (100 tickets), the new side's default;
* ``/api/v2/tickets?cursor=…``: a page from the middle of the list (the cursor of the ticket
  half-way down, as a client paging through would hold), always a full page with a next one,
  so every size serializes the same 100 tickets;
* ``/api/tickets/``: the legacy API, every visible ticket in one answer (Django, through the
  bridge); what the new side also answers for that old URL, for its old clients.

The goal (#17.3): a page costs the same at 10,000 tickets as at 200 (ratio ≤ 1.5, allowing
for the index being deeper), while the whole list grows with the data. The smallest size is
200, not 100: at 100 tickets the page half-way down holds 49 tickets, and comparing a page of
100 with one of 49 measured serialization, not growth (1.52× in the run at 4658617). The tickets are
written straight into the site's SQLite file between sizes (the server keeps running).
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from .config import BenchConfig
from .figures import Figure, Goal, Series
from .login import log_in
from .servers import GATEWAY, ServerPool
from .sites import SiteFactory

__all__ = ["measure_growth"]

PAGE_V2 = "/api/v2/tickets (first page of 100)"
DEEP_V2 = "/api/v2/tickets (a page half-way down)"
WHOLE = "/api/tickets/ (legacy: the whole list)"
PAGE_SIZE = 100  # api_v2.routes.DEFAULT_PAGE_SIZE


def _encode_cursor(moment: datetime, pk: int) -> str:
    """``api_v2.pagination.encode_cursor``, loaded from its file: importing the ``api_v2``
    package would set Django up in the bench's own process."""
    import importlib.util

    from .sites import ROOT

    spec = importlib.util.spec_from_file_location("_bench_pagination", ROOT / "api_v2" / "pagination.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return str(module.encode_cursor(moment, pk))


def _grow_to(database: Path, username: str, count: int) -> tuple[datetime, int]:
    """Give ``username`` ``count`` tickets in all; returns the (created_at, id) of the one half-way down,
    or higher on a small list, so the page after it is a full page with another after it."""
    with sqlite3.connect(database, timeout=30) as connection:
        (owner,) = connection.execute("SELECT id FROM auth_user WHERE username = ?", (username,)).fetchone()
        (have,) = connection.execute("SELECT COUNT(*) FROM tickets_ticket WHERE owner_id = ?", (owner,)).fetchone()
        start = datetime(2025, 1, 1, tzinfo=timezone.utc)
        rows = []
        for n in range(have, count):
            moment = (start + timedelta(seconds=n)).strftime("%Y-%m-%d %H:%M:%S.%f")
            rows.append((f"Grown ticket {n}", "written by bench.growth", "open", "normal", owner, moment, moment, ""))
        connection.executemany(
            "INSERT INTO tickets_ticket (title, body, status, priority, owner_id, created_at, updated_at, attachment)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows,
        )
        connection.commit()
        created, pk = connection.execute(
            "SELECT created_at, id FROM tickets_ticket WHERE owner_id = ? ORDER BY created_at DESC, id DESC"
            " LIMIT 1 OFFSET ?", (owner, min(count // 2, count - PAGE_SIZE - 2)),
        ).fetchone()
    return datetime.fromisoformat(created).replace(tzinfo=timezone.utc), int(pk)


def _p50(client: httpx.Client, url: str, count: int) -> float:
    for _ in range(3):
        client.get(url).raise_for_status()  # warm: plans, caches
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        client.get(url).raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def measure_growth(config: BenchConfig, sites: SiteFactory, pool: ServerPool, *, out: Path,
                   log: Any = print) -> tuple[list[Figure], list[dict[str, Any]]]:
    sizes = (200, 1_000, 10_000) if not config.quick else (200, 1_000)
    requests = 40 if not config.quick else 10
    site = sites.new("growth")
    server = pool.start(GATEWAY, site)
    login = log_in(server.url)
    p50: dict[str, dict[int, list[float]]] = {PAGE_V2: {}, DEEP_V2: {}, WHOLE: {}}
    raw: list[dict[str, Any]] = []
    try:
        with httpx.Client(base_url=server.url, cookies=login.cookies, timeout=120) as client:
            for size in sizes:
                moment, pk = _grow_to(site.database, "alice", size)
                urls = {PAGE_V2: "/api/v2/tickets", DEEP_V2: f"/api/v2/tickets?cursor={_encode_cursor(moment, pk)}",
                        WHOLE: "/api/tickets/"}
                whole = client.get("/api/tickets/").json()
                if len(whole) != size:
                    raise RuntimeError(f"alice should have {size} tickets, the legacy API lists {len(whole)}")
                deep = client.get(urls[DEEP_V2])
                if len(deep.json()) != PAGE_SIZE or 'rel="next"' not in deep.headers.get("link", ""):
                    raise RuntimeError(f"the page half-way down should be a full page of {PAGE_SIZE} with a next one")
                for round_index in range(config.repeats):
                    for label, url in urls.items():
                        value = _p50(client, url, requests)
                        p50[label].setdefault(size, []).append(value)
                        raw.append({"size": size, "url": label, "round": round_index, "p50_ms": value})
                log("  (h) " + "  ".join(f"{size} tickets {label.split(' (')[0]}: {min(p50[label][size]):.2f} ms"
                                         for label in urls))
    finally:
        pool.stop(server)
    _draw(out / "growth.png", p50, sizes)
    smallest, largest = sizes[0], sizes[-1]
    figures = [
        Figure("h", f"h.growth.{key}", f"{label} p50 at {largest:,} tickets", "ms",
               Series.of(p50[label][largest]), f"the same at {smallest:,} tickets", Series.of(p50[label][smallest]),
               goal=goal, note=f"{requests} sequential requests per size and round; chart: growth.png")
        for key, label, goal in (
            ("page", PAGE_V2, Goal("ratio", "<=", 1.5, "#17.3")),
            ("deep", DEEP_V2, Goal("ratio", "<=", 1.5, "#17.3")),
            ("whole", WHOLE, None),
        )
    ]
    return figures, raw


def _draw(path: Path, p50: dict[str, dict[int, list[float]]], sizes: tuple[int, ...]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, by_size in p50.items():
        ax.plot(list(sizes), [min(by_size[size]) for size in sizes], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("alice's tickets in the database")
    ax.set_ylabel("p50 per request, ms (best of rounds)")
    ax.set_title("(h) a page stays flat as the data grows; the whole list does not")
    ax.grid(True, which="both", linewidth=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
