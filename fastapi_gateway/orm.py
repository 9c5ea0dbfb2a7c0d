"""Run Django ORM work from async code, off the event loop, with Django's connection hygiene.

Django closes stale connections at the start and end of each request through signals; a
function run from an AnyIO worker thread gets neither, so without the calls below every
worker thread keeps its own connection open forever.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio.to_thread
from django.db import close_old_connections

from fastapi_gateway.legacy.thread_context import run_in_thread_context

__all__ = ["run_orm"]

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
