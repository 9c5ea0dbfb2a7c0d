"""Real servers on 127.0.0.1: the gateway and the baselines it is compared with.

Each server runs as its own process tree on a free port with its own site (database and
media). uvicorn gets the deployment flags of the README plus ``--no-access-log``: gunicorn
writes no access log by default, and a log line per request would be a cost of the
configuration, not of the gateway.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from .sites import ROOT, Site

__all__ = [
    "A2WSGI_PLAIN",
    "BARE_GRADIO",
    "BARE_GRADIO_LEAN",
    "DJANGO_ASGI",
    "GATEWAY",
    "GATEWAY_NO_ROUTES",
    "GATEWAY_SERVE",
    "GRANIAN",
    "GUNICORN",
    "RunningServer",
    "ServerKind",
    "ServerPool",
    "free_port",
    "http_status",
]

UVICORN_FLAGS = ("--loop", "uvloop", "--http", "httptools", "--no-proxy-headers", "--no-access-log", "--no-server-header")


@dataclass(frozen=True)
class ServerKind:
    name: str
    label: str
    target: str
    runner: Literal["uvicorn", "gunicorn", "serve", "granian"]
    ready_path: str
    env: tuple[tuple[str, str], ...] = ()

    def argv(self, port: int, workers: int) -> list[str]:
        if self.runner == "gunicorn":
            return [sys.executable, "-m", "gunicorn", self.target, "--bind", f"127.0.0.1:{port}",
                    "--workers", str(workers), "--worker-class", "sync", "--timeout", "300"]
        if self.runner == "granian":
            # Tuned to its best here: one blocking thread per worker, one request at a time as
            # gunicorn's sync worker (granian's WSGI default, backlog / 2 = 512 threads fighting
            # for the GIL, did 0.72x of that on /tickets/ at 16 connections, p99 1.7x); its defaults
            # otherwise (Rust runtime, HTTP/1 and 2, no access log).
            return [sys.executable, "-m", "granian", "--interface", "wsgi", self.target, "--host", "127.0.0.1",
                    "--port", str(port), "--workers", str(workers), "--blocking-threads", "1", "--no-ws"]
        if self.runner == "serve":
            return [sys.executable, "-m", "fastapi_gateway.server.launcher", self.target, "--port", str(port),
                    "--workers", str(workers), "--no-access-log"]
        return [sys.executable, "-m", "uvicorn", self.target, "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(workers), *UVICORN_FLAGS]


GATEWAY = ServerKind("gateway", "gateway (uvicorn fastapi_gateway.asgi:app)", "fastapi_gateway.asgi:app", "uvicorn", "/healthz")
GATEWAY_SERVE = ServerKind(
    "gateway-serve", "gateway (python -m fastapi_gateway.server.launcher)", "fastapi_gateway.asgi:app", "serve", "/healthz",
)
GATEWAY_NO_ROUTES = ServerKind(
    "gateway-no-routes", "gateway, no route table (bench.settings_no_routes)", "fastapi_gateway.asgi:app", "uvicorn",
    "/healthz", env=(("DJANGO_SETTINGS_MODULE", "bench.settings_no_routes"),),
)
GUNICORN = ServerKind("gunicorn", "gunicorn legacy_django.wsgi (sync)", "legacy_django.wsgi", "gunicorn", "/accounts/login/")
GRANIAN = ServerKind("granian", "granian --interface wsgi --blocking-threads 1 legacy_django.wsgi", "legacy_django.wsgi:application", "granian",
                     "/accounts/login/")
A2WSGI_PLAIN = ServerKind("a2wsgi-plain", "uvicorn + plain a2wsgi (bench.a2wsgi_plain)", "bench.a2wsgi_plain:app", "uvicorn", "/accounts/login/")
DJANGO_ASGI = ServerKind("django-asgi", "uvicorn legacy_django.asgi (Django's ASGI handler)", "legacy_django.asgi:application", "uvicorn", "/accounts/login/")
BARE_GRADIO = ServerKind("bare-gradio", "bare Gradio, no auth (bench.bare_gradio)", "bench.bare_gradio:app", "uvicorn", "/ui/tickets/config")
# Bare Gradio told, through its own environment variables, to keep no statistics for its
# monitoring dashboard, as the gateway's pages keep none (fastapi_gateway.pages.queue): the
# baseline that leaves only what the gateway adds (login, guard, middleware).
BARE_GRADIO_LEAN = ServerKind(
    "bare-gradio-lean", "bare Gradio, no auth, no monitoring statistics", "bench.bare_gradio:app", "uvicorn",
    "/ui/tickets/config",
    env=(("GRADIO_ANALYTICS_MAX_EVENTS", "1"), ("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(2**62))),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_status(port: int, path: str, *, cookie: str = "", timeout: float = 2.0) -> int | None:
    """The status of one GET, or None when nothing answers yet (cheap enough to poll every ms)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


@dataclass
class RunningServer:
    kind: ServerKind
    workers: int
    site: Site
    port: int
    process: subprocess.Popen[bytes]
    spawned_at: float
    ready_at: float | None = None
    stopped: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def name(self) -> str:
        return f"{self.kind.name} w{self.workers}"

    @property
    def log(self) -> str:
        path = self.site.directory / f"{self.kind.name}-w{self.workers}-{self.port}.log"
        return str(path)

    def wait_ready(self, timeout: float = 120.0, *, path: str | None = None, cookie: str = "", poll: float = 0.005) -> float:
        """Seconds from spawn to the first 200 on ``path`` (default: the kind's ready path)."""
        deadline = self.spawned_at + timeout
        target = path or self.kind.ready_path
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early (code {self.process.returncode}); log: {self.log}")
            if http_status(self.port, target, cookie=cookie, timeout=5) == 200:
                now = time.perf_counter()
                self.ready_at = self.ready_at or now
                return now - self.spawned_at
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{self.name} did not answer 200 on {target} within {timeout:.0f} s; log: {self.log}")
            time.sleep(poll)

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with open(self.log, errors="replace") as log:
            if "Traceback" in log.read():
                self.notes.append(f"{self.name}: the server log holds a traceback ({self.log})")


class ServerPool:
    """Starts servers and stops every one of them on the way out, whatever happened."""

    def __init__(self) -> None:
        self.servers: list[RunningServer] = []
        self.notes: list[str] = []

    def spawn(self, kind: ServerKind, site: Site, *, workers: int = 1) -> RunningServer:
        port = free_port()
        env = {**site.env, **dict(kind.env)}
        log_path = site.directory / f"{kind.name}-w{workers}-{port}.log"
        with log_path.open("wb") as log:
            spawned_at = time.perf_counter()
            process = subprocess.Popen(kind.argv(port, workers), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        server = RunningServer(kind, workers, site, port, process, spawned_at)
        self.servers.append(server)
        return server

    def start(self, kind: ServerKind, site: Site, *, workers: int = 1) -> RunningServer:
        server = self.spawn(kind, site, workers=workers)
        server.wait_ready()
        return server

    def stop(self, server: RunningServer) -> None:
        server.stop()
        self.notes.extend(server.notes)
        server.notes.clear()

    def stop_all(self) -> None:
        for server in self.servers:
            self.stop(server)

    @contextmanager
    def session(self) -> Iterator[ServerPool]:
        try:
            yield self
        finally:
            self.stop_all()
