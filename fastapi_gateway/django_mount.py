"""The legacy Django site as an ASGI app, through ``a2wsgi``'s WSGI bridge.

Django's own ASGI handler is not used: it holds whole ``FileResponse`` bodies in memory and
served legacy pages at under half of gunicorn's rate here (see FACTS.md); a2wsgi streams
bodies both ways and closes the response iterable, so ``request_finished`` fires.
"""

from __future__ import annotations

from typing import Any, cast

from a2wsgi import WSGIMiddleware
from django.core.wsgi import get_wsgi_application
from starlette.types import ASGIApp

__all__ = ["legacy_asgi_app"]


def legacy_asgi_app(wsgi_app: Any | None = None, *, threads: int = 4) -> ASGIApp:
    """Wrap ``wsgi_app`` (default: the configured Django project's) for the gateway.

    ``threads`` bounds how many legacy requests run at once; keep it at or below what the
    database allows per process, since each thread holds its own Django connection.
    """
    application = wsgi_app if wsgi_app is not None else get_wsgi_application()
    return cast(ASGIApp, WSGIMiddleware(application, workers=threads))
