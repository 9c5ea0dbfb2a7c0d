"""A request-body size limit for the new routes (Gradio uploads and ``/api/v2``).

Gradio's own ``max_file_size`` only applies to its upload route after the body is read;
this refuses oversize bodies up front from ``Content-Length``, and counts chunked bodies as
they arrive, answering ``413`` before the handler sees more than the limit.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastapi_gateway.http.channels import ResponseTracker

__all__ = ["BodySizeLimitMiddleware"]


class _BodyTooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    """``413`` with a clear message for bodies over ``max_bytes`` under the given path prefixes."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, path_prefixes: Iterable[str]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_prefixes = tuple(path_prefixes)

    def _too_large(self) -> JSONResponse:
        limit_mb = self.max_bytes / (1024 * 1024)
        return JSONResponse(
            {"detail": f"Request body too large: the limit is {limit_mb:g} MB."}, status_code=413
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.path_prefixes):
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large()(scope, receive, send)
            return

        received = 0
        tracker = ResponseTracker(send)

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, tracker)
        except _BodyTooLarge:
            if tracker.started:
                raise
            await self._too_large()(scope, receive, send)
