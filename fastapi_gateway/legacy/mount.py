"""The legacy Django site as an ASGI app, through our ``WSGIBridge`` (a2wsgi's design, hardened).

Django's own ASGI handler is not used: it holds whole ``FileResponse`` bodies in memory and
served legacy pages at under half of gunicorn's rate here (see FACTS.md). Plain a2wsgi streams
bodies both ways and closes the response iterable, but costs four thread round trips a page,
passes a truncated upload to the view as complete, lets a stalled upload hold a thread for
as long as the client likes, lets ``X-Forwarded_Proto`` through as ``HTTP_X_FORWARDED_PROTO``
and keeps a thread on a stream whose client has left; the bridge keeps the first two
properties and fixes the rest (see ``wsgi_bridge`` and ``wsgi_environ``).
"""

from __future__ import annotations

import os
from typing import Any

from django.core.wsgi import get_wsgi_application
from starlette.types import ASGIApp

from fastapi_gateway.legacy.bridge import BODY_SPOOL_LIMIT, BODY_TIMEOUT, OVERFLOW_AFTER, SEND_TIMEOUT, WSGIBridge

__all__ = ["legacy_asgi_app"]


def legacy_asgi_app(
    wsgi_app: Any | None = None,
    *,
    threads: int = 4,
    concurrency: int = 1,
    overflow_after: float = OVERFLOW_AFTER,
    body_timeout: float = BODY_TIMEOUT,
    body_spool_limit: int = BODY_SPOOL_LIMIT,
    max_body: int | None = None,
    send_timeout: float = SEND_TIMEOUT,
    script_name: str | None = None,
) -> ASGIApp:
    """Wrap ``wsgi_app`` (default: the configured Django project's) for the gateway.

    ``threads`` bounds how many legacy requests run at once; keep it at or below what the
    database allows per process, since each thread holds its own Django connection.
    ``concurrency`` of them start together, more only while some have run longer than
    ``overflow_after`` seconds (a slow query, a remote call); see ``fastapi_gateway.legacy.admission``.
    A request body is read whole before a thread is taken, spooled to a temporary file past
    ``body_spool_limit`` bytes; one that stops arriving for ``body_timeout`` seconds gets 408,
    one over ``max_body`` bytes 413 unread. A streamed response whose client takes less than
    128 KiB in ``send_timeout`` seconds is abandoned, its thread freed and its connection closed.
    ``script_name`` (default: the ``SCRIPT_NAME`` environment variable, which gunicorn reads
    too) is the prefix a site served under a sub-path keeps in its request paths.
    """
    application = wsgi_app if wsgi_app is not None else get_wsgi_application()
    if script_name is None:
        script_name = os.environ.get("SCRIPT_NAME", "")
    return WSGIBridge(
        application,
        threads=threads,
        concurrency=concurrency,
        overflow_after=overflow_after,
        body_timeout=body_timeout,
        body_spool_limit=body_spool_limit,
        max_body=max_body,
        send_timeout=send_timeout,
        script_name=script_name,
    )
