"""Full garbage collections that walk only what is new, and all of it now and then.

CPython's collector walks every object it tracks on a full collection, and runs one whenever
the objects promoted since the last reach a quarter of those that survived it: under load, every
few seconds. A gateway process holds many objects that live long: each open Gradio stream is a
suspended await chain through every middleware, hundreds of objects, so with thousands of
streams open each full collection held the GIL long enough to show in every legacy page's p99
(bench/RESULTS.md, section j).

So after each full collection, whatever survived it is moved out of the collector's reach
(``gc.freeze()``): later full collections walk only what was promoted since. An object frozen
that dies later is freed by reference counting as usual; one that dies in a reference cycle
waits for the next *walk of everything*: every ``full_walk_seconds`` the frozen objects are
handed back (``gc.unfreeze()``) and one full collection frees such cycles, after which the
survivors are frozen again. Memory held by dead cycles is so bounded by what one period
leaves; the price of a walk of everything is paid once a period instead of every few seconds.

It changes the process's collector, so only the served entrypoint installs it
(``fastapi_gateway.asgi``), as it pins CPUs; an app built in-process (tests, an embedding
server) keeps Python's collector as it found it.
"""

from __future__ import annotations

import gc
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge

__all__ = ["GCPolicy", "install_gc_policy"]

logger = logging.getLogger(__name__)

_OLDEST = 2  # the generation a full collection collects (gc.collect()'s default)

FROZEN = Gauge("gateway_gc_frozen_objects", "Objects out of the garbage collector's reach (gc.get_freeze_count()).")
FROZEN.set_function(gc.get_freeze_count)
FULL_WALKS = Counter("gateway_gc_full_walks", "Full collections that walked every object, frozen ones included.")


class GCPolicy:
    """Freeze what survives each full collection; walk everything every ``full_walk_seconds``.

    ``walks`` counts the walks of everything made so far, ``frozen_at_last_walk`` what the last
    one left frozen (for ``/metrics``). ``stop()`` removes the callback and ends the thread,
    leaving the frozen objects to the collector again.
    """

    def __init__(self, full_walk_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if not (math.isfinite(full_walk_seconds) and full_walk_seconds > 0):
            raise ValueError(f"full_walk_seconds must be positive, not {full_walk_seconds!r}")
        self.full_walk_seconds = float(full_walk_seconds)
        self.walks = 0
        self.frozen_at_last_walk = 0
        self._clock = clock
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def _after_collection(self, phase: str, info: dict[str, Any]) -> None:
        # Run by the collector in whichever thread collected, with the GIL held and the
        # collection over: moving its survivors to the permanent generation is two list merges.
        if phase == "stop" and info["generation"] == _OLDEST and not self._stopped.is_set():
            gc.freeze()

    def walk_everything(self) -> int:
        """Hand the frozen objects back and collect them all once; returns what was freed."""
        gc.unfreeze()
        started = self._clock()
        freed = gc.collect()  # our callback freezes the survivors
        self.walks += 1
        FULL_WALKS.inc()
        self.frozen_at_last_walk = gc.get_freeze_count()
        logger.debug("full walk of %d objects in %.0f ms, %d freed", self.frozen_at_last_walk,
                     (self._clock() - started) * 1000, freed)
        return freed

    def _walk_periodically(self) -> None:
        while not self._stopped.wait(self.full_walk_seconds):
            try:
                self.walk_everything()
            except Exception:  # a finaliser that raises must not end the walks
                logger.exception("the periodic full garbage collection failed")

    def start(self) -> GCPolicy:
        if self._thread is not None:
            raise RuntimeError("this GC policy is already started")
        gc.callbacks.append(self._after_collection)
        gc.collect()  # what exists now (the project, its pages) is frozen by the callback
        self._thread = threading.Thread(target=self._walk_periodically, name="gateway-gc-walk", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        try:
            gc.callbacks.remove(self._after_collection)
        except ValueError:
            pass
        if self._thread is not None:
            self._thread.join()
        gc.unfreeze()


_installed: GCPolicy | None = None


def install_gc_policy(full_walk_seconds: float | None) -> GCPolicy | None:
    """The process's policy, started once (``None``: Python's own collector, untouched).
    Later calls return the policy already installed."""
    global _installed
    if full_walk_seconds is None:
        return _installed
    if _installed is None:
        _installed = GCPolicy(full_walk_seconds).start()
    return _installed
