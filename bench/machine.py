"""What the figures were measured on: the machine, the versions, and how busy others kept it.

The machine is shared with other people's test runs, so the run records the load average
before it started and how much CPU time processes outside the suite took while it ran
(``/proc/stat`` busy time minus the suite's own, children included).
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from .sites import ROOT

__all__ = ["CpuShare", "describe_machine"]

_PACKAGES = ("Django", "gradio", "fastapi", "starlette", "uvicorn", "uvloop", "httptools", "gunicorn", "a2wsgi")
_BRIDGE_FILES = ("fastapi_gateway/legacy/mount.py", "fastapi_gateway/legacy/bridge.py", "fastapi_gateway/legacy/environ.py")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip()


def _installed_bridge() -> str:
    from fastapi_gateway.legacy import mount as django_mount

    names = vars(django_mount)
    if "WSGIBridge" in names:
        return f"fastapi_gateway.legacy.bridge.WSGIBridge ({names['WSGIBridge'].__module__})"
    if "WSGIMiddleware" in names:
        return f"a2wsgi.WSGIMiddleware ({names['WSGIMiddleware'].__module__})"
    return "unknown (see fastapi_gateway/legacy/mount.py)"


def _wrk_version() -> str:
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0].split(" Copyright")[0].strip() if text else "unknown"


def describe_machine() -> dict[str, Any]:
    versions = {"Python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "ram_gib": round(_ram_gib(), 1),
        "kernel": platform.release(),
        "versions": versions,
        "wrk": _wrk_version(),
        "bridge": _installed_bridge(),
        "git_head": _git("rev-parse", "--short", "HEAD"),
        "bridge_files_uncommitted": _git("status", "--porcelain", "--", *_BRIDGE_FILES).splitlines(),
    }


def _busy_seconds() -> float:
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@dataclass
class CpuShare:
    """CPU time taken by processes outside the suite while it ran (servers and wrk are ours)."""

    load_before: tuple[float, float, float] = field(default_factory=os.getloadavg)
    _busy: float = field(default_factory=_busy_seconds)
    _own: float = field(default_factory=_own_seconds)
    _started: float = field(default_factory=lambda: datetime.datetime.now().timestamp())

    def finish(self) -> dict[str, Any]:
        wall = datetime.datetime.now().timestamp() - self._started
        others = max(0.0, (_busy_seconds() - self._busy) - (_own_seconds() - self._own))
        cores = os.cpu_count() or 1
        return {
            "load_average_before": [round(v, 2) for v in self.load_before],
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
            "wall_seconds": round(wall, 1),
            "others_cpu_seconds": round(others, 1),
            "others_share_of_machine": round(others / (wall * cores), 3) if wall else 0.0,
            "shared": self.load_before[0] > 0.3 or others / max(wall * cores, 1e-9) > 0.02,
        }
