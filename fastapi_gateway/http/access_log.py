"""``AccessLogMiddleware``: one log record per request, with fields a log pipeline can index.

uvicorn's access log is one formatted line with the full query string and no request id. Here
each request's record on ``fastapi_gateway.access`` (INFO) carries ``method``, ``path`` (the
query's secret values masked by the rule the shadow store uses), ``status``,
``duration_ms``, ``request_id``, ``client``, ``side`` (``legacy`` or ``new``, for a request
the route table routed) and ``user_id`` (the Django user's primary key, when the new side
looked it up). Never a cookie, a header value or a body. The record is built only when the
logger is enabled for INFO, which ``python -m fastapi_gateway --log-format json`` does.
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastapi_gateway.http.request_id import current_request_id
from fastapi_gateway.routing.log_redaction import redact_url

__all__ = ["AccessLogMiddleware", "ACCESS_LOGGER"]

ACCESS_LOGGER = "fastapi_gateway.access"
_SERVED_BY = b"x-served-by"


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, *, logger_name: str = ACCESS_LOGGER) -> None:
        self.app = app
        self.logger = logging.getLogger(logger_name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method, path, query = scope["method"], scope["path"], scope.get("query_string", b"")
        status: int | None = None
        side: str | None = None

        async def watching_send(message: Message) -> None:
            nonlocal status, side
            if message["type"] == "http.response.start":
                status = message["status"]
                side = next((value.decode("latin-1") for name, value in message.get("headers", ()) if name == _SERVED_BY), None)
            await send(message)

        unanswered = 500  # an error, answered 500 further out
        try:
            await self.app(scope, receive, watching_send)
        except asyncio.CancelledError:
            unanswered = 499  # the client went away first (nginx's code for it)
            raise
        finally:
            elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
            target = redact_url(f"{path}?{query.decode('latin-1')}") if query else path
            fields = {
                "method": method,
                "path": target,
                "status": status or unanswered,
                "duration_ms": elapsed_ms,
                "request_id": current_request_id(),
                "client": (scope.get("client") or ("", 0))[0] or None,
                "side": side,
                "user_id": _user_id(scope),
            }
            self.logger.info("%s %s %d %.1fms", method, target, fields["status"], elapsed_ms, extra=fields)


def _user_id(scope: Scope) -> str | None:
    """The user the new side resolved for this request (legacy pages leave it to Django)."""
    user = scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return str(getattr(user, "pk", "")) or None
