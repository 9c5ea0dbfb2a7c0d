"""The launcher's signals with the real gateway on two workers: SIGHUP under load replaces
every worker without a failed request; SIGTERM turns ``/readyz`` 503 at once, lets slow
legacy and new requests finish and exits 0 within the grace period. Logs are JSON lines."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import GatewayServer, running_gateway

pytestmark = pytest.mark.e2e

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayServer]:
    with running_gateway(tmp_path, workers=2, launcher=True, DJANGO_SETTINGS_MODULE="tests.e2e.signal_settings",
                         args=["--log-format", "json", "--shutdown-delay", "1.5", "--graceful-timeout", "20"]) as server:
        yield server


def _signed_in(server: GatewayServer) -> dict[str, str]:
    with httpx.Client(base_url=server.url) as client:
        token = _CSRF.search(client.get("/accounts/login/").text)
        assert token
        client.post("/accounts/login/", data={"username": "alice", "password": "demo-password", "csrfmiddlewaretoken": token.group(1)})
        return dict(client.cookies)


def _wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_sighup_replaces_every_worker_under_load_without_a_failed_request(gateway: GatewayServer) -> None:
    cookies = _signed_in(gateway)
    before = set(gateway.serving_pids())
    stop = threading.Event()
    answers: list[tuple[str, int, str]] = []
    failures: list[str] = []

    def load(path: str, keep_alive: bool) -> None:
        headers = {} if keep_alive else {"Connection": "close"}
        with httpx.Client(base_url=gateway.url, cookies=cookies, headers=headers, timeout=20) as client:
            while not stop.is_set():
                try:
                    response = client.get(path)
                except httpx.HTTPError as exc:
                    failures.append(f"{path}: {exc!r}")
                    continue
                answers.append((path, response.status_code, response.headers.get("x-request-id", "")))
                if response.status_code != 200:
                    failures.append(f"{path}: {response.status_code}")

    threads = [threading.Thread(target=load, args=(path, keep_alive)) for path in ("/tickets/", "/api/v2/tickets") for keep_alive in (True, False)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        assert gateway.process is not None
        gateway.process.send_signal(signal.SIGHUP)
        _wait_for(lambda: not (set(gateway.serving_pids()) & before) and len(gateway.serving_pids()) == 2, 120,
                  f"the workers were not all replaced:\n{gateway.log.read_text()[-3000:]}")
        served = len(answers)
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert len(answers) > served > 50
    assert gateway.process.poll() is None

    # Every line of the log is JSON; each answer has its access record, under its request id.
    lines = [json.loads(line) for line in gateway.log.read_text().splitlines() if line.strip()]
    access = {line["request_id"]: line for line in lines if line["logger"] == "fastapi_gateway.access"}
    for path, status, request_id in answers[:: max(1, len(answers) // 50)]:
        record = access[request_id]
        assert (record["path"], record["status"], record["method"]) == (path, status, "GET")
        assert record["user_id"] if path.startswith("/api/v2") else "user_id" not in record
    assert any("restarting the workers one at a time" in line["message"] for line in lines)
    assert all(cookie not in gateway.log.read_text() for cookie in cookies.values())


def test_sigterm_turns_readiness_503_at_once_and_lets_slow_requests_finish(gateway: GatewayServer) -> None:
    assert httpx.get(gateway.url + "/readyz").json()["status"] == "ready"
    results: dict[str, object] = {}

    def slow(path: str) -> None:
        try:
            response = httpx.get(gateway.url + path, timeout=30)
            results[path] = (response.status_code, response.text)
        except httpx.HTTPError as exc:
            results[path] = repr(exc)

    paths = ["/slow/?seconds=4", "/slow-api/?seconds=4"]
    threads = [threading.Thread(target=slow, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # both in flight
    assert gateway.process is not None
    stopped_at = time.monotonic()
    gateway.process.send_signal(signal.SIGTERM)
    _wait_for(lambda: httpx.get(gateway.url + "/readyz", timeout=2).status_code == 503, 1.0, "/readyz still 200 after SIGTERM")
    assert httpx.get(gateway.url + "/readyz").json() == {"status": "shutting down", "checks": {"shutdown": "SIGTERM received"}}
    assert httpx.get(gateway.url + "/healthz").status_code == 200  # alive, only not ready
    assert gateway.process.wait(timeout=30) == 0
    assert time.monotonic() - stopped_at < 20  # within the grace period
    for thread in threads:
        thread.join(5)
    assert results == {paths[0]: (200, "slow legacy answer"), paths[1]: (200, '{"answer":"slow new answer"}')}
