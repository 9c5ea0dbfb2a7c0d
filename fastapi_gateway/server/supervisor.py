"""``Supervisor``: uvicorn's supervisor of worker processes, with every signal given the meaning
an engine or an operator expects of it (the table is in ``fastapi_gateway.server.launcher``),
and a stop that is bounded.

uvicorn's own acts on a signal at its next half-second tick, gives a new worker five seconds
to start during SIGHUP's restart (a Django project with Gradio pages takes longer, and the
restart gave up), leaves SIGQUIT without meaning, and waits without end for a worker that
does not stop.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from types import FrameType

import uvicorn

from fastapi_gateway.compat import Multiprocess, WorkerProcess

__all__ = ["Supervisor"]

logger = logging.getLogger("uvicorn.error")

STARTUP_FAILURE = 3  # uvicorn's exit code for a worker that could not start (uvicorn.config)
_STOP_MARGIN = 5.0  # seconds past a worker's own deadline before it is killed


class Supervisor(Multiprocess):
    """``process_class`` builds each worker; ``start_timeout`` bounds a new worker's start during
    a rolling restart; a stopping worker is killed ``--graceful-timeout`` plus
    ``--shutdown-delay`` plus 5 s after it was told to stop."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], *, process_class: type[WorkerProcess],
                 start_timeout: float = 120.0) -> None:
        super().__init__(config, sockets)
        self.process_class = process_class
        self.start_timeout = start_timeout
        self.immediate = False
        grace = config.timeout_graceful_shutdown
        delay = float(getattr(config, "shutdown_delay", 0.0) or 0.0)
        self.stop_timeout = None if grace is None else grace + delay + _STOP_MARGIN
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            signal.signal(signum, self._stop_signal)

    def _stop_signal(self, signum: int, frame: FrameType | None) -> None:
        """Acted on at once, not at the next tick: the workers' readiness turns 503 now."""
        if signum == signal.SIGQUIT or self.should_exit.is_set():
            self.immediate = True
        self.signal_queue.append(signum)
        self.should_exit.set()

    def run(self) -> None:
        logger.info("Started parent process [%d]", os.getpid())
        self.init_processes()
        while not self.should_exit.wait(0.5):
            self.handle_signals()
            self.keep_subprocess_alive()
        self.handle_signals()
        self.stop_all()
        logger.info("Stopping parent process [%d]", os.getpid())

    @property
    def failed_to_start(self) -> bool:
        return any(process.exitcode == STARTUP_FAILURE for process in self.processes)

    def stop_all(self) -> None:
        if not self.immediate:
            self.terminate_all()
        for sock in self.sockets:
            sock.close()  # once the workers have closed theirs too, a new connection is refused, not left waiting
        deadline = None if self.stop_timeout is None else time.monotonic() + self.stop_timeout
        for process in self.processes:
            self._join(process, deadline)

    def _join(self, process: WorkerProcess, deadline: float | None) -> None:
        """Wait for a stopping worker until ``deadline``, or until told to stop at once."""
        while process.process.is_alive():
            if self.immediate or (deadline is not None and time.monotonic() > deadline):
                logger.warning("Killing child process [%s]: it did not stop in time", process.pid)
                process.kill()
                break
            process.process.join(0.1)
        process.join()

    def handle_int(self) -> None:
        logger.info("Received SIGINT, stopping gracefully." if not self.immediate else "Received SIGINT again, stopping now.")

    def handle_term(self) -> None:
        logger.info("Received SIGTERM, stopping gracefully." if not self.immediate else "Received SIGTERM again, stopping now.")

    def handle_quit(self) -> None:
        logger.info("Received SIGQUIT, stopping now.")

    def handle_hup(self) -> None:
        logger.info("Received SIGHUP, restarting the workers one at a time.")
        self.restart_all()

    def restart_all(self) -> None:
        for index, old in enumerate(list(self.processes)):
            if self.should_exit.is_set():
                return
            new = self.process_class(self.config, self.sockets)
            new.start()
            if not new.wait_until_ready(self.start_timeout, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    logger.error("New child process [%s] did not start within %.0f s; keeping the old workers.", new.pid, self.start_timeout)
                return
            old.terminate()
            self.processes[index] = new
            self._join(old, None if self.stop_timeout is None else time.monotonic() + self.stop_timeout)
        logger.info("Restarted every worker.")
