"""Every private or undocumented name of Django, Starlette, uvicorn, a2wsgi and Gradio the
gateway relies on, in one place, each with a test in ``tests/gateway/test_compat.py``.

A library keeps no promise about these, so a release may move or reshape any of them; when
one does, its test here fails by name instead of a login, a route or a worker going wrong
somewhere else. Each entry says the version it was checked against and what breaks without
it. Gradio's file-handling names have their own seam, ``fastapi_gateway.pages.file_hooks``.
Gradio is imported only when one of its names is first asked for: it is an optional extra.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.contrib.sessions.backends.base import SessionBase
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import URLPattern, URLResolver, get_resolver, get_urlconf
from django.urls.resolvers import RoutePattern
from django.db.utils import ConnectionHandler
from django.utils.http import url_has_allowed_host_and_scheme
from starlette._utils import get_route_path
from uvicorn.middleware.proxy_headers import _TrustedHosts as TrustedHosts
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import Server, ServerState
from uvicorn.supervisors import multiprocess
from a2wsgi.wsgi import build_environ as a2wsgi_build_environ

if TYPE_CHECKING:
    from gradio.data_classes import PredictBody as PredictBody
    from gradio.utils import get_upload_folder as get_upload_folder
    from gradio_client.utils import construct_args as construct_args

__all__ = [
    # Django 5.2.19
    "BACKEND_SESSION_KEY",
    "HASH_SESSION_KEY",
    "SESSION_KEY",
    "load_backend",
    "parse_cookie",
    "session_store_subclass",
    "session_cache",
    "ASGIRequest",
    "origin_verified",
    "split_domain_port",
    "validate_host",
    "url_has_allowed_host_and_scheme",
    "RoutePattern",
    "url_resolver",
    "url_entries",
    "join_route",
    "view_path",
    "thread_connections",
    "set_thread_connections",
    # Starlette 1.10.0
    "get_route_path",
    # uvicorn 0.54.0
    "TrustedHosts",
    "HttpToolsProtocol",
    "STATUS_LINE",
    "ServerState",
    "WorkerProcess",
    "Multiprocess",
    "serve_workers_with",
    "worker_server",
    "connection_is_idle",
    # a2wsgi 1.10.10
    "a2wsgi_build_environ",
    # Gradio 6.31.0, gradio_client 2.7.2 (imported on first use)
    "PredictBody",
    "construct_args",
    "get_upload_folder",
    "gradio_queue",
    "gradio_apps_made_at_mount",
    "gradio_stop_event",
    "forget_gradio_session",
    "forget_gradio_upload",
    "gradio_session_busy",
]

# --- Django 5.2.19 ------------------------------------------------------------------------
# SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY, load_backend (django.contrib.auth, not
# documented): the session keys login() writes and the backend loader get_user() uses; renamed,
# every session would resolve to an anonymous user. parse_cookie (django.http.cookie): the
# session key read from the Cookie header exactly as Django reads it.


def session_store_subclass(store_class: type[SessionBase], overrides: dict[str, Any]) -> type[SessionBase]:
    """A subclass of a session engine's store that still decodes its sessions: ``SessionBase.key_salt``
    is made of the class's ``__qualname__``, so the subclass keeps the engine's (else every
    session reads empty)."""
    return type(store_class.__name__, (store_class,), {**overrides, "__qualname__": store_class.__qualname__})


def session_cache(session: object) -> Any | None:
    """The cache of a ``cache`` or ``cached_db`` session store (its ``_cache``), ``None`` for other
    engines: the one way to ask whether Redis is down when such a store loads empty."""
    return getattr(session, "_cache", None)


# ASGIRequest (django.core.handlers.asgi, not documented): the Django request CSRF rules judge,
# built from an ASGI scope; without it the gateway would re-implement Django's CSRF checks.


def _no_view(request: HttpRequest) -> HttpResponse:
    raise AssertionError("only the origin check runs")


def origin_verified(request: HttpRequest) -> bool:
    """``CsrfViewMiddleware._origin_verified``: Django's own Origin decision (scheme, host, exact
    and wildcard ``CSRF_TRUSTED_ORIGINS``). A fresh middleware each time: it caches the parsed
    trusted origins on itself."""
    verified: bool = CsrfViewMiddleware(_no_view)._origin_verified(request)  # type: ignore[attr-defined]
    return verified


# split_domain_port, validate_host (django.http.request, not documented): ALLOWED_HOSTS decided
# as Django decides it. url_has_allowed_host_and_scheme (django.utils.http, not documented): the
# check Django's login view makes of ?next=. RoutePattern (django.urls.resolvers, not
# documented): path() syntax, so a migrated route's <int:pk> means what it means in urls.py.


def url_resolver() -> URLResolver:
    """``get_resolver(get_urlconf())`` (``get_resolver`` is not documented): the resolver
    ``resolve()`` asks in this thread, whose tree the coverage report walks."""
    return get_resolver(get_urlconf())


def url_entries(resolver: URLResolver) -> list[URLPattern | URLResolver]:
    """``URLResolver.url_patterns`` (not documented): an include's patterns and includes, in the
    order ``resolve()`` tries them."""
    return list(resolver.url_patterns)


def join_route(prefix: str, route: str) -> str:
    """``URLResolver._join_route``: how ``resolve()`` joins an include's route to its patterns'
    into ``ResolverMatch.route``, the name the traffic counts are kept under; a hand-made join
    would name ``re_path()`` patterns differently from the counts."""
    joined: str = URLResolver._join_route(prefix, route)  # type: ignore[attr-defined]
    return joined


def view_path(pattern: URLPattern) -> str:
    """``URLPattern.lookup_str`` (not documented): the view's dotted path, with class-based views
    and ``functools.partial`` unwrapped, which a wrapped callback's own ``__module__`` would not give."""
    return pattern.lookup_str


def thread_connections(handler: ConnectionHandler) -> Any:
    """``django.db.connections._connections``: the per-thread connections, which the parity sandbox
    swaps for one shared connection as ``LiveServerTestCase`` does for in-memory SQLite."""
    return getattr(handler, "_connections")


def set_thread_connections(handler: ConnectionHandler, connections: Any) -> None:
    """Put ``connections`` (one attribute per alias) in place of every thread's own."""
    setattr(handler, "_connections", connections)


# --- Starlette 1.10.0 ---------------------------------------------------------------------
# get_route_path (starlette._utils): the path the router matches, root_path removed; the legacy
# lane asks the app's routes exactly as the router will.

# --- uvicorn 0.54.0 -----------------------------------------------------------------------
# TrustedHosts (_TrustedHosts in uvicorn.middleware.proxy_headers): "is this peer a trusted
# proxy", with uvicorn's IP/CIDR/* semantics, before its ProxyHeadersMiddleware believes it.
# HttpToolsProtocol, STATUS_LINE (uvicorn.protocols.http.httptools_impl), ServerState
# (uvicorn.server): the protocol LimitedHttpToolsProtocol extends to refuse oversized request
# heads while they arrive; without it, uvicorn reads any head (an 8 MiB header was served).

WorkerProcess = multiprocess.Process
Multiprocess = multiprocess.Multiprocess


def serve_workers_with(process_class: type[multiprocess.Process]) -> None:
    """Have uvicorn's supervisor build its workers from ``process_class``: it looks the module's
    ``Process`` up each time it starts one. Without it the launcher's workers take every
    connection they can, as under ``uvicorn --workers``."""
    multiprocess.Process = process_class  # type: ignore[misc]


def worker_server(process: multiprocess.Process, build: Callable[[], Server]) -> Server:
    """A worker's server, built by ``build`` on first use and kept where ``Process.server`` keeps
    uvicorn's own (``_server``)."""
    if process._server is None:
        process._server = build()
    return process._server


def connection_is_idle(connection: object) -> bool:
    """Whether one of uvicorn's HTTP connections (httptools or h11) waits for its next request:
    no ``cycle`` yet (just accepted), or its last cycle's ``response_complete``. The graceful
    stop of the launcher's workers leaves such connections a moment to send one, where
    uvicorn's own ``shutdown()`` closes them at once, under a request already on its way."""
    cycle = getattr(connection, "cycle")
    return cycle is None or bool(cycle.response_complete)


# --- a2wsgi 1.10.10 -----------------------------------------------------------------------
# a2wsgi_build_environ (a2wsgi.wsgi.build_environ; a2wsgi exports only its middlewares): the
# WSGI environ from an ASGI scope, which the legacy bridge extends with gunicorn's header rules.

# --- Gradio 6.31.0, gradio_client 2.7.2 ---------------------------------------------------
# PredictBody (gradio.data_classes) and construct_args (gradio_client.utils): the event request
# body and the arguments of a call/v2 request read as Gradio will, to refuse what it would
# answer with a 500. get_upload_folder (gradio.utils): where Gradio keeps uploads, whose paths
# the guard hands to the uploader alone.

_GRADIO_NAMES = {
    "PredictBody": "gradio.data_classes",
    "construct_args": "gradio_client.utils",
    "get_upload_folder": "gradio.utils",
}


def gradio_queue(blocks: Any) -> Any:
    """A mounted ``gr.Blocks``' queue (its ``_queue``), which the gateway wakes on work instead of
    letting it poll every millisecond."""
    return blocks._queue


class _MadeAtMount:
    """What a ``gr.Blocks``' ``app`` is between its build and its mount (never seen after)."""

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"a Gradio page's app is made when the page is mounted: {name!r} was read before")


_BUILDING_PAGES: ContextVar[bool] = ContextVar("fastapi_gateway_building_pages", default=False)


@contextmanager
def gradio_apps_made_at_mount() -> Iterator[None]:
    """While pages are built, make Gradio's ``App.create_app`` (``gradio.routes``) make nothing.
    ``gr.Blocks()`` makes a whole FastAPI app for its queue and ``with``'s end makes another,
    each thrown away when ``mount_gradio_app`` makes the one served: 8 of the 11 apps a start
    of the example made, 0.67 of its 1.53 s of building (``bench`` (f), cold start). The
    mounting code gives each Blocks the served app after (``app`` and its queue's server app,
    which Gradio otherwise leaves on the first, unserved one). ``create_app`` is wrapped once,
    for the process; the wrapper makes nothing only in the context (a ``ContextVar``), so another
    thread, or code outside it, gets Gradio's own."""
    from gradio.routes import App

    made = App.__dict__["create_app"]
    if not getattr(made.__func__, "_fastapi_gateway_wrapper", False):
        original = made.__func__
        placeholder = _MadeAtMount()

        @functools.wraps(original)  # its name, signature and source stay Gradio's
        def create_app(*args: Any, **kwargs: Any) -> Any:
            return placeholder if _BUILDING_PAGES.get() else original(*args, **kwargs)

        create_app._fastapi_gateway_wrapper = True  # type: ignore[attr-defined]
        App.create_app = staticmethod(create_app)
    token = _BUILDING_PAGES.set(True)
    try:
        yield
    finally:
        _BUILDING_PAGES.reset(token)


def gradio_stop_event(gradio_app: Any) -> asyncio.Event:
    """A mounted Gradio app's ``stop_event`` (gradio.routes.App): set, it ends the page's
    heartbeat streams as Gradio's own ``close()`` does (the session's unload events run), where
    they would otherwise hold a stopping worker for its whole grace period."""
    event: asyncio.Event = gradio_app.stop_event
    return event


def forget_gradio_session(gradio_app: Any, session_hash: str, *, queue_too: bool = True) -> bool:
    """Drop what a mounted Gradio app keeps for one browser session, as Gradio's own capacity
    eviction does: the guard's per-login budget decides which sessions a login keeps, so one
    user's flood of sessions cannot push out everyone else's (Gradio's holder keeps the last
    10,000 sessions of all users alike); and a hash let go of starts from nothing for whoever
    takes it next.

    Its state (``StateHolder.session_data``) and its per-session caches (``gr.cache``) go at
    once; its queue's records (the set of its pending events, which Gradio empties but never
    removes, its unread messages, its media streams) go once no event of it is queued or
    running (``gradio_session_busy``) and ``queue_too`` (not while a stream of it is open: it
    reads them). Returns whether everything went; if not, call again later.
    """
    from gradio.caching import clear_session_caches

    blocks = gradio_app.get_blocks()
    holder = blocks.state_holder
    with holder.lock:
        holder.session_data.pop(session_hash, None)
        holder.time_last_used.pop(session_hash, None)
    clear_session_caches(session_hash)
    if not queue_too or gradio_session_busy(gradio_app, session_hash):
        return False
    queue = gradio_queue(blocks)
    queue.pending_event_ids_session.pop(session_hash, None)
    queue.pending_messages_per_session.pop(session_hash, None)
    blocks.pending_streams.pop(session_hash, None)
    return True


def gradio_session_busy(gradio_app: Any, session_hash: str) -> bool:
    """Whether an event of the session is still queued or running on a mounted Gradio app
    (it would go on writing to the session's queue, whoever holds the hash by then)."""
    queue = gradio_queue(gradio_app.get_blocks())
    running = queue.event_ids_to_events
    return any(event_id in running for event_id in queue.pending_event_ids_session.get(session_hash, ()))


def forget_gradio_upload(upload_id: str) -> None:
    """Drop Gradio's progress record of one upload (``gradio.routes.file_upload_statuses``): it
    keeps one per ``upload_id`` ever asked about, and forgets none but the ones a client read
    to the end (asking ``upload_progress`` for a made-up id leaves one behind)."""
    from gradio.routes import file_upload_statuses

    file_upload_statuses._statuses.pop(upload_id, None)
    file_upload_statuses._signals.pop(upload_id, None)


def __getattr__(name: str) -> Any:
    home = _GRADIO_NAMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
