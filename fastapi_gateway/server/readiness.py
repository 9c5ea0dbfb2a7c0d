"""``Readiness``: whether this process should be sent requests now.

Ready means the database answers, the session store answers, the route table is loaded and
shutdown has not begun. Each check runs off the event loop and is given ``timeout`` seconds,
so a hung database makes the answer "not ready" rather than a probe that hangs too; a check
still hung from an earlier probe is waited on again, never started twice, so a stuck database
holds one thread, not one per probe. The answer is kept ``cache_seconds`` and shared by the
probes that ask meanwhile: a storm of probes costs one ``SELECT 1``.

A failed check is named with its error's class only: an exception's text can carry a
connection string or a password.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module

from django.conf import settings
from django.db import connection

from fastapi_gateway.orm import run_orm
from fastapi_gateway.routing.live_table import LiveRouteTable
from fastapi_gateway.server.shutdown import ShutdownWatch

__all__ = ["Readiness", "ReadinessReport", "database_answers", "session_store_answers"]

logger = logging.getLogger("fastapi_gateway")

OK = "ok"
# Accepted by every engine's key validation (lower-case letters and digits, 32 long); never created.
_PROBE_SESSION_KEY = "readinessprobe" + "0" * 18


def database_answers() -> None:
    """``SELECT 1`` on the default database, through Django's connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def session_store_answers() -> None:
    """Ask the configured session engine whether a session exists, as loading one would.

    ``exists`` is the read each engine makes of its own store: the session table for ``db``,
    the cache for ``cache`` (and then the table for ``cached_db``), the directory for
    ``file``, nothing for ``signed_cookies``, which keeps no store. A file store must also be a
    directory the process can write sessions into.
    """
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store.exists(_PROBE_SESSION_KEY)
    storage_path = getattr(store, "storage_path", None)
    if isinstance(storage_path, str) and not os.access(storage_path, os.W_OK | os.X_OK):
        raise PermissionError("the session directory is not writable")


@dataclass(frozen=True)
class ReadinessReport:
    ready: bool
    status: str  # "ready", "unavailable" or "shutting down"
    checks: Mapping[str, str] = field(default_factory=dict)  # check -> "ok" or why not

    def as_json(self) -> dict[str, object]:
        return {"status": self.status, "checks": dict(self.checks)}


class Readiness:
    """The checks behind ``/readyz``; ``checks`` maps a name to a blocking callable that raises
    when its dependency does not answer (default: the database and the session store)."""

    def __init__(
        self,
        *,
        shutdown: ShutdownWatch,
        route_table: LiveRouteTable | None = None,
        checks: Mapping[str, Callable[[], None]] | None = None,
        timeout: float = 2.0,
        cache_seconds: float = 1.0,
    ) -> None:
        self.shutdown = shutdown
        self.route_table = route_table
        self.checks = dict(checks) if checks is not None else {"database": database_answers, "session_store": session_store_answers}
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self._answered: tuple[float, ReadinessReport] | None = None
        self._asking: asyncio.Future[ReadinessReport] | None = None
        self._in_thread: dict[str, asyncio.Future[None]] = {}
        self._was_ready = True

    async def report(self) -> ReadinessReport:
        if self.shutdown.began:
            return ReadinessReport(False, "shutting down", {"shutdown": self.shutdown.reason or "began"})
        loop = asyncio.get_running_loop()
        if self._answered is not None and loop.time() - self._answered[0] < self.cache_seconds:
            return self._answered[1]
        if self._asking is None or self._asking.done():
            self._asking = asyncio.ensure_future(self._ask())
        report = await asyncio.shield(self._asking)  # a probe that gives up does not stop the others' check
        if self.shutdown.began:
            return await self.report()
        return report

    async def _ask(self) -> ReadinessReport:
        running = {name: self._in_thread.get(name) or self._start(name, check) for name, check in self.checks.items()}
        await asyncio.wait(running.values(), timeout=self.timeout)
        results = {name: _outcome(future, self.timeout) for name, future in running.items()}
        results["route_table"] = self._route_table()
        ready = all(result == OK for result in results.values())
        report = ReadinessReport(ready, "ready" if ready else "unavailable", results)
        self._answered = (asyncio.get_running_loop().time(), report)
        if ready != self._was_ready:
            failing = {name: result for name, result in results.items() if result != OK}
            logger.warning("readiness: %s", "ready again" if ready else f"not ready ({failing})")
            self._was_ready = ready
        return report

    def _start(self, name: str, check: Callable[[], None]) -> asyncio.Future[None]:
        future = asyncio.ensure_future(run_orm(check))
        self._in_thread[name] = future

        def finished(done: asyncio.Future[None]) -> None:
            if self._in_thread.get(name) is done:
                del self._in_thread[name]
            if not done.cancelled():
                done.exception()  # retrieved: a check that outlived its probe fails quietly

        future.add_done_callback(finished)
        return future

    def _route_table(self) -> str:
        if self.route_table is None or not self.route_table.routes or self.route_table.version >= 0:
            return OK
        return "not loaded yet"


def _outcome(future: asyncio.Future[None], timeout: float) -> str:
    if not future.done():
        return f"no answer within {timeout:g} s"
    if future.cancelled():
        return "cancelled"
    error = future.exception()
    return OK if error is None else type(error).__name__
