"""``ShutdownWatch``: the moment shutdown begins, known before the server stops accepting.

uvicorn runs the app's lifespan shutdown only once every connection has closed, so a
readiness answer that waited for it would say "ready" through the whole drain, and a balancer
would keep sending requests to a process on its way out. While the app runs, the watch puts
itself in front of whatever handles SIGTERM and SIGINT (uvicorn's ``Server.handle_exit``, a
launcher's, gunicorn's worker's) and notes the first one before passing it on; the lifespan
shutdown notes it too, for a server that stops without a signal. What must start to stop at
that moment (Gradio's heartbeat streams, which never end by themselves) registers with
``on_begin``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["ShutdownWatch", "STOP_SIGNALS"]

logger = logging.getLogger("fastapi_gateway")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class ShutdownWatch:
    """Whether this app's process has begun to stop (``began``), since when and why."""

    def __init__(self) -> None:
        self.began_at: float | None = None  # time.monotonic()
        self.reason: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._callbacks: list[Callable[[], object]] = []

    @property
    def began(self) -> bool:
        return self.began_at is not None

    def on_begin(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` on the event loop when shutdown begins."""
        self._callbacks.append(callback)

    def begin(self, reason: str) -> None:
        """Note the start of shutdown, once. Safe in a signal handler: it only sets two
        attributes and leaves the rest (the log line, the callbacks) to the event loop; logging
        there could re-enter a handler's lock held by the code the signal interrupted."""
        if self.began_at is not None:
            return
        self.began_at, self.reason = time.monotonic(), reason
        calls: list[Callable[[], object]] = [
            lambda: logger.info("shutdown began (%s): /readyz answers 503 from now on", reason), *self._callbacks,
        ]
        for call in calls:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(call)
            else:
                call()

    @contextmanager
    def watching_signals(self, signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> Iterator[None]:
        """For the app's lifetime (its lifespan), note the first stop signal, then hand it to the
        handler that was there. Signals with no Python handler (the default action, or
        ignored) are left alone, as are processes where this is not the main thread."""
        self._loop = asyncio.get_running_loop()
        installed: dict[signal.Signals, Callable[[int, FrameType | None], Any]] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in signals:
                previous = signal.getsignal(signum)
                if callable(previous):
                    installed[signum] = self._chain(signum, previous)
                    signal.signal(signum, installed[signum])
        try:
            yield
        finally:
            self.begin("the server is stopping")
            for signum, handler in installed.items():
                if signal.getsignal(signum) is handler:  # else someone chained after us: leave theirs
                    signal.signal(signum, getattr(handler, "previous"))

    def _chain(self, signum: signal.Signals, previous: Callable[[int, FrameType | None], Any]) -> Callable[[int, FrameType | None], Any]:
        def note_then_pass_on(received: int, frame: FrameType | None) -> Any:
            self.begin(f"{signal.Signals(received).name} received")
            return previous(received, frame)

        setattr(note_then_pass_on, "previous", previous)
        return note_then_pass_on
