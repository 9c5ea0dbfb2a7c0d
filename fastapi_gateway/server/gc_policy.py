"""Full garbage collections that skip the objects a process keeps, and walk them now and then.

CPython's collector walks every object it tracks on a full collection, and runs one whenever
the objects promoted since the last reach a quarter of those that survived it: under load,
every few seconds. A gateway process keeps many objects for long: each open Gradio stream is a
suspended await chain through every middleware, hundreds of objects, so with thousands of
streams open each full collection held the GIL long enough to show in every legacy page's p99
(bench/RESULTS.md, section j).

So when a full collection leaves at least ``freeze_at`` objects behind, they are moved out of
the collector's reach (``gc.freeze()``): the next full collections walk only what was promoted
since. A smaller heap is left to the collector as it is, so requests in flight are frozen only
at those rare collections. A frozen object that dies later is freed by reference counting as
usual; one that dies in a reference cycle waits for the next *walk of everything*: every
``full_walk_seconds`` the frozen objects are handed back (``gc.unfreeze()``) and collected at
once, which walks them all, frees such cycles and freezes what is left. That walk is longer
than the collections it replaces (it covers what the process built at start too: 0.5 s with
2,000 streams open), once a period instead of every few seconds.

With a ``quiet`` test (the served entrypoint gives ``process_quiet``), the walk waits for a
moment when the process is idle: no Django call running or waiting, none started or ended in
the last 5 ms, the CPU under a quarter busy for ``QUIET_WINDOW_SECONDS``, so that its pause falls where nobody waits on it.
A process busy for another whole period walks all the same (``gateway_gc_full_walks_forced``):
the cycles it frees must not pile up for ever under sustained load.

It changes the process's collector, so only the served entrypoint installs it
(``fastapi_gateway.asgi``), as it pins CPUs; an app built in-process (tests, an embedding
server) keeps Python's collector as it found it. A process forked from one that has it (a
preloading server's workers, ``multiprocessing`` in a view) starts its own period.
"""

from __future__ import annotations

import gc
import math
import os
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge

from fastapi_gateway.legacy.admission import QuietWindow

__all__ = ["FREEZE_AT_OBJECTS", "GCPolicy", "install_gc_policy", "process_quiet", "supported"]

FREEZE_AT_OBJECTS = 100_000  # survivors worth freezing: a full walk of fewer costs a few tens of ms
_OLDEST = 2  # the generation a full collection collects (gc.collect()'s default)
QUIET_WINDOW_SECONDS = 0.05  # how long the process must be idle before the walk starts
QUIET_CPU_SHARE = 0.25  # of one CPU, all the process's threads together, in that window
_LATE_WAKE = 0.005  # a sleep that ends later than this waited for the GIL: threads are busy

FULL_WALKS = Counter("gateway_gc_full_walks", "Full garbage collections that walked every object, frozen ones included.")
FORCED_WALKS = Counter("gateway_gc_full_walks_forced",
                       "Walks of everything run without a quiet moment, after a whole period of waiting for one.")
LAST_WALK = Gauge("gateway_gc_last_full_walk_seconds", "How long the last walk of everything held the GIL.")
FROZEN = Gauge("gateway_gc_frozen_objects",
               "Objects moved out of the garbage collector's reach since its last walk of everything (some freed since).")


def process_quiet(window: float = QUIET_WINDOW_SECONDS, cpu_share: float = QUIET_CPU_SHARE) -> bool:
    """Whether this process stayed idle for ``window`` seconds (this thread sleeps them): no
    Django call running, waiting or started (one client's back-to-back pages leave the bridge
    idle between two), under ``cpu_share`` of a CPU used by all its threads (new routes, Gradio
    events and streams), and the sleep not held up waiting for the GIL."""
    opened = QuietWindow()
    time.sleep(window)
    return opened.was_quiet(window, cpu_share=cpu_share, late_wake=_LATE_WAKE)


def supported(version: tuple[int, ...] = sys.version_info[:2], free_threaded: bool | None = None) -> bool:
    """Measured on CPython 3.11 to 3.13 with the GIL; 3.14 collects incrementally and a
    free-threaded build freezes by stopping the world, so neither gets it until measured."""
    if free_threaded is None:
        free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    return sys.implementation.name == "cpython" and (3, 11) <= tuple(version) < (3, 14) and not free_threaded


class GCPolicy:
    """Freeze what a large full collection leaves; hand it back every ``full_walk_seconds``.

    ``frozen`` counts the objects frozen since the last walk of everything (some may have been
    freed since: counting the frozen ones would walk them), ``walks`` the walks so far,
    ``forced`` those that found no quiet moment and ``last_walk_seconds`` how long the last one
    took. ``quiet``, when given, is called again and again once a period is over (it may take
    a while: ``process_quiet`` sleeps its window) until it says yes or another period has
    passed; then the walk runs.
    ``stop()`` removes the callback and ends the thread, handing every frozen object back.
    """

    def __init__(
        self, full_walk_seconds: float, *, freeze_at: int = FREEZE_AT_OBJECTS, quiet: Callable[[], bool] | None = None
    ) -> None:
        if not (isinstance(full_walk_seconds, (int, float)) and math.isfinite(full_walk_seconds) and full_walk_seconds > 0):
            raise ValueError(f"full_walk_seconds must be a positive number, not {full_walk_seconds!r}")
        if freeze_at < 1:
            raise ValueError(f"freeze_at must be at least 1, not {freeze_at!r}")
        self.full_walk_seconds = float(full_walk_seconds)
        self.freeze_at = freeze_at
        self.quiet = quiet
        self.frozen = 0
        self.walks = 0
        self.forced = 0
        self.last_walk_seconds = 0.0
        self._thawed = False
        self._walk_started: float | None = None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def _after_collection(self, phase: str, info: dict[str, Any]) -> None:
        # Run by the collector before and after each collection, in whichever thread collected,
        # with the GIL held; at "stop" the collection is over (its finalisers run), and
        # freezing is a merge of its lists.
        if info["generation"] != _OLDEST or self._stopped.is_set():
            return
        if phase == "start":
            self._walk_started = time.perf_counter() if self._thawed else None
            return
        if self._thawed:
            if self._walk_started is None:
                # Thawed while this collection's callbacks or finalisers ran (another thread
                # had the GIL then): it walked none of what was handed back. Leave it all
                # thawed for the next full collection, which is the walk.
                return
            self._thawed = False
            self.frozen = 0
            self.walks += 1
            self.last_walk_seconds = time.perf_counter() - self._walk_started
            FULL_WALKS.inc()
            LAST_WALK.set(self.last_walk_seconds)
        survivors = len(gc.get_objects(generation=_OLDEST))
        if survivors >= self.freeze_at:
            gc.freeze()
            self.frozen += survivors

    def thaw(self) -> None:
        """Hand the frozen objects back: the next full collection walks everything once."""
        gc.unfreeze()
        self._thawed = True  # after: a collection starting in between walks them, and counts as a full one

    def walk(self) -> None:
        """Walk everything now, in this thread. ``gc.collect()`` does nothing while another
        thread's collection is under way (its finalisers let this thread run), so it is asked
        again until a walk is over, this one or one CPython ran meanwhile; past a second of
        that, the next full collection is the walk, as after ``thaw()``."""
        walks = self.walks
        self.thaw()
        deadline = time.monotonic() + 1.0
        while self.walks == walks and time.monotonic() < deadline and not self._stopped.is_set():
            gc.collect()
            if self.walks == walks:
                time.sleep(0.001)

    def _wait_for_quiet(self, quiet: Callable[[], bool]) -> bool:
        """True once ``quiet()`` says so, False after another period of asking (or at stop())."""
        deadline = time.monotonic() + self.full_walk_seconds
        while not self._stopped.is_set():
            try:
                if quiet():
                    return True
            except Exception:  # noqa: BLE001 - a broken test must not stop the walks: they come on time
                return False
            if time.monotonic() >= deadline:
                return False
            self._stopped.wait(0.001)  # a test that answers at once must not spin
        return False

    def _thaw_periodically(self) -> None:
        while not self._stopped.wait(self.full_walk_seconds):
            if self.quiet is not None and not self._wait_for_quiet(self.quiet):
                if self._stopped.is_set():
                    return
                self.forced += 1
                FORCED_WALKS.inc()
            self.walk()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._thaw_periodically, name="gateway-gc-thaw", daemon=True)
        self._thread.start()

    def _after_fork_in_child(self) -> None:
        if not self._stopped.is_set():  # threads do not survive a fork: without its own, nothing would thaw
            self._start_thread()

    def start(self) -> GCPolicy:
        if self._thread is not None:
            raise RuntimeError("this GC policy is already started")
        gc.callbacks.append(self._after_collection)
        os.register_at_fork(after_in_child=self._after_fork_in_child)
        gc.collect()  # what exists now (the project, its pages) is frozen by the callback
        self._start_thread()
        return self

    def stop(self) -> None:
        self._stopped.set()
        try:
            gc.callbacks.remove(self._after_collection)
        except ValueError:
            pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        gc.unfreeze()
        self.frozen = 0


_installed: GCPolicy | None = None
FROZEN.set_function(lambda: _installed.frozen if _installed is not None else 0)


def install_gc_policy(full_walk_seconds: float | None, *, quiet: Callable[[], bool] | None = process_quiet) -> GCPolicy | None:
    """The process's policy, started once, its walks in the process's quiet moments; ``None``
    (and on interpreters it is not measured on, see ``supported``): Python's own collector,
    untouched. Later calls return the same policy."""
    global _installed
    if full_walk_seconds is None or not supported():
        return _installed
    if _installed is None:
        _installed = GCPolicy(full_walk_seconds, quiet=quiet).start()
    return _installed
