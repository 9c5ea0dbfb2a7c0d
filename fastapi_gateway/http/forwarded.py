"""Believe ``X-Forwarded-*`` only from configured proxies, with uvicorn's semantics.

Gradio builds its root URL from ``X-Forwarded-Host`` and Django can be told to trust
``X-Forwarded-Proto``; from an untrusted client these headers are forgeries, so they are
removed before anything reads them. From a trusted proxy, uvicorn's own
``ProxyHeadersMiddleware`` sets the client address and scheme.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from fastapi_gateway.compat import TrustedHosts

__all__ = ["ForwardedHeadersMiddleware"]

_FORWARDING_HEADERS = frozenset(
    {
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"x-forwarded-prefix",
        b"x-forwarded-proto",
        b"x-real-ip",
    }
)


class ForwardedHeadersMiddleware:
    """Strip forwarding headers unless the peer is in ``trusted_proxies`` (IPs, CIDRs or ``*``)."""

    def __init__(self, app: ASGIApp, *, trusted_proxies: Sequence[str] = ()) -> None:
        self.app = app
        self._trusted = TrustedHosts(list(trusted_proxies)) if trusted_proxies else None
        self._proxied_app: ASGIApp = (
            cast(ASGIApp, ProxyHeadersMiddleware(cast(Any, app), trusted_hosts=list(trusted_proxies)))
            if trusted_proxies
            else app
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        if self._trusted is not None and client is not None and client[0] in self._trusted:
            await self._proxied_app(scope, receive, send)
            return
        headers = scope["headers"]
        if any(name in _FORWARDING_HEADERS for name, _ in headers):
            scope = dict(scope, headers=[(n, v) for n, v in headers if n not in _FORWARDING_HEADERS])
        await self.app(scope, receive, send)
