"""Tabs opened step by step against the gateway, and its memory read at each step (section k).

Memory is the RSS of the one gateway process (uvicorn, one worker), read ``SETTLE_SECONDS``
after each step's last tab, so that it is what the process keeps of the tabs, not what their
requests held while they ran. ``IN_FLIGHT`` tabs are driven at once, the owners taken in turn,
so that a curve spread over many logins fills them evenly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from .guard_tabs import TabFailed, TabOwner, open_tab
from .memory import rss_mib
from .servers import RunningServer

__all__ = ["IN_FLIGHT", "Curve", "walk"]

IN_FLIGHT = 4  # tabs driven at once
SETTLE_SECONDS = 1.0


@dataclass
class Curve:
    """RSS (MiB) after ``tabs`` tabs, step by step, and each tab's ``session_hash`` by its number."""

    name: str
    steps: list[tuple[int, float]] = field(default_factory=list)
    session_hashes: dict[int, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def rss(self, tabs: int) -> float:
        return dict(self.steps)[tabs]

    def growth_mib(self, start: int, stop: int) -> float:
        return self.rss(stop) - self.rss(start)


async def _open_tabs(owners: Sequence[TabOwner], fn_index: int, count: int, curve: Curve) -> None:
    """Open ``count`` more tabs, ``IN_FLIGHT`` at a time, the owners taken in turn (tab ``n`` is
    ``owners[n % len(owners)]``'s)."""
    first = len(curve.session_hashes) + len(curve.failures)
    numbers = iter(range(first, first + count))

    async def worker() -> None:
        for number in numbers:
            try:
                curve.session_hashes[number] = await open_tab(owners[number % len(owners)], fn_index, number)
            except (TabFailed, httpx.HTTPError, ValueError) as exc:
                curve.failures.append(f"tab {number}: {exc!r}")

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    if curve.failures:
        raise RuntimeError(f"(k) {curve.name}: {len(curve.failures)} of {count} tabs failed; first: {curve.failures[:3]}")


async def walk(server: RunningServer, owners: Sequence[TabOwner], fn_index: int, curve: Curve,
               steps: Sequence[int], log: Callable[[str], None]) -> None:
    """Open tabs up to each of ``steps`` (a running total) and record the server's RSS there."""
    done = 0
    for tabs in steps:
        await _open_tabs(owners, fn_index, tabs - done, curve)
        done = tabs
        await asyncio.sleep(SETTLE_SECONDS)
        rss = rss_mib(server.process.pid)
        curve.steps.append((tabs, rss))
        log(f"  (k) {curve.name}: {tabs:>6,} tabs  RSS {rss:7.1f} MiB")
