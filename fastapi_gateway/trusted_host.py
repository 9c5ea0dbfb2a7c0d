"""Django's ``ALLOWED_HOSTS`` rule for every route of the gateway, not just Django's.

Gradio builds absolute URLs from the ``Host`` header, so a foreign host must be refused
before any new route sees it. The decision is Django's own ``validate_host``.
"""

from __future__ import annotations

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["DjangoAllowedHostsMiddleware", "host_is_allowed"]

_DEBUG_DEFAULT_HOSTS = [".localhost", "127.0.0.1", "[::1]"]


def host_is_allowed(host: str) -> bool:
    """Whether Django's ``HttpRequest.get_host()`` would accept this ``Host`` value."""
    allowed_hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = _DEBUG_DEFAULT_HOSTS
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed_hosts)


def _host_of(scope: Scope) -> str:
    """The ``Host`` header, or the server address as Django falls back to ``SERVER_NAME``."""
    host = Headers(scope=scope).get("host")
    if host:
        return host
    server = scope.get("server")
    return f"{server[0]}:{server[1]}" if server else ""


class DjangoAllowedHostsMiddleware:
    """``400`` for a ``Host`` that ``ALLOWED_HOSTS`` does not list, on HTTP and websockets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not host_is_allowed(_host_of(scope)):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await PlainTextResponse("Invalid Host header", status_code=400)(scope, receive, send)
            return
        await self.app(scope, receive, send)
