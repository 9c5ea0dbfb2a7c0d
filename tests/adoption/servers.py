"""Real servers of the third-party project on 127.0.0.1: gunicorn and the gateway, side by side.

Both are started before either is waited for (each takes seconds to import Django, Wagtail
and, for the gateway, Gradio); both are stopped on the way out, and neither may have logged
a traceback: an error the client never saw is still an error.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.adoption.project import Project

__all__ = ["Server", "free_port", "serving"]


@dataclass(frozen=True)
class Server:
    name: str
    url: str
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _process(project: Project, name: str, command: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as log_file:
        process = subprocess.Popen(project.argv(command), cwd=project.directory, env=project.env,
                                   stdout=log_file, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_until_answering(process: subprocess.Popen[bytes], server: Server, ready_path: str, deadline: float) -> None:
    while True:
        if process.poll() is not None:
            raise AssertionError(f"{server.name} exited early:\n{server.log.read_text()}")
        try:
            if httpx.get(server.url + ready_path, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{server.name} did not answer {ready_path} within the time:\n{server.log.read_text()}")
        time.sleep(0.1)


@contextmanager
def serving(project: Project, commands: dict[str, tuple[list[str], int, str]], logs: Path) -> Iterator[dict[str, Server]]:
    """Start each ``name: (command, port, ready_path)``; yield the servers once all answer."""
    servers: dict[str, Server] = {}
    with ExitStack() as stack:
        processes = {}
        for name, (command, port, _) in commands.items():
            servers[name] = Server(name, f"http://127.0.0.1:{port}", logs / f"{name}.log")
            processes[name] = stack.enter_context(_process(project, name, command, servers[name].log))
        deadline = time.monotonic() + 90
        for name, (_, _, ready_path) in commands.items():
            _wait_until_answering(processes[name], servers[name], ready_path, deadline)
        yield servers
    for server in servers.values():
        text = server.log.read_text()
        assert "Traceback" not in text, f"{server.name} logged a traceback:\n{text}"
