"""Keep each gateway process on one CPU of its own.

A gateway process serves a legacy page with two threads: the event loop and a worker thread
running Django. On a VM, every hand-off between them that lands on the other vCPU pays for
waking it: measured here, +1.2 to 1.5 ms per page at one connection (p50 9.4-10.2 ms against
8.0-8.5 ms pinned, gunicorn 6.1-7.9 ms) and 10-20 % of the throughput under load. Under the
GIL a process never runs Python on two CPUs at once anyway, so nothing is lost by keeping
its threads together.

Sibling processes (``uvicorn --workers N``, gunicorn's workers, ``deploy/cluster``'s
gateways) share out the CPUs between them: each claims a slot ``(cpu, round)`` with an
abstract Unix socket named after the slot, so a claim is released by the kernel when its
process dies (no lock files to clean up), and processes beyond the CPU count go round again.
"""

from __future__ import annotations

import logging
import os
import socket

__all__ = ["claim_cpu"]

logger = logging.getLogger(__name__)

_MAX_ROUNDS = 64
_claims: list[socket.socket] = []  # held for the life of the process
_claimed_cpu: int | None = None
_ALL_CPUS = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()  # what a forked child gets back


def _pin_every_thread_to(cpus: set[int]) -> None:
    """``sched_setaffinity(0)`` is per thread on Linux: pin the threads that exist already too."""
    for task in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(task), cpus)
        except (ProcessLookupError, PermissionError):
            pass  # a thread that just ended


def _try_claim(name: str) -> socket.socket | None:
    claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        claim.bind("\0" + name)
    except OSError:
        claim.close()
        return None
    return claim


def claim_cpu(namespace: str | None = None) -> int | None:
    """Pin this process to the least-claimed CPU among its siblings (those with the same
    parent, or the same ``namespace``) and return it; ``None`` where there is nothing to gain
    (one CPU allowed) or pinning is not available. Once pinned, a process keeps its CPU: a
    second call (a second app in the process, a lifespan run again) returns it unchanged."""
    global _claimed_cpu
    if _claimed_cpu is not None:
        return _claimed_cpu
    if not hasattr(os, "sched_setaffinity") or not os.path.isdir("/proc/self/task"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None
    group = namespace if namespace is not None else str(os.getppid())
    for round_ in range(_MAX_ROUNDS):
        for cpu in allowed:
            claim = _try_claim(f"fastapi-gateway-cpu/{os.getuid()}/{group}/{cpu}/{round_}")
            if claim is not None:
                _claims.append(claim)
                _claimed_cpu = cpu
                _pin_every_thread_to({cpu})
                logger.info("pinned to CPU %d (slot %d of group %s)", cpu, round_, group)
                return cpu
    return None


def _unpin_after_fork() -> None:
    """A forked child does not inherit its parent's claim: a server's forked worker claims
    its own CPU when it starts serving (``create_app(cpu_affinity=True)`` does it in the
    lifespan), and anything else (a subprocess) runs where the kernel likes."""
    global _claimed_cpu
    if _claims:
        for claim in _claims:
            claim.close()  # our copies only: the parent keeps its claim
        _claims.clear()
        _claimed_cpu = None
        _pin_every_thread_to(_ALL_CPUS)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_unpin_after_fork)
