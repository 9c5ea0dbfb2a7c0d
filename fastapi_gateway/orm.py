"""Run Django ORM work from async code, off the event loop, with Django's connection hygiene.

Django closes stale connections at the start and end of each request through signals; a
function run from an AnyIO worker thread gets neither, so without the calls below every
worker thread keeps its own connection open forever.

``KeptConnectionThread`` is the other way, for the gateway's own work that comes back every
fraction of a second whatever the traffic (the route table's poll, the route numbers' writes,
the rollouts' ticks): a thread of its own that keeps its connection between calls, whatever
``CONN_MAX_AGE`` says. Under Django's default ``CONN_MAX_AGE = 0`` each call otherwise opened
a connection and closed it: measured (``bench``'s site, one process), a poll of the route
table cost 2.2-2.9 ms of CPU on SQLite and 3.4-3.6 ms (10 ms of wall time) on PostgreSQL with
a new connection, 0.7 ms on a kept one; an idle process spent 15 ms of CPU a second on these
jobs and PostgreSQL forked a backend for each of three connections a second, per process.
``keep_only_usable_connections`` is the hygiene such threads share with the session lookups'.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

import anyio.to_thread
from django.db import close_old_connections, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

from fastapi_gateway.legacy.thread_context import run_in_thread_context

__all__ = [
    "KeptConnectionThread", "close_kept_connections", "closing_worker_connections", "keep_only_usable_connections", "run_orm",
]

logger = logging.getLogger("fastapi_gateway")

IDLE_SECONDS = 60.0  # a kept connection unused this long is replaced before use
_CLOSE_WAIT_SECONDS = 2.0

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _with_connection_hygiene(func: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
    close_old_connections()
    try:
        return func(*args, **kwargs)
    finally:
        close_old_connections()


def _in_thread_context(call: Callable[[], _R]) -> _R:
    # anyio runs this in a copy of the caller's context; the thread's own long-lived one
    # keeps Django's cache clients (and their Redis connections) from call to call.
    return run_in_thread_context(contextvars.copy_context(), call)


async def run_orm(func: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """Call ``func`` in a worker thread, closing connections Django would close around a request."""
    call = functools.partial(_with_connection_hygiene, func, *args, **kwargs)
    return await anyio.to_thread.run_sync(_in_thread_context, call)


@contextlib.contextmanager
def closing_worker_connections() -> Iterator[None]:
    """Close, when the block ends, the connections other threads opened meanwhile to an
    in-memory SQLite database: a test's, since that is where such databases are.

    Django ignores ``close()`` on those (closing the last one would drop the database), so
    each one a worker thread opened stayed open until the thread was collected, wherever
    that happened; Python 3.13's sqlite3 reports it then as a ``ResourceWarning``. The
    connections are held until the end of the block, so a thread that ends sooner does not
    drop its own unclosed. Kept-connection threads (``KeptConnectionThread``) are ended first,
    and a connection whose thread is still running a call is left open, not closed under it.
    """
    entered_in = threading.get_ident()
    opened: list[tuple[weakref.ref[BaseDatabaseWrapper], Any, int]] = []

    def remember(sender: object, connection: BaseDatabaseWrapper, **kwargs: object) -> None:
        in_memory = connection.vendor == "sqlite" and connection.is_in_memory_db()  # type: ignore[attr-defined]
        if in_memory and threading.get_ident() != entered_in:
            opened.append((weakref.ref(connection), connection.connection, threading.get_ident()))

    connection_created.connect(remember)
    try:
        yield
    finally:
        connection_created.disconnect(remember)
        # A connection closed from here under a query its thread still runs (a route table's
        # last poll, its caller gone) crashes sqlite3. The kept-connection threads are ended
        # first, once they have run what they were given; a call still running after that
        # keeps its connection open (its thread drops it when it ends).
        try:
            close_kept_connections(wait=_TEST_CLOSE_WAIT_SECONDS)
        finally:
            for wrapper_ref, database, opened_in in opened:
                if opened_in in _calling:
                    logger.warning("a kept-connection thread is still busy: its test connection is left open")
                    continue
                database.close()  # the DB-API connection itself
                wrapper = wrapper_ref()
                if wrapper is not None and wrapper.connection is database:
                    wrapper.connection = None  # its thread, if used again, connects anew


def keep_only_usable_connections(idle: bool) -> None:
    """This thread's connections before a call that keeps them: all closed if they sat
    ``idle`` (one a firewall or NAT dropped silently meanwhile is not waited on); one that
    saw an error is checked and closed if it no longer answers; one left outside autocommit
    or inside a transaction (a caller's mistake) is closed rather than trusted. The others
    are kept, whatever their age, and checked before their first query where the project
    asks for it (``CONN_HEALTH_CHECKS``), as Django checks its own at each request."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is None:
            continue
        conn.health_check_done = False  # type: ignore[attr-defined]  # Django's own flag, not in its stubs
        if idle or conn.in_atomic_block or conn.get_autocommit() != conn.settings_dict["AUTOCOMMIT"]:
            _close(conn)
        elif conn.errors_occurred:
            if conn.is_usable():
                conn.errors_occurred = False
            else:
                _close(conn)


def _close(conn: Any) -> None:
    conn.close()
    if conn.in_atomic_block and conn.closed_in_transaction:
        # Closed inside a transaction, Django keeps the closed connection and refuses a new
        # one until the block exits, which a caller that left it open never does: without
        # this, every later call on this thread would fail. The transaction went with the
        # connection; connect() resets the rest of its state. (A connection whose close()
        # did nothing, as parity's sandbox shares one inside its own transaction, is left
        # as it is.)
        conn.in_atomic_block = False
        conn.closed_in_transaction = False
        conn.connection = None


_running: set[KeptConnectionThread] = set()  # those with a thread: closed by close_kept_connections
_running_lock = threading.Lock()
_calling: set[int] = set()  # the idents of kept-connection threads running a call now
_TEST_CLOSE_WAIT_SECONDS = 10.0


class KeptConnectionThread:
    """A thread of its own, started on first use, for ORM work that comes back every few
    seconds: its database connections are kept between calls (see the module's docstring).

    Calls run one at a time, in order. A caller cancelled while its call runs leaves the call
    to finish in the thread (a thread cannot be stopped), and the next call waits for it. A
    call that has not answered within ``timeout`` seconds (a database host gone without a
    reset: the kernel would retry the kept socket for about 15 minutes) raises
    ``TimeoutError``, and its thread is left to finish and close its connection while the
    next call starts on a new thread and a new connection. ``close()`` closes the
    connections in the thread and ends it; a later call starts a new one, as does a call in a
    forked child (threads do not survive a fork)."""

    def __init__(self, name: str, *, timeout: float = 20.0) -> None:
        self.name = name
        self.timeout = timeout
        self._executor: ThreadPoolExecutor | None = None
        self._pid = 0
        self._last_used: float | None = None  # read and written in the thread only
        self._lock = threading.Lock()

    def _thread(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None or self._pid != os.getpid():
                self._executor = ThreadPoolExecutor(1, thread_name_prefix=self.name)
                self._pid = os.getpid()
                self._last_used = None
                with _running_lock:
                    _running.add(self)
            return self._executor

    def _let_go(self, executor: ThreadPoolExecutor) -> concurrent.futures.Future[None]:
        """End ``executor``'s thread once it has run what it was given, closing its connections."""
        with self._lock:
            if self._executor is executor:
                self._executor = None
                with _running_lock:
                    _running.discard(self)
        try:
            closing = executor.submit(connections.close_all)
        except RuntimeError:  # already let go by a close() that ran meanwhile: it closes them
            closing = concurrent.futures.Future()
            closing.set_result(None)
        executor.shutdown(wait=False)
        return closing

    def _call(self, func: Callable[[], _R]) -> _R:
        now = time.monotonic()
        ident = threading.get_ident()
        _calling.add(ident)
        try:
            keep_only_usable_connections(idle=self._last_used is not None and now - self._last_used > IDLE_SECONDS)
            self._last_used = now
            return func()
        finally:
            _calling.discard(ident)

    async def run(self, func: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """Call ``func`` in this thread, on its kept connection."""
        call = functools.partial(
            run_in_thread_context, contextvars.copy_context(), self._call, functools.partial(func, *args, **kwargs),
        )
        executor = self._thread()
        try:
            submitted = executor.submit(call)
        except RuntimeError:  # let go by a close() in another thread since: the next thread takes it
            executor = self._thread()
            submitted = executor.submit(call)
        done = asyncio.wrap_future(submitted)
        done.add_done_callback(_retrieved)  # a call its caller stopped waiting for: its error is not "never retrieved"
        try:
            return await asyncio.wait_for(asyncio.shield(done), self.timeout)
        except asyncio.TimeoutError:
            self._let_go(executor)
            raise TimeoutError(f"no answer from the database in {self.timeout:g} s ({self.name}); "
                               "the next call starts on a new connection") from None

    def close_blocking(self, wait: float = _CLOSE_WAIT_SECONDS) -> None:
        """Close the thread's connections and end it, once it has run what it was given
        (waiting up to ``wait`` seconds; past that its thread closes them when it ends)."""
        with self._lock:
            executor = self._executor
            if executor is None or self._pid != os.getpid():
                return
        closing = self._let_go(executor)
        try:
            closing.result(timeout=wait)
        except TimeoutError:
            # A call stuck on a database that does not answer: the process's stop deadline ends it.
            logger.warning("the %s thread is still busy at shutdown; its connection is left open", self.name)

    async def close(self) -> None:
        """``close_blocking`` from async code, shielded: it runs in a cancelled task's clean-up."""
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.close_blocking)


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def close_kept_connections(wait: float = _CLOSE_WAIT_SECONDS) -> None:
    """Close every kept-connection thread's connections, whoever still holds it (tests,
    before a test database is dropped), waiting up to ``wait`` seconds for each."""
    with _running_lock:
        running = list(_running)
    for thread in running:
        thread.close_blocking(wait)
