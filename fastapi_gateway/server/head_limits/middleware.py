"""``RequestHeadLimitMiddleware``: the request-head limits under any ASGI server.

Under the gateway's launchers the HTTP protocol refuses an oversized head while parsing it
(``httptools_protocol``). granian, hypercorn or Django's test tools hand over a scope already
built, with limits of their own or none; checking that scope costs a few length sums per
request, so the backstop stays on under every server.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from fastapi_gateway.http.request_id import HEADER as REQUEST_ID, new_request_id
from fastapi_gateway.server.head_limits.exceptions import HeaderFieldTooLarge, RequestHeadTooLarge, RequestLineTooLong, TooManyHeaderFields
from fastapi_gateway.server.head_limits.limits import FIELD_OVERHEAD, LINE_OVERHEAD, RequestHeadLimits, refusal_body

__all__ = ["RequestHeadLimitMiddleware"]


class RequestHeadLimitMiddleware:
    """414 for a request line over ``limit_request_line``, 431 for more header fields than
    ``limit_request_fields`` or one over ``limit_request_field_size``; a WebSocket handshake
    over them is closed before it is accepted."""

    def __init__(self, app: ASGIApp, *, limits: RequestHeadLimits) -> None:
        self.app = app
        self.limits = limits
        self._line_room = limits.limit_request_line - LINE_OVERHEAD  # for method, path and query
        self._field_room = limits.limit_request_field_size - FIELD_OVERHEAD  # for a name and its value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" and scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        query = scope.get("query_string")
        target = len(scope.get("raw_path") or scope["path"]) + (len(query) + 1 if query else 0)
        error: RequestHeadTooLarge | None = None
        if len(scope.get("method", "GET")) + target > self._line_room:
            error = RequestLineTooLong(self.limits.limit_request_line)
        elif len(headers) > self.limits.limit_request_fields:
            error = TooManyHeaderFields(self.limits.limit_request_fields)
        else:
            for name, value in headers:
                if len(name) + len(value) > self._field_room:
                    error = HeaderFieldTooLarge(self.limits.limit_request_field_size)
                    break
        if error is None:
            await self.app(scope, receive, send)
        else:
            await _refuse(error, scope, send)


async def _refuse(error: RequestHeadTooLarge, scope: Scope, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})  # before accept: the server answers 403
        return
    body = refusal_body(error)
    await send({
        "type": "http.response.start",
        "status": error.status_code,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (REQUEST_ID, new_request_id().encode()),  # refused before the request id middleware
        ],
    })
    await send({"type": "http.response.body", "body": body})
