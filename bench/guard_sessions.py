"""(k) 10,000 Gradio sessions and uploads tracked by the guard: what they cost in memory, and
where that memory stops.

The bound measured is the guard's (``pages.ownership``): a login keeps its newest
``MAX_PAGE_SESSIONS_PER_OWNER`` (64) Gradio sessions, opening one more lets go of its oldest;
a user keeps ``MAX_SESSIONS_PER_USER`` (8) logins, a ninth lets go of the least recently used
one with all its records; a login keeps ``MAX_ENTRIES_PER_SESSION`` (4,096) records of any
kind. Whatever the record lets go of, Gradio forgets too (the session's ``SessionState`` in the
page's ``StateHolder``, the upload's progress record). One user therefore holds at most
64 × 8 = 512 sessions' Gradio state, whatever it opens: it can no longer fill Gradio's own cap
(``state_session_capacity``, 10,000 sessions per page, least recently used out, for all users
together) and push everyone else's state out. That cap is still there: 10,000 sessions held by
all users together reach it, and the next one pushes out the least recently used, whoever's.

What a tab is and how each answer is checked: ``bench.guard_tabs``; the run's sizes:
``bench.guard_plan``; its order on one server and the checks after it: ``bench.guard_scenario``;
how memory is read: ``bench.guard_curves``. Extra users (``benchk01``, … with the demo password)
are written into the site's database before the server starts; every login is Django's real
form (``bench.login``), done ``LOGIN_THREADS`` at a time. Nearly all of a login is Django's
password hasher (PBKDF2), and the bridge admits one Django call at a time on shared cores, so
more logins at once do not make them cheaper; their time is in ``k.rss.total``'s note.

The figures:

* ``k.rss.per_tab``: the first curve's growth per tab, read after its warm-up (the first
  ``WARM_TABS_PER_LOGIN`` tabs of each login: first calls, each login's first records,
  connections) to its end. Its baseline is the guard's own records of a tab, measured with
  ``tracemalloc`` on an ``OwnershipRegistry`` in the bench's process (``bench.guard_records``:
  what the server's RSS cannot tell apart). The goal (#17.3) states the cost:
  ≤ ``PER_TAB_GOAL_KIB``, which is Gradio's state but for the guard's small share. At 10,000
  tabs Gradio's holder is exactly at its cap: nothing was pushed out yet.
* ``k.rss.total``: the first curve's RSS at its end, against before its first tab.
* ``k.rss.bound``: the one login past its budget, from tab ``FLAT_FROM`` (well past its
  sessions, where each tab has let go of one) to its end, against what the same tabs cost at
  the first curve's rate. Its first 64 tabs cost little RSS too: the memory the room freed is
  used again. What still grows is measured in the bench's process (``bench.guard_records``) and
  drawn beside it: the login's other records of a tab (event, upload, file: its 4,096 records
  are full at about tab 1,340, and only then is an upload let go of); Gradio's progress record
  of an upload (``FileUploadProgress._signals``, an ``asyncio.Event`` that ``stop_tracking``
  leaves behind, dropped only when the guard lets the upload go); ``Blocks.upload_file_set``,
  the path of every file ever uploaded to the page; and the emptied set of pending event ids
  Gradio's queue keeps per session (``pending_event_ids_session``, emptied but never removed
  once the event completes). The last two nothing bounds. Gradio's queue also keeps the message
  queue of its last ``GRADIO_QUEUE_SESSIONS`` sessions (an ``asyncio.Queue``): full after the
  first curve of the real run, not in ``--quick``, where the flood still adds one a tab. The
  goal (#17.3), ≤ ``FLAT_GOAL_MIB``, leaves room for those records and the allocator's noise,
  and is missed by anything that keeps a session's state (the figure's baseline).
* ``k.disk.uploads``: uploaded files stay on disk in Gradio's upload folder (here the site's
  own ``GRADIO_TEMP_DIR``), one directory each, until Gradio's ``delete_cache``, which no page
  sets: the figure is that folder, against the bytes uploaded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi_gateway.pages.ownership import MAX_ENTRIES_PER_SESSION, MAX_PAGE_SESSIONS_PER_OWNER, MAX_SESSIONS_PER_USER

from .config import BenchConfig
from .figures import Figure, Goal, Series
from .guard_chart import draw_guard_sessions
from .guard_plan import (
    DEMO_USERS,
    FLAT_FROM,
    FLOODER,
    GRADIO_QUEUE_SESSIONS,
    GRADIO_STATE_CAPACITY,
    LOGINS_PER_USER,
    ROOM_LOGINS,
    WARM_TABS_PER_LOGIN,
    Plan,
)
from .guard_records import flood_rest, guard_kib_per_tab
from .guard_scenario import run_scenario
from .guard_tabs import ENTRIES_PER_TAB, UPLOAD_BYTES
from .login import PASSWORD, Login, log_in
from .servers import GATEWAY, ServerPool
from .sites import Site, SiteFactory

__all__ = ["measure_guard_sessions"]

LOGIN_THREADS = 4  # logins at once (see the docstring)
PER_TAB_GOAL_KIB = 64.0
FLAT_GOAL_MIB = 4.0
MIB = 1024 * 1024


def _add_users(site: Site, names: Sequence[str]) -> None:
    """Users with the demo password, written before the server starts (one hash for all)."""
    code = (
        "from django.contrib.auth import get_user_model\n"
        "from django.contrib.auth.hashers import make_password\n"
        "User = get_user_model()\n"
        f"password = make_password({PASSWORD!r})\n"
        f"User.objects.bulk_create([User(username=name, password=password) for name in {list(names)!r}])\n"
    )
    site.manage("shell", "-c", code)


def _log_in_all(url: str, usernames: Sequence[str]) -> list[Login]:
    with ThreadPoolExecutor(LOGIN_THREADS) as pool:
        return list(pool.map(lambda username: log_in(url, username), usernames))


def _disk_use(folder: Path) -> tuple[int, int, int]:
    """Files, bytes in them, and bytes the file system gives them and their directories."""
    files = stored = allocated = 0
    for directory, _, names in os.walk(folder):
        allocated += os.stat(directory).st_blocks * 512
        for name in names:
            info = os.stat(os.path.join(directory, name))
            files += 1
            stored += info.st_size
            allocated += info.st_blocks * 512
    return files, stored, allocated


def measure_guard_sessions(config: BenchConfig, sites: SiteFactory, pool: ServerPool, *, out: Path,
                           log: Any = print) -> tuple[list[Figure], list[dict[str, Any]]]:
    """The section's figures, and the raw steps and counts behind them for ``results.json``."""
    plan = Plan.of(config.quick)
    plan.check()
    site = sites.new("guard-sessions")
    _add_users(site, [name for name in (*plan.users, FLOODER) if name not in DEMO_USERS])
    uploads = site.directory / "gradio-uploads"
    kind = dataclasses.replace(GATEWAY, env=(*GATEWAY.env, ("GRADIO_TEMP_DIR", str(uploads))))
    server = pool.start(kind, site)
    started = time.perf_counter()
    try:
        names = [user for user in plan.users for _ in range(LOGINS_PER_USER)]
        logins = _log_in_all(server.url, [*names, *[plan.users[0]] * ROOM_LOGINS, FLOODER])
        login_seconds = time.perf_counter() - started
        log(f"  (k) {len(logins)} logins through the form, {LOGIN_THREADS} at a time: {login_seconds:.1f} s")
        many_logins, room_logins, flooder = logins[:len(names)], logins[len(names):-1], logins[-1]
        many, one, checks = asyncio.run(run_scenario(server, plan, many_logins, room_logins, flooder, log))
    finally:
        pool.stop(server)
    seconds = time.perf_counter() - started
    failed = [check for check, held in checks.items() if not held]
    if failed:
        raise RuntimeError(f"(k) the guard's record is not what it should be: {failed}")
    files, stored, allocated = _disk_use(uploads)
    guard_kib = guard_kib_per_tab(plan.count, plan.logins, uploads)
    rest = flood_rest(plan.flood, FLAT_FROM, UPLOAD_BYTES, uploads)
    log(f"  (k) {seconds:.0f} s; upload folder: {files:,} files, {stored / MIB:.1f} MiB in them, "
        f"{allocated / MIB:.1f} MiB on disk; the guard's records of a tab: {guard_kib:.2f} KiB; "
        f"a tab past a login's budget still leaves {rest.total:.2f} KiB (its records {rest.guard:.2f}, "
        f"Gradio's progress record {rest.progress:.2f}, upload_file_set {rest.upload_set:.2f}, its queue's "
        f"pending ids {rest.pending_ids:.2f}); checked: "
        + "; ".join(checks))

    warm = plan.warm
    per_tab_kib = many.growth_mib(warm, plan.count) * 1024 / (plan.count - warm)
    measured = plan.flood - FLAT_FROM
    flat_mib = one.growth_mib(FLAT_FROM, plan.flood)
    unbounded_mib = per_tab_kib * measured / 1024
    draw_guard_sessions(out / "guard_sessions.png", plan, many, one, per_tab_kib, rest)
    raw: list[dict[str, Any]] = [
        *({"curve": "many logins", "logins": plan.logins, "tabs": at, "rss_mib": rss} for at, rss in many.steps),
        *({"curve": "one login", "logins": 1, "tabs": at, "rss_mib": rss} for at, rss in one.steps),
        {"upload_files": files, "upload_bytes": stored, "upload_allocated_bytes": allocated,
         "guard_kib_per_tab": guard_kib, "flood_rest_kib_per_tab": dataclasses.asdict(rest),
         "login_seconds": login_seconds, "seconds": seconds, "checks": checks},
    ]
    at_cap = (f"at its {GRADIO_STATE_CAPACITY:,}-session cap, none pushed out" if plan.count == GRADIO_STATE_CAPACITY
              else f"below its {GRADIO_STATE_CAPACITY:,}-session cap")
    queue_full = plan.count >= GRADIO_QUEUE_SESSIONS
    logins_text = f"{len(plan.users)} users × {LOGINS_PER_USER} logins"
    tab = (f"a tab: a load event (queue/join + queue/data) and one {UPLOAD_BYTES}-byte upload (upload + "
           f"upload_progress), {ENTRIES_PER_TAB} guard records")
    return [
        Figure("k", "k.rss.per_tab", f"RSS growth per tab, {plan.count:,} tabs over {logins_text}", "KiB",
               Series.of([per_tab_kib]), "the guard's own records of a tab (tracemalloc, in the bench)",
               Series.of([guard_kib]), goal=Goal("value", "<=", PER_TAB_GOAL_KIB, "#17.3"), compare=False,
               note=f"{tab}; read from tab {warm:,} (warm-up: {WARM_TABS_PER_LOGIN} a login); ≤ "
                    f"{math.ceil(plan.count / plan.logins)} tabs a login, nothing let go of; the rest is Gradio's "
                    "state of the session; chart: guard_sessions.png"),
        Figure("k", "k.rss.total", f"RSS after {plan.count:,} tabs over {logins_text}", "MiB",
               Series.of([many.rss(plan.count)]), "before the first tab", Series.of([many.rss(0)]),
               compare=False, note=f"Gradio's holder {at_cap}; "
                                   f"{plan.count + plan.flood:,} tabs, {len(logins)} logins ({login_seconds:.0f} s) "
                                   f"and the checks in {seconds:.0f} s"),
        Figure("k", "k.rss.bound", f"RSS growth, then one login, tab {FLAT_FROM:,} to {plan.flood:,} (its "
               f"{MAX_PAGE_SESSIONS_PER_OWNER} sessions full at tab {MAX_PAGE_SESSIONS_PER_OWNER})", "MiB",
               Series.of([flat_mib]), "the same tabs at the first curve's rate, were nothing let go of",
               Series.of([unbounded_mib]), goal=Goal("value", "<=", FLAT_GOAL_MIB, "#17.3"), compare=False,
               note=f"{flat_mib * 1024 / measured:.2f} KiB per tab; what a tab still leaves, measured in the bench: "
                    f"{rest.total:.2f} KiB (the login's records {rest.guard:.2f} and Gradio's upload progress "
                    f"{rest.progress:.2f}, both until its {MAX_ENTRIES_PER_SESSION:,} records are full; "
                    f"Blocks.upload_file_set {rest.upload_set:.2f} until its files are swept, older than "
                    f"GATEWAY['PAGE_FILES_KEEP_HOURS'], and the queue's pending ids {rest.pending_ids:.2f})"
                    + ("" if queue_full else f"; Gradio's queue below its {GRADIO_QUEUE_SESSIONS:,} sessions' message "
                                             "queues (≈3 KiB each), which the flood still adds to")
                    + f"; {MAX_PAGE_SESSIONS_PER_OWNER} sessions a login, {MAX_SESSIONS_PER_USER} logins a user"),
        Figure("k", "k.disk.uploads", f"Gradio's upload folder on disk after {files:,} uploads", "MiB",
               Series.of([allocated / MIB]), "the bytes uploaded", Series.of([stored / MIB]), compare=False,
               note="one directory per upload, kept until Gradio's delete_cache sweeps it: the gateway sets it on every page "
                    "from GATEWAY['PAGE_FILES_KEEP_HOURS'] (24 h)"),
    ], raw
