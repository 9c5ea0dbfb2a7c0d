"""Django's ``ALLOWED_HOSTS`` rule for every route of the gateway, not just Django's.

Gradio builds absolute URLs from the ``Host`` header, so a foreign host must be refused
before any new route sees it. The decision is Django's own ``validate_host``; the answer
is Django's own too on a legacy URL (its 400 page, with its security headers, exactly as
under gunicorn), and a JSON ``400`` on the new side's.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from fastapi_gateway.compat import get_route_path, split_domain_port, validate_host

__all__ = ["DjangoAllowedHostsMiddleware", "host_is_allowed"]

_DEBUG_DEFAULT_HOSTS = [".localhost", "127.0.0.1", "[::1]"]
_ANSWERS_KEPT = 1024
_answers: dict[str, bool] = {}


@receiver(setting_changed)
def _forget_answers(**_kwargs: object) -> None:
    _answers.clear()


def host_is_allowed(host: str) -> bool:
    """Whether Django's ``HttpRequest.get_host()`` would accept this ``Host`` value.

    Answers are kept per value (a site is reached under few names; a client sending many
    only refills a bounded table) and forgotten when a setting changes.
    """
    known = _answers.get(host)
    if known is None:
        if len(_answers) >= _ANSWERS_KEPT:
            _answers.clear()
        known = _answers[host] = _decide(host)
    return known


def _decide(host: str) -> bool:
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
    """``400`` for a ``Host`` that ``ALLOWED_HOSTS`` does not list, on HTTP and websockets.

    With ``legacy`` given, a URL that is Django's — under none of ``claimed_prefixes`` and
    reached by no route of the app before the ``legacy`` mount — goes straight to ``legacy``,
    past every other layer and the route table, and Django answers it as it always has. Any
    other URL gets ``{"detail": "Invalid Host header"}``; a websocket is closed (1008).
    """

    def __init__(self, app: ASGIApp, *, legacy: ASGIApp | None = None, claimed_prefixes: Sequence[str] = ()) -> None:
        self.app = app
        self.legacy = legacy
        self.claimed_prefixes = tuple(claimed_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not host_is_allowed(_host_of(scope)):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            elif self.legacy is not None and self._is_legacy_url(scope):
                await self.legacy(scope, receive, send)
            else:
                await JSONResponse({"detail": "Invalid Host header"}, status_code=400)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _is_legacy_url(self, scope: Scope) -> bool:
        """Whether the path is Django's: no new prefix claims it, and no route of the app
        before the ``legacy`` mount knows it (whatever the method: the refusal is the same)."""
        path: str = scope["path"]
        if self.claimed_prefixes and get_route_path(scope).startswith(self.claimed_prefixes):
            return False
        router = getattr(scope.get("app"), "router", None)
        if router is None:
            return True
        probe = {"type": "http", "path": path, "root_path": scope.get("root_path", ""), "method": scope["method"], "headers": scope.get("headers", [])}
        for route in router.routes:
            if isinstance(route, Mount) and route.app is self.legacy:
                return True
            if route.matches(probe)[0] is not Match.NONE:
                return False
        return False
