"""``WorkerServer``: uvicorn's server as each of the launcher's worker processes runs it.

Four changes to how a worker stops and logs:

* SIGTERM with a ``shutdown_delay`` keeps serving for that many seconds before uvicorn's
  graceful stop, while ``/readyz`` already answers 503 (``ShutdownWatch``): a balancer that
  polls readiness, or Kubernetes removing the pod from its Service, stops sending requests
  before the listener closes, instead of meeting refused connections. A second SIGTERM, or
  SIGINT, stops at once (gracefully).
* SIGHUP is ignored: it is the supervisor's (a rolling restart); a terminal's hangup reaching
  the whole process group must not take every worker down at once.
* Once the listener is closed, a connection with no request in progress (kept alive between
  requests, or accepted a moment ago) gets ``IDLE_CONNECTION_GRACE`` seconds to send one,
  which is answered with ``Connection: close`` (``draining`` on the server state, read by
  ``LimitedHttpToolsProtocol``); uvicorn closes such connections at once, and a request
  already on its way was lost ("server disconnected without sending a response") whenever a
  rolling restart met a busy client.
* With ``log_format="json"``, once the app is loaded (``django.setup()`` has applied the
  project's ``LOGGING``) every stream handler gets the JSON formatter.

Then uvicorn's graceful stop: the listener closes, idle connections close, in-flight requests
finish, up to ``timeout_graceful_shutdown`` seconds, after which what is left is cancelled.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from types import FrameType

import uvicorn

from fastapi_gateway.compat import connection_is_idle
from fastapi_gateway.logging import use_json_format

__all__ = ["WorkerServer", "IDLE_CONNECTION_GRACE"]

IDLE_CONNECTION_GRACE = 1.0


class WorkerServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stop_at: float | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        await super().serve(sockets)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if getattr(self.config, "log_format", "text") == "json":
            use_json_format()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        delay = float(getattr(self.config, "shutdown_delay", 0.0) or 0.0)
        if sig == signal.SIGTERM and delay > 0 and self._stop_at is None and not self.should_exit:
            self._stop_at = time.monotonic() + delay  # on_tick stops the server then
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._stop_at is not None and time.monotonic() >= self._stop_at:
            self.should_exit = True
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        setattr(self.server_state, "draining", True)  # each request from now on ends its connection
        deadline = time.monotonic() + IDLE_CONNECTION_GRACE
        while time.monotonic() < deadline and not self.force_exit:
            idle = False
            for connection in list(self.server_state.connections):
                if connection_is_idle(connection):
                    idle = True
                else:
                    connection.shutdown()  # its response goes out with Connection: close
            if not idle:
                break
            await asyncio.sleep(0.05)
        await super().shutdown(sockets)  # closes what is still idle, waits for the rest
