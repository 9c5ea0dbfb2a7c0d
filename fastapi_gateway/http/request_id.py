"""``X-Request-ID`` on every request and every response, and in the logs written meanwhile.

The id is the one a trusted proxy sent (nginx's ``$request_id``, a load balancer's), so a
request can be followed from the edge through the gateway into Django; from anyone else a
client could choose it, forging log lines or colliding with another request, so a fresh one
is made. Kept or made, it replaces the header in the scope, so Django reads it as
``request.META["HTTP_X_REQUEST_ID"]``, and it is set in a context variable that the gateway's
logging reads (``fastapi_gateway.logging``) and the legacy bridge carries into Django's
thread. Each answer carries it: legacy, new, Gradio, refusals, and the 500 of an unhandled
error, which this middleware answers itself because Starlette's error layer sits outside it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastapi_gateway.compat import TrustedHosts

__all__ = ["RequestIdMiddleware", "current_request_id", "new_request_id", "HEADER"]

HEADER = b"x-request-id"
# What a proxy's id looks like (a UUID, nginx's 32 hex digits, an AWS trace id): nothing that
# could break a log line or a header.
_ACCEPTABLE = re.compile(rb"[A-Za-z0-9._:-]{1,200}")

_request_id: ContextVar[str | None] = ContextVar("fastapi_gateway_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served in this context (task or legacy thread), if any."""
    return _request_id.get()


def new_request_id() -> str:
    """32 random hex digits, as ``uuid4().hex`` has (and 6 more random bits), at a fifth of its cost."""
    return os.urandom(16).hex()


class RequestIdMiddleware:
    """Keep a sane ``X-Request-ID`` from a peer in ``trusted_proxies`` (IPs, CIDRs or ``*``,
    as ``GATEWAY["TRUSTED_PROXIES"]``), else make one; put it in the scope and the answer."""

    def __init__(self, app: ASGIApp, *, trusted_proxies: Sequence[str] = ()) -> None:
        self.app = app
        self._trusted = TrustedHosts(list(trusted_proxies)) if trusted_proxies else None

    def _from_trusted_peer(self, scope: Scope) -> bool:
        client = scope.get("client")
        return self._trusted is not None and client is not None and client[0] in self._trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        sent = [value for name, value in headers if name == HEADER]
        if len(sent) == 1 and _ACCEPTABLE.fullmatch(sent[0]) and self._from_trusted_peer(scope):
            request_id = sent[0]
        else:
            request_id = new_request_id().encode()
            scope["headers"] = [(name, value) for name, value in headers if name != HEADER] + [(HEADER, request_id)]
        token = _request_id.set(request_id.decode())
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                answer = [(name, value) for name, value in message.get("headers", ()) if name.lower() != HEADER]
                message = {**message, "headers": [*answer, (HEADER, request_id)]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Left set: the server's own log of this error is written in this task, after us.
            if not response_started:
                await _internal_server_error(send_with_id)
            raise
        _request_id.reset(token)


async def _internal_server_error(send: Send) -> None:
    """What Starlette's ``ServerErrorMiddleware`` answers, plus the id; it sees this response
    as started, sends nothing more and re-raises the error for the server to log."""
    body = b"Internal Server Error"
    await send({
        "type": "http.response.start",
        "status": 500,
        "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})
