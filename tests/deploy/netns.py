"""Hosts for the multi-host test: network namespaces joined to the root namespace by veth links.

Each host gets loopback and one address on its own /24 (``10.200.N.2``); the root side of
the link is ``10.200.N.1``, where nginx (in the root namespace) reaches the gateways from,
and where a TCP forwarder hands the host PostgreSQL and Redis, as a database host's address
would on a real network. Everything made here is removed on the way out, failure or not.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

_FORWARDER = Path(__file__).with_name("tcp_forward.py")


@dataclass(frozen=True)
class NetworkHost:
    namespace: str
    address: str  # inside the namespace: gateways listen here
    peer_address: str  # the root namespace's end of the link: nginx and the forwarders
    root_link: str

    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.namespace]


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _free_subnets(count: int) -> list[int]:
    used = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    candidates = [n for n in range(1, 255) if f" 10.200.{n}." not in used]
    return random.sample(candidates, count)


def require_ip_netns() -> None:
    """Fail (never skip) when this machine cannot make the test's hosts."""
    if shutil.which("ip") is None:
        pytest.fail("the multi-host deploy test needs `ip` (Debian's iproute2) for network namespaces")
    if os.geteuid() != 0:
        pytest.fail("the multi-host deploy test makes network namespaces and must run as root")


@contextmanager
def network_hosts(count: int) -> Iterator[list[NetworkHost]]:
    require_ip_netns()
    token = secrets.token_hex(2)
    hosts = [
        NetworkHost(
            namespace=f"deploytest-{token}-{index}",
            address=f"10.200.{subnet}.2",
            peer_address=f"10.200.{subnet}.1",
            root_link=f"dt{token}h{index}",
        )
        for index, subnet in enumerate(_free_subnets(count))
    ]
    try:
        for host in hosts:
            _ip("netns", "add", host.namespace)
            _ip("-n", host.namespace, "link", "set", "lo", "up")
            _ip("link", "add", host.root_link, "type", "veth", "peer", "name", "eth0", "netns", host.namespace)
            _ip("addr", "add", f"{host.peer_address}/24", "dev", host.root_link)
            _ip("link", "set", host.root_link, "up")
            _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
            _ip("-n", host.namespace, "link", "set", "eth0", "up")
    except RuntimeError as exc:
        _remove(hosts)
        pytest.fail(f"cannot make network namespaces for the multi-host test: {exc}")
    try:
        yield hosts
    finally:
        _remove(hosts)


def _remove(hosts: Sequence[NetworkHost]) -> None:
    """Stop what still runs inside our namespaces, then delete them and their links."""
    for host in hosts:
        listed = subprocess.run(["ip", "netns", "pids", host.namespace], capture_output=True, text=True)
        for pid in listed.stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True)
        subprocess.run(["ip", "link", "del", host.root_link], capture_output=True)


@contextmanager
def tcp_forwarders(routes: Sequence[tuple[str, str]]) -> Iterator[None]:
    """Forward ``(listen "host:port", target "host:port")`` pairs while the block runs."""
    with ExitStack() as stack:
        process = subprocess.Popen(
            [sys.executable, str(_FORWARDER), *(f"{listen}={target}" for listen, target in routes)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        stack.callback(_end, process)
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if line != "ready":
            process.kill()
            _, errors = process.communicate()
            pytest.fail(f"the TCP forwarder did not start: {line} {errors}")
        yield


def _end(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
