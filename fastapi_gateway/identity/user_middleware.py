"""Pure ASGI middleware putting the Django user in ``scope["user"]`` for the new routes.

Legacy requests are skipped on purpose: Django resolves its own user, and resolving it here
as well would double the session lookup on every legacy page.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from fastapi_gateway.identity.session import user_for_scope
from fastapi_gateway.compat import get_route_path

__all__ = ["DjangoUserMiddleware"]


class DjangoUserMiddleware:
    """Resolves the user once for requests under ``path_prefixes`` (HTTP and websockets)."""

    def __init__(self, app: ASGIApp, *, path_prefixes: Iterable[str]) -> None:
        self.app = app
        self.path_prefixes = tuple(path_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and get_route_path(scope).startswith(self.path_prefixes):
            await user_for_scope(scope)
        await self.app(scope, receive, send)
