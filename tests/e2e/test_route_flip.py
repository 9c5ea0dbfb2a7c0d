"""A route flipped under load on two worker processes: no failed request, fast propagation.

The workers run under the gateway's launcher (``python -m fastapi_gateway.server.launcher``), whose
workers accept a connection only when free: the load mixes keep-alive and ``Connection:
close`` clients, so both ways a connection reaches a worker are exercised with the real app.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from .conftest import ROOT, GatewayServer, running_gateway

pytestmark = pytest.mark.e2e

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    with running_gateway(tmp_path_factory.mktemp("flip"), workers=2, launcher=True, GATEWAY_ROUTE_POLL_SECONDS="0.5") as server:
        yield server


def _manage(server: GatewayServer, *argv: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=server.env, check=True, capture_output=True, text=True)
    return done.stdout


def _session_cookie(server: GatewayServer) -> dict[str, str]:
    with httpx.Client(base_url=server.url) as client:
        token = _CSRF.search(client.get("/accounts/login/").text)
        assert token
        client.post("/accounts/login/", data={"username": "alice", "password": "demo-password", "csrfmiddlewaretoken": token.group(1)})
        return dict(client.cookies)


def _changed_at(server: GatewayServer) -> float:
    """When the change was committed, from the audit trail (wall clock, to the microsecond)."""
    rows = json.loads(_manage(server, "routes", "list", "--json"))
    (row,) = [row for row in rows if row["name"] == "api-tickets"]
    return datetime.fromisoformat(row["changed_at"]).timestamp()


def test_flip_and_rollback_under_load(two_workers: GatewayServer, tmp_path: Path) -> None:
    cookies = _session_cookie(two_workers)
    results: list[tuple[float, int, str]] = []
    stop = threading.Event()
    failures: list[str] = []

    def hammer(keep_alive: bool) -> None:
        headers = {} if keep_alive else {"Connection": "close"}
        with httpx.Client(base_url=two_workers.url, cookies=cookies, headers=headers, timeout=10) as client:
            while not stop.is_set():
                try:
                    response = client.get("/api/tickets/")
                    results.append((time.time(), response.status_code, response.headers.get("x-served-by", "?")))
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=hammer, args=(i % 2 == 0,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        _manage(two_workers, "routes", "set", "api-tickets", "new", "--reason", "load test")
        flipped_at = _changed_at(two_workers)
        time.sleep(3.0)
        rollback_started = time.time()
        _manage(two_workers, "routes", "rollback", "api-tickets")
        rolled_back_at = _changed_at(two_workers)
        time.sleep(3.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert not failures, failures[:5]
    assert results and all(status == 200 for _, status, _ in results), {s for _, s, _ in results}
    last_legacy_after_flip = max((t for t, _, side in results if flipped_at <= t < rollback_started and side == "legacy"), default=flipped_at)
    last_new_after_rollback = max((t for t, _, side in results if t >= rolled_back_at and side == "new"), default=rolled_back_at)
    flip_propagation = last_legacy_after_flip - flipped_at
    rollback_propagation = last_new_after_rollback - rolled_back_at
    print(f"\n{len(results)} requests, 0 failed; flip reached every worker in {flip_propagation:.2f} s, rollback in {rollback_propagation:.2f} s")
    assert flip_propagation < 2.0
    assert rollback_propagation < 2.0
    window = [side for t, _, side in results if flipped_at + 2.0 <= t < rollback_started]
    assert window and set(window) == {"new"}
    assert [side for t, _, side in results if t >= rolled_back_at + 2.0] and {side for t, _, side in results if t >= rolled_back_at + 2.0} == {"legacy"}


def test_the_two_workers_each_keep_to_a_cpu_of_their_own(two_workers: GatewayServer) -> None:
    """GATEWAY_CPU_AFFINITY=auto: the loop and Django's threads of one worker stay on one CPU
    (no cross-CPU wake-up per request), and the workers share the CPUs out."""
    allowed = set(os.sched_getaffinity(0))
    workers = two_workers.serving_pids()
    assert len(workers) == 2

    def cpus_of(pid: int) -> set[int]:
        return {cpu for tid in os.listdir(f"/proc/{pid}/task") for cpu in os.sched_getaffinity(int(tid))}

    # /healthz answered from one worker; the other may still be starting (it claims its CPU
    # when its lifespan starts).
    deadline = time.monotonic() + 30
    while len(allowed) > 1 and any(len(cpus_of(pid)) > 1 for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    cpus = {pid: cpus_of(pid) for pid in workers}
    if len(allowed) < 2:
        assert all(used == allowed for used in cpus.values())
        return
    assert all(len(used) == 1 for used in cpus.values()), cpus
    assert set.union(*cpus.values()) == allowed
