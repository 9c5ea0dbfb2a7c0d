"""Resident memory of a server's process tree, now and at its peak.

The peak comes from the kernel's own high-water mark (``VmHWM``), reset before a transfer by
writing 5 to ``/proc/PID/clear_refs``: exact, whereas polling can miss a short spike. Where
the reset is refused, a 2 ms poller of ``VmRSS`` stands in.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil

__all__ = ["PeakRss", "peak_rss", "process_tree", "rss_mib"]

MIB = 1024 * 1024


def process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mib(pid: int) -> float:
    """The largest process of the tree: the one serving (a gunicorn or uvicorn worker)."""
    return max((_status_kib(p.pid, "VmRSS") for p in process_tree(pid)), default=0) / 1024


@dataclass
class PeakRss:
    before_mib: float = 0.0
    peak_mib: float = 0.0
    method: str = "VmHWM"

    @property
    def growth_mib(self) -> float:
        return max(0.0, self.peak_mib - self.before_mib)


def _reset_peaks(pids: list[int]) -> bool:
    try:
        for pid in pids:
            with open(f"/proc/{pid}/clear_refs", "w") as clear:
                clear.write("5")
        return True
    except OSError:
        return False


@contextmanager
def peak_rss(pid: int) -> Iterator[PeakRss]:
    """The peak resident memory of the largest process in the tree while the block runs."""
    pids = [p.pid for p in process_tree(pid)]
    result = PeakRss(before_mib=rss_mib(pid))
    if _reset_peaks(pids):
        yield result
        result.peak_mib = max((_status_kib(p, "VmHWM") for p in pids), default=0) / 1024
        return
    result.method = "VmRSS poll (2 ms)"
    stop = threading.Event()
    peak = [0]

    def poll() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], *(_status_kib(p, "VmRSS") for p in pids))
            stop.wait(0.002)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        yield result
    finally:
        stop.set()
        poller.join()
        result.peak_mib = peak[0] / 1024
