"""(k) 10,000 Gradio sessions and uploads tracked by the guard: what they cost in memory, and
where that memory stops.

A tab is what a browser tab of ``/ui/tickets`` makes that the guard records for its owner (a
*login*: the Django user *and* Django session, ``pages.ownership.Owner``): the page's load
event ``signed_in_text`` (``queue/join``, which claims a new ``session_hash`` and is granted the
``event_id`` it answers, then ``queue/data`` read to ``process_completed``) and one upload of
``UPLOAD_BYTES`` bytes of its own, as Gradio's file component sends it (``upload?upload_id=…``,
multipart, which claims the ``upload_id`` and is granted the file's path, then the
``upload_progress`` stream it opens, read to ``done``): four records per tab. The page's
heartbeat is left out: it claims the same ``session_hash`` the join claims, and (j) measures it.
No example page has a file component, but Gradio serves ``/upload`` on every page, so the
tickets page takes the uploads. Every answer is checked (status, the event's output, one path
uploaded, ``done``); the section fails on any that is not what a browser would get.

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

Memory is the RSS of the one gateway process (uvicorn, one worker), settled a second at each
step. Extra users (``benchk01``, … with the demo password) are written into the site's
database before the server starts; every login is Django's real form (``bench.login``), done
``LOGIN_THREADS`` at a time. Each costs 0.25 to 0.5 s here, with the other work on the machine,
nearly all of it Django's password hasher (PBKDF2, 1,000,000 iterations: 0.23 s alone); one,
two or four at a time measured the same, 0.26 s a login (the bridge admits one Django call at
a time, one more each 20 ms it runs, and the two cores are shared): the 163 logins of the real
run are 40 to 70 s of its 4 minutes or so. One server, in order:

* *many logins, nothing let go of*: ``count`` tabs (10,000; 1,000 in ``--quick``) over
  ``users`` × 8 logins (20 × 8 = 160: 62 or 63 tabs each; 4 × 8 in ``--quick``), the logins
  taken in turn, so no login passes its 64 sessions and nothing leaves the record or Gradio.
  The first ``WARM_TABS_PER_LOGIN`` tabs of each login are the warm-up (first calls, each
  login's first records, connections); the figure is the growth per tab from there to the end,
  its baseline the guard's own records of a tab, measured with ``tracemalloc`` on an
  ``OwnershipRegistry`` in the bench's process (what the server's RSS cannot tell apart). The
  goal (#17) states the cost: ≤ ``PER_TAB_GOAL_KIB``, which is Gradio's state but for the
  guard's small share. At 10,000 tabs Gradio's holder is exactly at its cap: nothing was
  pushed out yet.
* *room*: the first user's logins are used once more one after the other (each rejoins its
  first tab: no new session), then its ninth and tenth logins each open a tab: the guard lets
  go of its two least recently used logins, their tabs and Gradio's state of them. The holder
  is below its cap again, and the next curve shows the guard's bound, not Gradio's cap.
* *one login past its budget*: a new login (of a user of its own) opens ``flood`` tabs (1,000;
  400 in ``--quick``). From its 65th tab on, each tab lets go of its oldest, Gradio's state
  with it. Its first 64 tabs cost little RSS too: the memory the room freed is used again. The
  figure is the growth from tab ``FLAT_FROM`` (well past 64, where each tab has let go of one)
  to the end, the reference what the same tabs cost at the first curve's rate. What still grows
  is measured in the bench's process (``tracemalloc``) and drawn beside it: the login's other
  records of a tab (event, upload, file: its 4,096 records are full at about tab 1,340, and
  only then is an upload let go of); Gradio's progress record of an upload
  (``FileUploadProgress._signals``, an ``asyncio.Event`` that ``stop_tracking`` leaves behind,
  dropped only when the guard lets the upload go); ``Blocks.upload_file_set``, the path of
  every file ever uploaded to the page; and the emptied set of pending event ids Gradio's queue
  keeps per session (``pending_event_ids_session``, emptied but never removed once the event
  completes). The last two nothing bounds: about 0.3 KiB each per tab. Gradio's queue also
  keeps the message queue of its last ``GRADIO_QUEUE_SESSIONS`` sessions (an ``asyncio.Queue``,
  about 3 KiB): full after the first curve of the real run, not in ``--quick``, where the flood
  still adds one a tab. The goal, ≤ ``FLAT_GOAL_MIB`` over the 900 tabs (≈ 4.5 KiB a tab, a
  tenth of a tab's Gradio state), leaves room for those records (2.3 KiB a tab, 2.0 MiB; the
  run measured 2.1) and the allocator's noise, and is missed by anything that keeps a
  session's state (40 MiB at the first curve's 45 KiB a tab).

Then the checks, each a request a browser could send: another user joining a live tab of the
first curve gets 403; the first user's first login, let go of by its ninth, gets 403 on
``queue/data`` of its own first tab; the flooding login joining its own newest tab works
(200, the event completes); its oldest tab, let go of, is refused to it (403 on
``queue/data``); and another login joining that freed ``session_hash`` works (200, its own
name in the answer: a fresh session; that Gradio's state of it is fresh is
``tests/gateway/pages/test_ownership.py::test_a_tab_past_the_logins_budget_takes_gradios_state_of_the_oldest_with_it``).

Uploaded files stay on disk in Gradio's upload folder (here the site's own
``GRADIO_TEMP_DIR``), one directory each, until Gradio's ``delete_cache``, which no page sets:
the last figure is that folder.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import secrets
import time
import tracemalloc
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from fastapi_gateway.pages.ownership import (
    MAX_ENTRIES_PER_SESSION,
    MAX_PAGE_SESSIONS_PER_OWNER,
    MAX_SESSIONS_PER_USER,
    Kind,
    Owner,
    OwnershipRegistry,
)
from tests.gradio_protocol import fn_index_of, new_session_hash, parse_sse

from .config import BenchConfig
from .figures import Figure, Goal, Series
from .guard_records import FloodRest, flood_rest, guard_kib_per_tab
from .login import PASSWORD, Login, log_in
from .memory import rss_mib
from .servers import GATEWAY, RunningServer, ServerPool
from .sites import Site, SiteFactory

__all__ = ["measure_guard_sessions"]

MOUNT = "/ui/tickets"
EVENT = "signed_in_text"
DEMO_USERS = ("alice", "bob", "admin")  # what ``manage.py seed_demo`` makes; the rest are written here
EXTRA_USER = "benchk{:02d}"  # letters and digits: the page escapes Markdown in the name it shows
FLOODER = "benchkflood"  # a user of its own: its one login floods
LOGINS_PER_USER = MAX_SESSIONS_PER_USER  # every user at its most logins: none let go of
ROOM_LOGINS = 2  # more logins of the first user, each letting go of one of its first
ENTRIES_PER_TAB = 4  # the session, its event, the upload, the uploaded file
UPLOAD_BYTES = 300
IN_FLIGHT = 4  # tabs driven at once
LOGIN_THREADS = 4  # logins at once (see the docstring)
WARM_TABS_PER_LOGIN = 2
SETTLE_SECONDS = 1.0
GRADIO_STATE_CAPACITY = 10_000  # gr.Blocks().state_session_capacity, which mount_gradio_app keeps
GRADIO_QUEUE_SESSIONS = 2_000  # gradio.queueing.Queue.pending_messages_per_session, an LRUCache
FLAT_FROM = 100  # the flood's growth is read from here: past its 64 sessions, with some margin
PER_TAB_GOAL_KIB = 64.0
FLAT_GOAL_MIB = 4.0
MIB = 1024 * 1024


@dataclass(frozen=True)
class _Plan:
    users: tuple[str, ...]  # the first curve's users, LOGINS_PER_USER logins each
    count: int  # the first curve's tabs
    many_steps: tuple[int, ...]
    flood: int  # the flooding login's tabs
    flood_steps: tuple[int, ...]

    @property
    def logins(self) -> int:
        return len(self.users) * LOGINS_PER_USER

    @property
    def warm(self) -> int:
        return WARM_TABS_PER_LOGIN * self.logins

    def tabs_of(self, login: int) -> int:
        """Tabs the first curve gives its ``login``-th login (taken in turn)."""
        return self.count // self.logins + (login < self.count % self.logins)

    @classmethod
    def of(cls, quick: bool) -> _Plan:
        users, count, flood = (4, 1_000, 400) if quick else (20, 10_000, 1_000)
        names = (*DEMO_USERS, *(EXTRA_USER.format(n) for n in range(1, users - len(DEMO_USERS) + 1)))
        logins = users * LOGINS_PER_USER
        many_steps = (0, WARM_TABS_PER_LOGIN * logins, *range(count // 5, count + 1, count // 5))
        flood_steps = (0, MAX_PAGE_SESSIONS_PER_OWNER // 2, MAX_PAGE_SESSIONS_PER_OWNER, FLAT_FROM,
                       *range(flood // 4, flood + 1, flood // 4))
        return cls(names, count, many_steps, flood, tuple(sorted(set(flood_steps))))

    def check(self) -> None:
        if math.ceil(self.count / self.logins) > MAX_PAGE_SESSIONS_PER_OWNER:
            raise AssertionError("the first curve must keep every login within its sessions")
        if math.ceil(self.count / self.logins) * ENTRIES_PER_TAB > MAX_ENTRIES_PER_SESSION:
            raise AssertionError("the first curve must keep every login within its records")
        freed = self.tabs_of(0) + self.tabs_of(1)  # the first user's two least recently used logins
        held = self.count - freed + ROOM_LOGINS + MAX_PAGE_SESSIONS_PER_OWNER + 1  # +1: the freed hash rejoined
        if self.count > GRADIO_STATE_CAPACITY or held > GRADIO_STATE_CAPACITY:
            raise AssertionError("Gradio's holder must never pass its cap: the bound shown must be the guard's")
        if not (self.many_steps[1] < self.many_steps[2] and self.many_steps[-1] == self.count):
            raise AssertionError("the first curve's steps: 0, the warm-up, then up to its size")
        if not (FLAT_FROM in self.flood_steps and self.flood_steps[-1] == self.flood):
            raise AssertionError("the flood's steps hold FLAT_FROM and end at its size")


class _TabFailed(Exception):
    pass


@dataclass
class _Owner:
    login: Login
    client: httpx.AsyncClient


@dataclass
class _Curve:
    """RSS (MiB) after ``tabs`` tabs, step by step, and each tab's ``session_hash`` by its number."""

    name: str
    steps: list[tuple[int, float]] = field(default_factory=list)
    session_hashes: dict[int, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def rss(self, tabs: int) -> float:
        return dict(self.steps)[tabs]

    def growth_mib(self, start: int, stop: int) -> float:
        return self.rss(stop) - self.rss(start)


def _expect(answer: httpx.Response, status: int, what: str) -> None:
    if answer.status_code != status:
        raise _TabFailed(f"{what}: {answer.status_code}, expected {status}: {answer.text[:200]}")


def _origin(client: httpx.AsyncClient) -> dict[str, str]:
    return {"Origin": str(client.base_url).rstrip("/")}


async def _open_tab(owner: _Owner, fn_index: int, number: int, session_hash: str | None = None) -> str:
    """One tab of ``owner``: its load event and one upload, each read to the end; returns its
    ``session_hash``."""
    client, username = owner.client, owner.login.username
    origin = _origin(client)
    session_hash = session_hash or new_session_hash()
    joined = await client.post(
        f"{MOUNT}/gradio_api/queue/join",
        json={"data": [], "fn_index": fn_index, "session_hash": session_hash, "event_data": None, "trigger_id": None},
        headers=origin,
    )
    _expect(joined, 200, "queue/join")
    stream = await client.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": session_hash}, headers=origin)
    _expect(stream, 200, "queue/data")
    completed = [m for m in parse_sse(stream.text) if m.get("msg") == "process_completed"]
    if not completed or completed[-1].get("output", {}).get("data") != [f"Signed in as {username}"]:
        raise _TabFailed(f"queue/data: no completed {EVENT}: {stream.text[:200]}")
    upload_id = secrets.token_hex(6)
    content = f"tab {number} of {username}, {session_hash}\n".encode().ljust(UPLOAD_BYTES, b".")
    uploaded = await client.post(
        f"{MOUNT}/gradio_api/upload", params={"upload_id": upload_id},
        files={"files": ("notes.txt", content, "text/plain")}, headers=origin,
    )
    _expect(uploaded, 200, "upload")
    paths = uploaded.json()
    if not (isinstance(paths, list) and len(paths) == 1 and isinstance(paths[0], str)):
        raise _TabFailed(f"upload: expected one path, got {uploaded.text[:200]}")
    progress = await client.get(f"{MOUNT}/gradio_api/upload_progress", params={"upload_id": upload_id}, headers=origin)
    _expect(progress, 200, "upload_progress")
    if {"msg": "done"} not in parse_sse(progress.text):
        raise _TabFailed(f"upload_progress: no 'done': {progress.text[:200]}")
    return session_hash


async def _drive(owners: Sequence[_Owner], fn_index: int, count: int, curve: _Curve) -> None:
    """Open ``count`` more tabs, ``IN_FLIGHT`` at a time, the owners taken in turn (tab ``n`` is
    ``owners[n % len(owners)]``'s)."""
    first = len(curve.session_hashes) + len(curve.failures)
    numbers = iter(range(first, first + count))

    async def worker() -> None:
        for number in numbers:
            try:
                curve.session_hashes[number] = await _open_tab(owners[number % len(owners)], fn_index, number)
            except (_TabFailed, httpx.HTTPError, ValueError) as exc:
                curve.failures.append(f"tab {number}: {exc!r}")

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    if curve.failures:
        raise RuntimeError(f"(k) {curve.name}: {len(curve.failures)} of {count} tabs failed; first: {curve.failures[:3]}")


async def _walk(server: RunningServer, owners: Sequence[_Owner], fn_index: int, curve: _Curve,
                steps: Sequence[int], log: Callable[[str], None]) -> None:
    done = 0
    for tabs in steps:
        await _drive(owners, fn_index, tabs - done, curve)
        done = tabs
        await asyncio.sleep(SETTLE_SECONDS)
        rss = rss_mib(server.process.pid)
        curve.steps.append((tabs, rss))
        log(f"  (k) {curve.name}: {tabs:>6,} tabs  RSS {rss:7.1f} MiB")


async def _join_status(owner: _Owner, fn_index: int, session_hash: str) -> int:
    """The status of ``owner``'s join of ``session_hash``: 403, or 200 once the whole tab
    (event and upload) went through as a browser's would."""
    try:
        await _open_tab(owner, fn_index, -1, session_hash)
    except _TabFailed as exc:
        if str(exc).startswith("queue/join: 403"):
            return 403
        raise RuntimeError(f"(k) joining {session_hash} as {owner.login.username}: {exc}") from exc
    return 200


async def _data_status(owner: _Owner, session_hash: str) -> int:
    """The status of ``owner``'s ``queue/data`` of ``session_hash`` (only a refusal is expected:
    a stream of a session with no event pending would wait)."""
    answer = await owner.client.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": session_hash},
                                    headers=_origin(owner.client), timeout=5)
    return answer.status_code


async def _run(server: RunningServer, plan: _Plan, many_logins: Sequence[Login], room_logins: Sequence[Login],
               flooder: Login, log: Callable[[str], None]) -> tuple[_Curve, _Curve, dict[str, bool]]:
    def client(login: Login) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=server.url, cookies=login.cookies, timeout=60,
                                 limits=httpx.Limits(max_connections=IN_FLIGHT))

    many = [_Owner(login, client(login)) for login in many_logins]
    room = [_Owner(login, client(login)) for login in room_logins]
    one = _Owner(flooder, client(flooder))
    first, flooded = _Curve("many logins"), _Curve("one login")
    checks: dict[str, bool] = {}
    try:
        config = (await many[0].client.get(f"{MOUNT}/config")).raise_for_status().json()
        fn_index = fn_index_of(config, EVENT)
        await _walk(server, many, fn_index, first, plan.many_steps, log)
        # The first user's logins, used again one after the other (each rejoins its first tab:
        # no new session), so its first two are its least recently used; then its ninth and
        # tenth logins each open a tab, and the guard lets go of those two.
        for number, owner in enumerate(many[:LOGINS_PER_USER]):
            await _open_tab(owner, fn_index, -1, first.session_hashes[number])
        for owner in room:
            await _open_tab(owner, fn_index, -1)
        await _walk(server, [one], fn_index, flooded, plan.flood_steps, log)

        # A live tab of the first curve: the first tab of a login of a user in the middle;
        # the stranger is the last login, of the last user.
        live, stranger = plan.logins // 2, plan.logins - 1
        if live // LOGINS_PER_USER in (0, stranger // LOGINS_PER_USER):
            raise AssertionError("the live tab must be another user's than the first and the stranger's")
        newest, oldest = flooded.session_hashes[plan.flood - 1], flooded.session_hashes[0]
        checks["another user joining a live tab of the first curve: 403"] = (
            await _join_status(many[stranger], fn_index, first.session_hashes[live]) == 403)
        checks["the first user's first login, let go of by its ninth, reading its first tab: 403"] = (
            await _data_status(many[0], first.session_hashes[0]) == 403)
        checks["the flooding login joining its newest tab: 200"] = await _join_status(one, fn_index, newest) == 200
        checks["the flooding login reading its oldest tab, let go of: 403"] = await _data_status(one, oldest) == 403
        checks["another login joining that freed tab: 200, a fresh session"] = (
            await _join_status(many[stranger], fn_index, oldest) == 200)
    finally:
        for owner in (*many, *room, one):
            await owner.client.aclose()
    return first, flooded, checks


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
    plan = _Plan.of(config.quick)
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
        many, one, checks = asyncio.run(_run(server, plan, many_logins, room_logins, flooder, log))
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
    _draw(out / "guard_sessions.png", plan, many, one, per_tab_kib, rest)
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
                    f"Blocks.upload_file_set {rest.upload_set:.2f} and the queue's pending ids "
                    f"{rest.pending_ids:.2f}, unbounded)"
                    + ("" if queue_full else f"; Gradio's queue below its {GRADIO_QUEUE_SESSIONS:,} sessions' message "
                                             "queues (≈3 KiB each), which the flood still adds to")
                    + f"; {MAX_PAGE_SESSIONS_PER_OWNER} sessions a login, {MAX_SESSIONS_PER_USER} logins a user"),
        Figure("k", "k.disk.uploads", f"Gradio's upload folder on disk after {files:,} uploads", "MiB",
               Series.of([allocated / MIB]), "the bytes uploaded", Series.of([stored / MIB]), compare=False,
               note="one directory per upload, kept until Gradio's delete_cache, which no page sets"),
    ], raw


def _draw(path: Path, plan: _Plan, many: _Curve, one: _Curve, per_tab_kib: float, rest: FloodRest) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    budget = MAX_PAGE_SESSIONS_PER_OWNER
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.plot([at for at, _ in many.steps], [rss for _, rss in many.steps], marker="o",
              label=f"{plan.logins} logins ({len(plan.users)} users × {LOGINS_PER_USER}), ≤ {budget} tabs each")
    left.plot([at for at, _ in one.steps], [rss for _, rss in one.steps], marker="s",
              label=f"then one login, past its {budget} tabs")
    left.axvline(plan.warm, color="grey", linestyle=":", linewidth=0.8, label="the warm-up's end")
    left.set_ylabel("RSS of the gateway process, MiB")
    left.set_title("RSS as tabs open", fontsize=10)
    start = one.rss(0)
    right.plot([at for at, _ in one.steps], [rss - start for _, rss in one.steps], marker="s", color="C1",
               label="one login past its budget: measured")
    last = one.steps[-1][0]
    right.plot([0, last], [0, per_tab_kib * last / 1024], linestyle=":", color="C0",
               label="at the first curve's rate, were nothing let go of")
    at_budget = one.rss(budget) - start
    right.plot([budget, last], [at_budget, at_budget + rest.total * (last - budget) / 1024], linestyle="--",
               color="C2", label=f"what a tab still leaves (bench, tracemalloc): {rest.total:.1f} KiB")
    right.axvline(budget, color="grey", linestyle="--", linewidth=0.8,
                  label=f"its {budget} sessions full: each tab lets go of its oldest")
    right.set_ylabel("RSS growth since the curve began, MiB")
    right.set_title("the one login: growth since it began", fontsize=10)
    for ax in (left, right):
        ax.set_xlabel("tabs opened in the curve (load event + one upload each)")
        ax.xaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
        ax.grid(True, linewidth=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("(k) Gradio sessions and uploads tracked by the guard: memory, and its bound")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
