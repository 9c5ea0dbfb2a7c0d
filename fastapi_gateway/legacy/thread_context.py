"""Run blocking Django code in a worker thread the way a WSGI server's thread would.

Django keeps its cache clients (``django.core.cache.caches``) in an ``asgiref.local.Local``
that lives in a context variable. Running each call in a fresh copy of the caller's context,
as ``a2wsgi`` and ``anyio.to_thread`` do, therefore builds a new ``RedisCache`` (with a new
connection pool and a new TCP connection to Redis) for every request, where gunicorn's
thread keeps one for its lifetime. Under the ``cache`` and ``cached_db`` session engines that
was a Redis connect per lookup.

Here each worker thread keeps one long-lived context. A call runs in it after adopting the
caller's context variables (a tracing or request-id variable set by an ASGI middleware still
reaches the view), except asgiref's own storage, which stays per thread so that connections
are never shared between threads.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = ["run_in_thread_context"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

# asgiref.local.Local keeps its per-context storage in a variable of this name.
_ASGIREF_STORAGE = "asgiref.local"
_thread = threading.local()


def run_in_thread_context(
    caller: contextvars.Context, func: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs
) -> _R:
    """Call ``func`` in this thread's long-lived context, carrying ``caller``'s variables."""
    context: contextvars.Context | None = getattr(_thread, "context", None)
    if context is None:
        context = _thread.context = contextvars.Context()
    return context.run(_adopt_and_call, caller, func, *args, **kwargs)


def _adopt_and_call(caller: contextvars.Context, func: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
    for variable, value in caller.items():
        if variable.name != _ASGIREF_STORAGE:
            variable.set(value)
    return func(*args, **kwargs)
