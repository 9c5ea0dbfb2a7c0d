"""The launcher's signals, on real process trees (``serve_app`` as the app): SIGHUP restarts
the workers one at a time under load without a failed request; SIGTERM lets in-flight requests
finish and exits 0; ``--graceful-timeout`` bounds it; SIGQUIT stops at once."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from .test_launcher import Launched, launched


def _worker_pids(server: Launched) -> set[int]:
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    return {int(child) for child in children if b"spawn_main" in _command_line(int(child))}


def _command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):  # it ended meanwhile (before the open, or between it and the read)
        return b""


def _held_request(server: Launched) -> tuple[threading.Thread, list[object]]:
    """A request to ``/hold`` in a thread of its own; its status code, or its error, when it ends."""
    answers: list[object] = []

    def request() -> None:
        try:
            answers.append(httpx.get(server.url + "/hold", timeout=30).status_code)
        except httpx.HTTPError as exc:
            answers.append(repr(exc))

    thread = threading.Thread(target=request)
    thread.start()
    _wait_for(server.held_pids, 10, "the held request never reached the app")
    return thread, answers


def _wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_restarts_every_worker_under_load_without_a_failed_request(tmp_path: Path, workers: int) -> None:
    with launched(tmp_path, workers=workers, accept_wait=0.02) as server:
        before = _worker_pids(server)
        assert len(before) == workers
        stop = threading.Event()
        answered_by: list[int] = []
        failures: list[str] = []

        def load(keep_alive: bool) -> None:
            headers = {} if keep_alive else {"Connection": "close"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
                while not stop.is_set():
                    try:
                        response = client.get("/pid")
                        answered_by.append(int(response.text)) if response.status_code == 200 else failures.append(str(response.status_code))
                    except httpx.HTTPError as exc:
                        failures.append(repr(exc))

        threads = [threading.Thread(target=load, args=(n % 2 == 0,)) for n in range(4)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.5)
            server.process.send_signal(signal.SIGHUP)
            _wait_for(lambda: len(_worker_pids(server) & before) == 0 and len(_worker_pids(server)) == workers, 60,
                      f"the workers were not all replaced:\n{server.log.read_text()}")
            after = _worker_pids(server)
            served_before = len(answered_by)
            time.sleep(0.5)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert failures == []
        assert len(answered_by) > served_before  # the new workers serve
        assert set(answered_by) >= after and set(answered_by) & before
        assert server.process.poll() is None  # the launcher itself never stopped
    assert "Restarted every worker." in server.log.read_text()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_lets_in_flight_requests_finish_then_exits_0(tmp_path: Path, stop_signal: signal.Signals) -> None:
    with launched(tmp_path, workers=2, accept_wait=0.02) as server:
        holding, answers = _held_request(server)
        server.process.send_signal(stop_signal)
        time.sleep(1.0)
        assert server.process.poll() is None  # waiting for the held request
        with pytest.raises(httpx.ConnectError):  # while no longer accepting
            httpx.get(server.url + "/pid", timeout=2)
        (server.directory / "release").touch()
        holding.join(10)
        assert answers == [200]
        assert server.process.wait(timeout=15) == 0
    assert f"Received {stop_signal.name}, stopping gracefully." in server.log.read_text()


def test_the_graceful_timeout_bounds_the_stop(tmp_path: Path) -> None:
    with launched(tmp_path, workers=1, accept_wait=0.02, args=["--graceful-timeout", "1"], cuts_requests=True) as server:
        holding, answers = _held_request(server)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=15) == 0
        assert time.monotonic() - started < 8  # about the second it was given, not the held request's end
        holding.join(10)
        assert answers == [500]  # cut: uvicorn answers 500 for a request cancelled before its response
    assert "timeout graceful shutdown exceeded" in server.log.read_text()


def test_sigquit_stops_at_once(tmp_path: Path) -> None:
    with launched(tmp_path, workers=2, accept_wait=0.02, cuts_requests=True) as server:
        holding, answers = _held_request(server)
        pids = _worker_pids(server)
        started = time.monotonic()
        server.process.send_signal(signal.SIGQUIT)
        assert server.process.wait(timeout=10) == 0
        assert time.monotonic() - started < 3
        for pid in pids:
            assert not Path(f"/proc/{pid}").exists() or b"zombie" in Path(f"/proc/{pid}/status").read_bytes().lower()
        holding.join(10)
        assert len(answers) == 1 and "RemoteProtocolError" in str(answers[0])
    assert "Received SIGQUIT, stopping now." in server.log.read_text()


def test_a_worker_ignores_a_hangup_sent_to_the_whole_process_group(tmp_path: Path) -> None:
    with launched(tmp_path, workers=1, accept_wait=0.02) as server:
        (worker,) = _worker_pids(server)
        os.kill(worker, signal.SIGHUP)
        time.sleep(0.5)
        assert server.pid_of_new_connection() == worker
