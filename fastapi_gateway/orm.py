"""Run Django ORM work from async code, off the event loop, with Django's connection hygiene.

Django closes stale connections at the start and end of each request through signals; a
function run from an AnyIO worker thread gets neither, so without the calls below every
worker thread keeps its own connection open forever.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio.to_thread
from django.db import close_old_connections

__all__ = ["run_orm"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _with_connection_hygiene(func: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
    close_old_connections()
    try:
        return func(*args, **kwargs)
    finally:
        close_old_connections()


async def run_orm(func: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """Call ``func`` in a worker thread, closing connections Django would close around a request."""
    call = functools.partial(_with_connection_hygiene, func, *args, **kwargs)
    return await anyio.to_thread.run_sync(call)
