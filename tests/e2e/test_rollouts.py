"""Self-driving rollouts on two real worker processes under load.

A healthy new side rolls through shadow and a canary to ``new`` on its own numbers; a new side
that starts failing (5xx, slow, answering differently) mid-rollout is sent back to legacy
within one gate window, and no user request fails meanwhile: the gates read the numbers both
workers wrote, and exactly one decision is made per step.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from fastapi_gateway.routing.traffic import BUCKET_SECONDS

from .conftest import ROOT, GatewayServer, running_gateway
from .test_route_flip import _CSRF

pytestmark = pytest.mark.e2e

HOLD = 3  # seconds each step is held
MIN_REQUESTS = 30
FLUSH = 0.5  # GATEWAY_TRAFFIC_FLUSH_SECONDS: how often each worker writes its numbers and ticks
USERS = ("alice", "bob", "admin", *(f"load{i}" for i in range(6)))


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayServer, Path, Path]]:
    workdir = tmp_path_factory.mktemp("rollouts")
    mode = workdir / "mode"
    mode.write_text("ok")
    with running_gateway(
        workdir, workers=2, launcher=True, DJANGO_SETTINGS_MODULE="tests.e2e.rollout_settings",
        FLAKY_MODE_FILE=str(mode), GATEWAY_ROUTE_POLL_SECONDS="0.3", GATEWAY_TRAFFIC_FLUSH_SECONDS=str(FLUSH),
    ) as server:
        create = "; ".join(f"User.objects.filter(username='{name}').exists() or User.objects.create_user('{name}', password='demo-password')"
                           for name in USERS[3:])
        _manage(server, "shell", "-c", f"from django.contrib.auth.models import User; {create}")
        yield server, workdir / "db.sqlite3", mode


def _manage(server: GatewayServer, *argv: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=server.env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _sessions(server: GatewayServer) -> list[dict[str, str]]:
    sessions = []
    for username in USERS:
        with httpx.Client(base_url=server.url) as client:
            token = _CSRF.search(client.get("/accounts/login/").text)
            assert token
            client.post("/accounts/login/", data={"username": username, "password": "demo-password", "csrfmiddlewaretoken": token.group(1)})
            sessions.append(dict(client.cookies))
    return sessions


@contextmanager
def load(server: GatewayServer, threads: int = 3, pause: float = 0.01) -> Iterator[list[tuple[float, int, str]]]:
    """Logged-in users asking for ``/api/tickets/``, keep-alive and not, with a short pause
    between requests: shadow comparisons run in a worker's quiet moments, and a saturated
    worker has none (it drops them, by design)."""
    sessions = _sessions(server)
    results: list[tuple[float, int, str]] = []
    failures: list[str] = []
    stop = threading.Event()

    def hammer(index: int) -> None:
        headers = {} if index % 2 else {"Connection": "close"}
        clients = [httpx.Client(base_url=server.url, cookies=cookies, headers=headers, timeout=10) for cookies in sessions]
        turn = index
        try:
            while not stop.is_set():
                turn += 1
                try:
                    response = clients[turn % len(clients)].get("/api/tickets/")
                    results.append((time.time(), response.status_code, response.headers.get("x-served-by", "?")))
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                stop.wait(pause)
        finally:
            for client in clients:
                client.close()

    workers = [threading.Thread(target=hammer, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    try:
        yield results
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert not failures, failures[:5]
    assert results and {status for _, status, _ in results} == {200}


def _rollout(db: Path) -> tuple[int, str, int, str]:
    with sqlite3.connect(db, timeout=10) as connection:
        row = connection.execute("SELECT id, status, step, message FROM gateway_routing_rollout ORDER BY id DESC LIMIT 1").fetchone()
    return tuple(row) if row else (0, "", 0, "")  # type: ignore[return-value]


def _changes(db: Path, since_id: int = 0) -> list[tuple[int, str, int, str, str, float]]:
    with sqlite3.connect(db, timeout=10) as connection:
        rows = connection.execute(
            "SELECT id, to_state, to_percent, changed_by, reason, changed_at FROM gateway_routing_routechange "
            "WHERE name = 'api-tickets' AND id > ? ORDER BY id", (since_id,)).fetchall()
    return [(*row[:5], _utc_timestamp(row[5])) for row in rows]


def _utc_timestamp(stored: str) -> float:
    """Django (USE_TZ) stores UTC in SQLite without an offset: read as UTC, not as local time."""
    moment = datetime.fromisoformat(stored)
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _wait_for(db: Path, predicate: object, timeout: float) -> tuple[int, str, int, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rollout = _rollout(db)
        if predicate(rollout):  # type: ignore[operator]
            return rollout
        time.sleep(0.2)
    raise AssertionError(f"rollout still at {_rollout(db)} after {timeout} s")


SETTLE = 1.5  # seconds after a route change by which every worker serves it (3 polls of 0.5 s)


def _load_past_settling(db: Path, since_id: int) -> None:
    """Keep the load on until a whole second of requests has been served after the last route
    change settled. The rollout's row says it ended a poll or more after that change was written,
    and on a loaded machine the change can be written well before: a fixed pause after the row
    could leave no request at all in the settled window to judge."""
    settled = _changes(db, since_id)[-1][5] + SETTLE
    wait = settled + 1.0 - time.time()
    assert wait < 30, f"the last route change is {wait:.0f} s in the future: the test reads its time wrong"
    time.sleep(max(0.0, wait))


def _start(server: GatewayServer, steps: str) -> str:
    # p99 over a few dozen requests is their slowest one: the gate allows 3x legacy's here
    # (the slow fault is 0.6 s, ten times legacy's), where a production hold has hundreds.
    return _manage(server, "routes", "rollout", "api-tickets", "--steps", steps, "--hold", str(HOLD),
                   "--min-requests", str(MIN_REQUESTS), "--max-p99-ratio", "3", "--reason", "e2e")


def test_a_healthy_new_side_rolls_through_to_new(workers: tuple[GatewayServer, Path, Path]) -> None:
    server, db, mode = workers
    mode.write_text("ok")
    last = max((change[0] for change in _changes(db)), default=0)
    with load(server) as results:
        _start(server, "shadow,canary:50,new")
        rollout = _wait_for(db, lambda r: r[1] not in ("running", ""), timeout=90)
        _load_past_settling(db, last)  # every worker has the final state
    assert rollout[1] == "done", rollout
    changes = _changes(db, last)
    assert [(state, percent) for _, state, percent, *_ in changes] == [("shadow", 0), ("canary", 50), ("new", 0)]
    assert all(by == f"rollout #{rollout[0]}" for _, _, _, by, _, _ in changes)
    assert "gates held" in changes[1][4] and "comparisons" in changes[1][4]
    (row,) = json.loads(_manage(server, "routes", "--json"))
    assert row["state"] == "new" and row["rollout"]["status"] == "done" and row["rollout"]["id"] == rollout[0]
    print(f"\nhealthy: rolled through {len(changes)} steps in {changes[-1][5] - changes[0][5]:.1f} s, "
          f"{len(results)} requests, none failed")
    served_last = {side for t, _, side in results if t > changes[-1][5] + SETTLE}
    assert served_last == {"new"}, served_last


@pytest.mark.parametrize(("fault", "steps", "fails_at"), [
    ("500", "canary:50,new", "canary"),
    ("slow", "canary:50,new", "canary"),
    ("differ", "shadow,canary:50,new", "shadow"),
])
def test_a_new_side_that_starts_failing_goes_back_to_legacy_within_a_gate_window(
    workers: tuple[GatewayServer, Path, Path], fault: str, steps: str, fails_at: str
) -> None:
    server, db, mode = workers
    mode.write_text("ok")
    _manage(server, "routes", "set", "api-tickets", "legacy", "--reason", "before the next rollout")
    last = max((change[0] for change in _changes(db)), default=0)
    with load(server) as results:
        _start(server, steps)
        time.sleep(1.0)  # healthy for a moment, then it breaks
        broke_at = time.time()
        mode.write_text(fault)
        rollout = _wait_for(db, lambda r: r[1] != "running", timeout=HOLD + 15)
        _load_past_settling(db, last)
    assert rollout[1] == "rolled_back", rollout
    changes = _changes(db, last)
    back = changes[-1]
    assert back[1] == "legacy" and back[3] == f"rollout #{rollout[0]}"
    assert {state for _, state, *_ in changes[:-1]} == {fails_at}, changes  # it never advanced
    assert "gate failed" in back[4]
    took = back[5] - broke_at
    print(f"\n{fault}: rolled back {took:.1f} s after the new side broke, {len(results)} requests, none failed: {back[4]}")
    # One gate window: the step's first whole bucket, then MIN_REQUESTS answers of the new side
    # (at 0.6 s each when it is slow, a few seconds), plus a write and a tick.
    assert took < BUCKET_SECONDS + HOLD + 10
    assert {side for t, _, side in results if t > back[5] + SETTLE} == {"legacy"}
