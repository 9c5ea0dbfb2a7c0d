"""The production layout for real: ``deploy/cluster`` runs nginx and gateway processes that
share a PostgreSQL database and Redis sessions, as deploy/README.md tells operators to.

The database (``deploy_test_<random>``) and the Redis database number are the tests' own,
made and removed here, so they never meet pytest-django's ``test_test`` or the session-engine
tests' Redis database. A missing prerequisite fails the test with what to install.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "deploy" / "cluster"
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_SESSIONS_URL = os.environ.get("DEPLOY_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
SECRET_KEY = "deploy-test-" + secrets.token_urlsafe(32)


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        pytest.fail("nginx is not installed: the deploy tests need Debian's nginx-light (.ci/run installs it)")
    return found


# Shared services ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketDatabase:
    """The deploy tests' own PostgreSQL database, read directly to check what was written."""

    name: str
    url: str

    def titles_like(self, pattern: str) -> list[str]:
        with psycopg.connect(self.url) as connection:
            rows = connection.execute(
                "SELECT title FROM tickets_ticket WHERE title LIKE %s ORDER BY id", (pattern,)
            ).fetchall()
        return [row[0] for row in rows]

    def owner_of(self, ticket_id: int) -> str | None:
        with psycopg.connect(self.url) as connection:
            row = connection.execute(
                "SELECT u.username FROM tickets_ticket t JOIN auth_user u ON u.id = t.owner_id WHERE t.id = %s",
                (ticket_id,),
            ).fetchone()
        return row[0] if row else None


def _url_with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def ticket_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TicketDatabase]:
    """A fresh database, migrated and seeded with ``manage.py`` as deploy/README.md says."""
    name = f"deploy_test_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL does not answer at {POSTGRES_ADMIN_URL}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        database = TicketDatabase(name=name, url=_url_with_database(POSTGRES_ADMIN_URL, name))
        try:
            env = gateway_env(database.url, media_root=tmp_path_factory.mktemp("media"))
            for command in (["migrate", "--noinput"], ["seed_demo"]):
                done = subprocess.run(
                    [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True
                )
                assert done.returncode == 0, f"manage.py {command[0]} failed:\n{done.stdout}{done.stderr}"
            yield database
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_sessions() -> Iterator[str]:
    """The Redis database holding the sessions, empty before and after."""
    client = redis.Redis.from_url(REDIS_SESSIONS_URL, socket_connect_timeout=5)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        client.close()
        pytest.fail(f"Redis does not answer at {REDIS_SESSIONS_URL}: {exc}")
    try:
        yield REDIS_SESSIONS_URL
    finally:
        client.flushdb()
        client.close()


def gateway_env(
    database_url: str, *, media_root: Path, redis_url: str = REDIS_SESSIONS_URL, **extra: str
) -> dict[str, str]:
    """The gateways' environment: the tests' database, Redis sessions, one secret key for all."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "GATEWAY_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="legacy_django.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DJANGO_SESSION_ENGINE="django.contrib.sessions.backends.cache",
        DJANGO_SECRET_KEY=SECRET_KEY,
        DJANGO_MEDIA_ROOT=str(media_root),
        GRADIO_ANALYTICS_ENABLED="False",
        GATEWAY_STREAM_RECHECK_SECONDS="0.5",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


# The launcher ------------------------------------------------------------------------------


@dataclass
class RunningCluster:
    """A ``deploy/cluster`` process and what its ``cluster.json`` says it runs."""

    process: subprocess.Popen[bytes]
    run_dir: Path
    output: Path

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((self.run_dir / "cluster.json").read_text())
        return state

    @property
    def nginx_url(self) -> str:
        return str(self.state()["nginx"]["url"])

    @property
    def gateways(self) -> list[dict[str, Any]]:
        return list(self.state()["gateways"])

    def access_log(self) -> list[dict[str, Any]]:
        path = self.run_dir / "nginx-access.log"
        if not path.exists():
            return []
        text = path.read_text()
        whole = text[: text.rfind("\n") + 1]  # a line nginx is still writing is read next time
        return [json.loads(line) for line in whole.splitlines() if line.strip()]

    def logs(self) -> str:
        parts = [f"--- launcher\n{self.output.read_text(errors='replace')}"]
        for log in sorted(self.run_dir.glob("*.log")):
            if log.name != "nginx-access.log":
                parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-6000:]}")
        return "\n".join(parts)

    def stop(self) -> int:
        """SIGTERM, as an init system would; the launcher stops nginx and the gateways."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)

    def leftover_pids(self) -> list[int]:
        state = self.state() if (self.run_dir / "cluster.json").exists() else {"gateways": [], "nginx": None}
        pids = [gateway["pid"] for gateway in state["gateways"] if gateway["pid"]]
        if state.get("nginx") and state["nginx"].get("pid"):
            pids.append(state["nginx"]["pid"])
        return [pid for pid in pids if _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[-1].split()[0] != "Z"
    except OSError:
        return False


@contextmanager
def running_cluster(
    arguments: Sequence[str],
    *,
    env: dict[str, str],
    run_dir: Path,
    exec_prefix: Sequence[str] = (),
    timeout: float = 90,
) -> Iterator[RunningCluster]:
    """Start ``deploy/cluster`` and wait for "ready"; stop it and everything it ran afterwards.

    On the way out, whatever happened in between: the launcher gets SIGTERM, and any process
    it recorded that is still alive gets SIGKILL by its pid. The gateways' logs must hold no
    traceback.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    output = run_dir / "launcher.out"
    with output.open("wb") as output_file:
        process = subprocess.Popen(
            [*exec_prefix, sys.executable, str(LAUNCHER), "--run-dir", str(run_dir), "--python", sys.executable,
             *arguments],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=output_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    cluster = RunningCluster(process=process, run_dir=run_dir, output=output)
    try:
        deadline = time.monotonic() + timeout
        while "cluster: ready" not in output.read_text(errors="replace"):
            if process.poll() is not None:
                pytest.fail(f"deploy/cluster exited with {process.returncode} before it was ready:\n{cluster.logs()}")
            if time.monotonic() > deadline:
                pytest.fail(f"deploy/cluster was not ready within {timeout:.0f} s:\n{cluster.logs()}")
            time.sleep(0.2)
        yield cluster
    finally:
        cluster.stop()
        for pid in cluster.leftover_pids():
            os.kill(pid, signal.SIGKILL)
    tracebacks = [log.name for log in run_dir.glob("gateway-*.log") if "Traceback" in log.read_text(errors="replace")]
    assert not tracebacks, f"gateway logs hold a traceback: {tracebacks}\n{cluster.logs()}"


def free_port_range(count: int, host: str = "127.0.0.1") -> int:
    """A base port with ``count`` consecutive free ports after it."""
    for _ in range(50):
        base = 20000 + secrets.randbelow(20000)
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind((host, port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base
    raise RuntimeError("no free port range")


def port_refuses(host: str, port: int, *, within: float = 0.0) -> bool:
    """True when nothing listens there (now, or at some point in the next ``within`` seconds).

    A killed process is not gone at once: its threads exit one by one and the kernel closes
    its listening socket only when the last one has (seen here: a zombie leader with one
    thread left still accepting a connection 18 ms after SIGKILL). ``within`` waits for that.
    """
    deadline = time.monotonic() + within
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                pass
        except ConnectionRefusedError:
            return True
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
