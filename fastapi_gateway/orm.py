"""Run Django ORM work from async code, off the event loop, with Django's connection hygiene.

Django closes stale connections at the start and end of each request through signals; a
function run from an AnyIO worker thread gets neither, so without the calls below every
worker thread keeps its own connection open forever.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

import anyio.to_thread
from django.db import close_old_connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

from fastapi_gateway.legacy.thread_context import run_in_thread_context

__all__ = ["closing_worker_connections", "run_orm"]

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
    drop its own unclosed.
    """
    entered_in = threading.get_ident()
    opened: list[tuple[weakref.ref[BaseDatabaseWrapper], Any]] = []

    def remember(sender: object, connection: BaseDatabaseWrapper, **kwargs: object) -> None:
        in_memory = connection.vendor == "sqlite" and connection.is_in_memory_db()  # type: ignore[attr-defined]
        if in_memory and threading.get_ident() != entered_in:
            opened.append((weakref.ref(connection), connection.connection))

    connection_created.connect(remember)
    try:
        yield
    finally:
        connection_created.disconnect(remember)
        for wrapper_ref, database in opened:
            database.close()  # the DB-API connection itself
            wrapper = wrapper_ref()
            if wrapper is not None and wrapper.connection is database:
                wrapper.connection = None  # its thread, if used again, connects anew
