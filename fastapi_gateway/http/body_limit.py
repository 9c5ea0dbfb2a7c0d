"""A request-body size limit for the new routes (Gradio uploads and the API routers).

Gradio's own ``max_file_size`` only applies to its upload route after the body is read; the
limit here refuses an oversize body up front from ``Content-Length`` and counts a chunked
one as it arrives, answering ``413`` before the handler sees more than the limit. The
counting is Starlette's own ``RequestBodyLimitMiddleware``; this only scopes it to the new
side's prefixes, since legacy URLs keep Django's own limits (``DATA_UPLOAD_MAX_MEMORY_SIZE``).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from fastapi_gateway.compat import get_route_path

__all__ = ["BodySizeLimitMiddleware"]


class BodySizeLimitMiddleware:
    """Starlette's body limit (``413 Content Too Large``) on the paths under ``path_prefixes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, path_prefixes: Iterable[str]) -> None:
        self.app = app
        self.limited = RequestBodyLimitMiddleware(app, max_body_size=max_bytes)
        self.path_prefixes = tuple(path_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and get_route_path(scope).startswith(self.path_prefixes):
            await self.limited(scope, receive, send)
        else:
            await self.app(scope, receive, send)
