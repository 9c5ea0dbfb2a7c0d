"""Session lookups on threads of their own that keep their database connection.

Every Gradio event, API call and guarded stream resolves the Django user behind its session
cookie: a session read and a user read. Run like other ORM work (``run_orm``, with Django's
request hygiene), the connection was closed after each lookup under Django's default
``CONN_MAX_AGE = 0``, so each lookup opened a new one. Measured on the example's SQLite
(``bench``'s site, one process): a lookup took 1.69 ms with a new connection and 0.65 ms on a
kept one (connecting, registering Django's SQL functions, the project's ``init_command`` and
SQLite reading the schema again); on PostgreSQL a new connection is a TCP and authentication
round trip more.

So lookups run on ``THREADS`` threads of their own that keep their connections between
lookups, whatever ``CONN_MAX_AGE`` says: a process holds that many database connections more
(deploy/README.md counts them). A connection idle for ``IDLE_SECONDS`` is replaced before use,
so one a firewall or NAT dropped silently meanwhile is not waited on; one that saw an error is
checked and replaced if it is broken; a lookup that meets an outage on a kept connection is
tried once more on a new one, so a database restart costs no request. A lookup that has not
answered within ``TIMEOUT_SECONDS`` is an outage (503), not a request held without end.
``close_connections`` closes them (the app's shutdown; tests, before a test database is dropped).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from django.db import connections

from fastapi_gateway.exceptions import BackendUnavailable
from fastapi_gateway.legacy.thread_context import run_in_thread_context
from fastapi_gateway.orm import keep_only_usable_connections

__all__ = ["THREADS", "close_connections", "run_lookup"]

logger = logging.getLogger("fastapi_gateway")

_P = ParamSpec("_P")
_R = TypeVar("_R")

THREADS = 4
IDLE_SECONDS = 60.0
TIMEOUT_SECONDS = 20.0
_CLOSE_WAIT_SECONDS = 2.0

_local = threading.local()  # per lookup thread: when its connections were last used

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(THREADS, thread_name_prefix="gateway-lookup")
    return _executor


def _open_connections() -> list[object]:
    return [conn for conn in connections.all(initialized_only=True) if conn.connection is not None]


def _keep_only_usable() -> None:
    """This thread's connections, kept whatever their age unless idle too long or broken."""
    now = time.monotonic()
    idle_too_long = now - getattr(_local, "last_used", now) > IDLE_SECONDS
    _local.last_used = now
    keep_only_usable_connections(idle_too_long)


def _lookup(func: Callable[[], _R]) -> _R:
    _keep_only_usable()
    kept = bool(_open_connections())
    try:
        return func()
    except BackendUnavailable:
        if not kept:
            raise
        # A kept connection the server dropped meanwhile (a restart, an idle timeout): once more
        # on a new one, and only then is it an outage.
        for conn in connections.all(initialized_only=True):
            conn.close()
        return func()


async def run_lookup(func: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """Call ``func`` (ORM reads, no writes, no transaction) on a lookup thread."""
    call = functools.partial(run_in_thread_context, contextvars.copy_context(), _lookup, functools.partial(func, *args, **kwargs))
    try:
        return await asyncio.wait_for(asyncio.wrap_future(_pool().submit(call)), TIMEOUT_SECONDS)
    except asyncio.TimeoutError as exc:
        raise BackendUnavailable(exc) from exc


def close_connections() -> None:
    """Close every lookup thread's database connections (blocking; at most a few seconds).

    Each thread must run the closing itself (a Django connection belongs to its thread), so
    one task per thread waits at a barrier until every thread holds one."""
    if _executor is None:
        return
    barrier = threading.Barrier(THREADS)

    def close_in_this_thread() -> None:
        try:
            barrier.wait(_CLOSE_WAIT_SECONDS)
        except threading.BrokenBarrierError:
            pass
        connections.close_all()

    futures = [_executor.submit(close_in_this_thread) for _ in range(THREADS)]
    deadline = time.monotonic() + _CLOSE_WAIT_SECONDS * 2
    try:
        for future in futures:
            future.result(timeout=max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        # A lookup stuck on a database that does not answer. Its thread cannot be stopped; the
        # process's stop deadline (the launcher's, the engine's) ends it.
        logger.warning("a session lookup thread is still busy at shutdown; its connection is left open")
