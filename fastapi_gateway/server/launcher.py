"""``python -m fastapi_gateway``: uvicorn whose worker processes share one listening
socket and take a connection only when they are free, as gunicorn's sync workers do.

``uvicorn --workers N`` has every worker accept all the connections it can as soon as the shared
socket is readable, so under load one worker queues requests while the other is idle: with
``Connection: close`` traffic at 16 connections that was twice gunicorn's p99 (bench/RESULTS.md).
Here a worker listens only while it is free: no request of its own waiting for its response to
start (a legacy page in the bridge, an API call), and no connection it just accepted still
waiting for its first request. The next connection goes to a free worker and the rest wait in
the kernel's backlog, shared, as under gunicorn. Responses already streaming (Gradio's event
streams, downloads) do not hold a worker back. A connection that has waited ``accept_wait``
(20 ms) with no worker free to take it is taken by a busy one, so slow views in every worker
never lock new visitors out; under saturation that is also how a burst of new keep-alive
connections gets in. (5 ms was too short: at saturation a worker frees every 5-6 ms, and
connections taken by busy workers queue behind them again, as under ``uvicorn --workers``.)

Gradio pages keep each browser session's state in one process: several workers on one socket
suit legacy pages and APIs, and ``deploy/`` (nginx, sticky ``/ui/``) is how to run Gradio pages
on several processes. A lone worker is plain ``uvicorn.Server`` on the socket, with nothing to gate.

Connections are read by ``LimitedHttpToolsProtocol``: gunicorn's limits on request heads,
``--limit-request-line``, ``--limit-request-fields`` and ``--limit-request-field-size`` (or the
``GATEWAY_LIMIT_*`` variables), refused with 414 or 431 while the head is still arriving.

The workers always run under a supervisor (``supervisor.Supervisor``, uvicorn's with the
meanings below), one worker included, so that a reload never drops a request:

=========  ==================================================================================
SIGTERM    Graceful stop. ``/readyz`` answers 503 at once; after ``--shutdown-delay`` seconds
SIGINT     (default 0) each worker stops accepting, finishes its in-flight requests and ends
           its Gradio streams, within ``--graceful-timeout`` (default 30 s; what is left then
           is cut); the launcher exits 0. A second SIGTERM or SIGINT stops at once.
SIGQUIT    Immediate stop: the workers are killed, in-flight requests cut.
SIGHUP     Rolling restart, for new code or settings: one worker at a time, a new one starts
           and, once it serves, the old one stops gracefully. No request is dropped; a new
           worker that fails to start is killed and the old ones go on serving.
SIGTTIN    One worker more; SIGTTOU: one fewer (stopped gracefully).
SIGUSR1    Ignored, as are SIGUSR2 and SIGWINCH: logs go to stderr, there is nothing to reopen.
=========  ==================================================================================

``--log-format json`` writes every log line as JSON (``fastapi_gateway.logging``), with one
access record per request (``fastapi_gateway.http.access_log``) in place of uvicorn's.
"""
from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import socket
import ssl
import sys
from collections.abc import Callable, Sequence
from typing import Any, cast

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastapi_gateway.compat import WorkerProcess, serve_workers_with, worker_server
from fastapi_gateway.server.head_limits.httptools_protocol import LimitedHttpToolsProtocol
from fastapi_gateway.conf import from_environment
from fastapi_gateway.logging import json_logging_config
from fastapi_gateway.server.supervisor import STARTUP_FAILURE, Supervisor
from fastapi_gateway.server.worker import WorkerServer

__all__ = ["AcceptGate", "GatedConfig", "GatedServer", "main"]

logger = logging.getLogger("uvicorn.error")

DEFAULT_ACCEPT_WAIT = 0.02
DEFAULT_GRACEFUL_TIMEOUT = 30
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_RESOURCE_RETRY_SECONDS = 1.0  # what asyncio's own accept loop waits when out of descriptors


class AcceptGate:
    """ASGI wrapper that knows whether this worker is free to take a connection.

    The worker is busy while a request waits for its response to start, and from accepting a
    connection until that connection's first request arrives (or ``accept_wait`` passes): a
    burst of new connections is shared out, not taken by whichever worker woke first.
    """

    def __init__(self, app: ASGIApp, *, accept_wait: float = DEFAULT_ACCEPT_WAIT) -> None:
        self.app = app
        self.accept_wait = accept_wait
        self.waiting = 0
        self.listeners: list[Callable[[], None]] = []  # told when the worker turns free or busy
        self._fresh: dict[tuple[str, int], asyncio.TimerHandle] = {}

    @property
    def free(self) -> bool:
        return not self.waiting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        fresh = self._fresh.pop(tuple(client), None) if client else None
        if fresh is not None:
            fresh.cancel()  # its connection's hold becomes this request's
        else:
            self._hold()
        head_pending = True

        async def send_and_release(message: Message) -> None:
            nonlocal head_pending
            if head_pending and message["type"] == "http.response.start":
                head_pending = False
                self._release()
            await send(message)

        try:
            await self.app(scope, receive, send_and_release)
        finally:
            if head_pending:
                self._release()

    def accepted(self, peer: tuple[str, int] | None) -> None:
        """A connection was just accepted: busy until its first request or ``accept_wait``."""
        if peer is None or peer in self._fresh:
            return
        self._hold()
        self._fresh[peer] = asyncio.get_running_loop().call_later(self.accept_wait, self._expire, peer)

    def _expire(self, peer: tuple[str, int]) -> None:
        if self._fresh.pop(peer, None) is not None:
            self._release()

    def _hold(self) -> None:
        self.waiting += 1
        if self.waiting == 1:
            self._tell()

    def _release(self) -> None:
        self.waiting -= 1
        if not self.waiting:
            self._tell()

    def _tell(self) -> None:
        for listener in self.listeners:
            listener()


class _GatedListener:
    """Accepts from a shared socket at once while the gate says this worker is free. While it
    is busy, a waiting connection is left ``accept_wait`` to a free worker, then taken here.
    Stands in for the ``asyncio.Server`` uvicorn would create, which only needs ``close`` and
    ``wait_closed``."""

    def __init__(self, sock: socket.socket, protocol_factory: Callable[[], asyncio.Protocol], gate: AcceptGate,
                 tls: ssl.SSLContext | None, backlog: int, on_failure: Callable[[], None]) -> None:
        self.sock = sock
        self.protocol_factory = protocol_factory
        self.gate = gate
        self.tls = tls
        self.on_failure = on_failure
        self.loop = asyncio.get_running_loop()
        self._reading = False
        self._timer: asyncio.TimerHandle | None = None  # a connection is waiting, and so are we
        self._paused_until = 0.0
        self._closed = asyncio.Event()
        self._connecting: set[asyncio.Task[None]] = set()
        sock.listen(backlog)  # uvicorn binds the shared socket; listening is the server's job
        sock.setblocking(False)
        gate.listeners.append(self._update)
        self._update()

    def _update(self) -> None:
        """On the gate's turns: a worker turning free takes a waiting connection at once."""
        if self._closed.is_set():
            return
        if self.gate.free and self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._listen(self._timer is None)

    def _readable(self) -> None:
        if self.gate.free:
            self._accept()
        elif self._timer is None:  # the clock starts when somebody is actually waiting
            self._listen(False)
            self._timer = self.loop.call_later(self.gate.accept_wait, self._ring)

    def _ring(self) -> None:
        self._timer = None
        self._accept()  # still waiting, so no worker was free to take it: this one does
        self._update()

    def _listen(self, wanted: bool) -> None:
        if wanted and self.loop.time() < self._paused_until:
            wanted = False
        if wanted and not self._reading:
            self.loop.add_reader(self.sock.fileno(), self._readable)
        elif not wanted and self._reading:
            self.loop.remove_reader(self.sock.fileno())
        self._reading = wanted

    def _accept(self) -> None:
        try:
            connection, peer = self.sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another worker took it, or the client gave up first
        except OSError as exc:
            if exc.errno not in _RESOURCE_ERRNOS:
                logger.error("Stopped accepting connections", exc_info=exc)
                self.close()
                self.on_failure()  # the worker stops, and the supervisor starts another
                return
            logger.error("Cannot accept a connection (%s); retrying in %.0f s", exc, _RESOURCE_RETRY_SECONDS)
            self._paused_until = self.loop.time() + _RESOURCE_RETRY_SECONDS
            self.loop.call_later(_RESOURCE_RETRY_SECONDS, self._update)
            self._listen(False)
            return
        connection.setblocking(False)
        self.gate.accepted(peer[:2] if isinstance(peer, tuple) else None)
        task = self.loop.create_task(self._connect(connection))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    async def _connect(self, connection: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(self.protocol_factory, connection, ssl=self.tls)
        except Exception as exc:  # one broken connection, not the listener
            connection.close()
            logger.debug("Dropped a connection at setup: %r", exc)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._listen(False)
        self._closed.set()
        if self._timer is not None:
            self._timer.cancel()
        self.gate.listeners.remove(self._update)

    async def wait_closed(self) -> None:
        await self._closed.wait()
        if self._connecting:
            await asyncio.wait(self._connecting)


class GatedServer(WorkerServer):
    """``WorkerServer`` that serves the sockets it is handed through ``_GatedListener``."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if not sockets:
            await super().startup(sockets)
            return
        await super().startup(sockets=[])  # lifespan and state, no listener of uvicorn's
        config = self.config
        gate = AcceptGate(config.loaded_app, accept_wait=getattr(config, "accept_wait", DEFAULT_ACCEPT_WAIT))
        config.loaded_app = gate

        def create_protocol(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state, _loop=_loop,
            )

        def stop() -> None:
            self.should_exit = True

        listeners = [_GatedListener(sock, create_protocol, gate, config.ssl, config.backlog, stop) for sock in sockets]
        self.servers = cast("list[asyncio.base_events.Server]", listeners)  # shutdown calls close, wait_closed

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for listener in self.servers:
            listener.close()
            await listener.wait_closed()  # a connection accepted a moment ago is set up, then stopped like the others
        await super().shutdown(sockets)


class GatedConfig(uvicorn.Config):
    """uvicorn's config plus ``accept_wait``, ``shutdown_delay`` and ``log_format`` (see
    ``WorkerServer``): the config is what reaches the spawned workers."""

    def __init__(self, app: Any, *, accept_wait: float = DEFAULT_ACCEPT_WAIT, shutdown_delay: float = 0.0,
                 log_format: str = "text", **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.accept_wait = accept_wait
        self.shutdown_delay = shutdown_delay
        self.log_format = log_format


class _GatedProcess(WorkerProcess):
    """A worker: gated when it shares the socket with others, plain uvicorn when alone (a busy
    lone worker has nobody to leave a connection to)."""

    @property
    def server(self) -> uvicorn.Server:
        if self.config.workers > 1:
            return worker_server(self, lambda: GatedServer(config=self.config))
        return worker_server(self, lambda: WorkerServer(config=self.config))


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fastapi_gateway", description=__doc__.split("\n\n")[0],
                                     epilog=_SIGNALS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("app", nargs="?", default="fastapi_gateway.asgi:app", help="ASGI app (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes sharing the socket (default: 1)")
    parser.add_argument("--accept-wait", type=float, default=DEFAULT_ACCEPT_WAIT,
                        help="seconds a busy worker holds back from accepting (default: %(default)s)")
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--proxy-headers", action=argparse.BooleanOptionalAction, default=False,
                        help="uvicorn's own X-Forwarded-* handling; the gateway has its own (GATEWAY_TRUSTED_PROXIES)")
    parser.add_argument("--graceful-timeout", "--timeout-graceful-shutdown", dest="graceful_timeout", type=_positive_int,
                        default=DEFAULT_GRACEFUL_TIMEOUT, metavar="SECONDS",
                        help="on SIGTERM, how long in-flight requests and streams may take to finish (default: %(default)s)")
    parser.add_argument("--shutdown-delay", type=_seconds, default=0.0, metavar="SECONDS",
                        help="on SIGTERM, how long to go on serving with /readyz at 503 before stopping to accept, "
                             "for balancers to notice (default: %(default)s)")
    parser.add_argument("--timeout-keep-alive", type=_seconds, default=5.0, metavar="SECONDS",
                        help="how long an idle keep-alive connection is kept; behind nginx, longer than its upstream "
                             "keepalive_timeout (deploy/: 75 against nginx's 60), else a request can meet a closing "
                             "connection and get a 502 (default: uvicorn's %(default)s)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="json: every log line a JSON object, with an access record per request (default: %(default)s)")
    for flag, variable in _LIMIT_FLAGS.items():
        parser.add_argument(flag, dest=variable, type=_positive_int, metavar="N",
                            help=f"gunicorn's limit of that name; sets {variable} (default: that, else gunicorn's)")
    return parser.parse_args(argv)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 3600:
        raise argparse.ArgumentTypeError(f"a number of seconds from 0 to 3600, not {text!r}")
    return value


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"a positive whole number, not {text!r}")
    return int(text)


_SIGNALS_HELP = "signals:\n" + __doc__.split("=========  ")[1].split("\n", 1)[1].rsplit("\n=========", 1)[0] + "\n"

# Flags as gunicorn spells them. Each sets its environment variable, which both the protocol in
# the workers and the app's own backstop read, so the two never disagree.
_LIMIT_FLAGS = {
    "--limit-request-line": "GATEWAY_LIMIT_REQUEST_LINE",
    "--limit-request-fields": "GATEWAY_LIMIT_REQUEST_FIELDS",
    "--limit-request-field-size": "GATEWAY_LIMIT_REQUEST_FIELD_SIZE",
}


def main(argv: Sequence[str] | None = None) -> None:
    arguments = _parse(sys.argv[1:] if argv is None else argv)
    for variable in _LIMIT_FLAGS.values():
        value = getattr(arguments, variable)
        if value is not None:
            os.environ[variable] = str(value)
    from_environment()  # a bad GATEWAY_* variable stops the launch, by name
    json_logs = arguments.log_format == "json"
    config = GatedConfig(
        arguments.app, accept_wait=arguments.accept_wait, host=arguments.host, port=arguments.port, workers=arguments.workers,
        loop="uvloop", http=LimitedHttpToolsProtocol, proxy_headers=arguments.proxy_headers, server_header=False,
        access_log=arguments.access_log and not json_logs, timeout_graceful_shutdown=arguments.graceful_timeout,
        timeout_keep_alive=arguments.timeout_keep_alive,
        shutdown_delay=arguments.shutdown_delay, log_format=arguments.log_format,
        log_config=json_logging_config(access_log=arguments.access_log) if json_logs else LOGGING_CONFIG,
    )
    serve_workers_with(_GatedProcess)
    supervisor = Supervisor(config, sockets=[config.bind_socket()], process_class=_GatedProcess)
    supervisor.run()
    if supervisor.failed_to_start:
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()
