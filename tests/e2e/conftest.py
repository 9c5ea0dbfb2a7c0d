"""A real ``uvicorn`` serving ``fastapi_gateway.asgi:app`` on 127.0.0.1, as ``make run`` does.

The server gets its own SQLite file, migrated and seeded by ``manage.py`` exactly like the
README's set-up, so these tests see what a new user sees.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class GatewayServer:
    url: str
    env: dict[str, str]
    log: Path
    pid: int  # uvicorn's process: the server itself, or the supervisor of its --workers
    process: subprocess.Popen[bytes] | None = None  # for the tests that signal it and wait for its end

    def serving_pids(self) -> list[int]:
        """The processes that serve requests: uvicorn itself, or each of its workers."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        # uvicorn's workers are multiprocessing's spawned children (not its resource tracker).
        workers = [int(child) for child in children if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()]
        return workers or [self.pid]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env(workdir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "GATEWAY_", "DATABASE_URL", "REDIS_URL"))}
    env.update(
        DJANGO_SETTINGS_MODULE="legacy_django.settings",
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
        DJANGO_MEDIA_ROOT=str(workdir / "media"),
        GRADIO_ANALYTICS_ENABLED="False",
        GATEWAY_STREAM_RECHECK_SECONDS="0.5",
        PYTHONUNBUFFERED="1",
    )
    return env


@contextmanager
def running_gateway(workdir: Path, *, workers: int = 1, launcher: bool = False, args: Sequence[str] = (), **extra_env: str) -> Iterator[GatewayServer]:
    """Migrate and seed a fresh SQLite database, start uvicorn on it, stop it afterwards.

    ``launcher`` runs the workers through ``python -m fastapi_gateway.server.launcher`` (uvicorn, with
    workers that accept only when free) instead of ``uvicorn --workers``; ``args`` are more of its flags.

    On the way out the server's log must hold no traceback: an error the client never saw
    is still an error.
    """
    env = {**_server_env(workdir), **extra_env}
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
    port = _free_port()
    log = workdir / "uvicorn.log"
    with log.open("wb") as log_file:
        command = (
            ["-m", "fastapi_gateway.server.launcher", "fastapi_gateway.asgi:app", "--host", "127.0.0.1", "--port", str(port)]
            if launcher else
            ["-m", "uvicorn", "fastapi_gateway.asgi:app", "--host", "127.0.0.1", "--port", str(port),
             "--no-proxy-headers", "--loop", "uvloop", "--http", "fastapi_gateway.server.head_limits.httptools_protocol:LimitedHttpToolsProtocol"]
        )
        process = subprocess.Popen(
            [sys.executable, *command, "--workers", str(workers), *args],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(process, url, log)
        yield GatewayServer(url=url, env=env, log=log, pid=process.pid, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    text = log.read_text()
    assert "Traceback" not in text, f"the server logged a traceback:\n{text}"


def _wait_until_serving(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"uvicorn did not answer within 60 s:\n{log.read_text()}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def gateway_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    with running_gateway(tmp_path_factory.mktemp("live")) as server:
        yield server
