"""Call the gateway's own inner app with a request and collect the whole answer in memory."""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Scope

from fastapi_gateway.compat import get_route_path

__all__ = ["Answer", "call_in_process", "legacy_path", "rewrite_scope", "root_prefix"]

LEGACY_PATH_KEY = "gateway.legacy_path"


@dataclass
class Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    raw_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""


def root_prefix(scope: Scope) -> str:
    """The ASGI root path the request's path starts with (``uvicorn --root-path``, or the app
    mounted in another one): a path of this app is below it, as the router matches it."""
    path: str = scope["path"]
    return path[: len(path) - len(get_route_path(scope))]


def rewrite_scope(scope: Scope, path: str, query_string: bytes) -> Scope:
    """The same request aimed at another path of this app (the user and cookies kept), below
    the same root path."""
    full_path = root_prefix(scope) + path
    return {
        **scope,
        "path": full_path,
        "raw_path": full_path.encode(),
        "query_string": query_string,
        LEGACY_PATH_KEY: scope["path"],
    }


def legacy_path(request: HTTPConnection | Scope) -> str | None:
    """The old URL's path when the gateway serves this request on the new side of a migrated
    route (``new``, a canary's new share, a shadow copy); None when the new URL was called.

    A new view that pages, or otherwise answers differently from the legacy one, uses it to
    keep the old answer for the old URL's clients. Only the gateway sets it (in the ASGI scope,
    which no client can write).
    """
    scope = request.scope if isinstance(request, HTTPConnection) else request
    found = scope.get(LEGACY_PATH_KEY)
    return found if isinstance(found, str) else None


async def call_in_process(app: ASGIApp, scope: Scope, body: bytes) -> Answer:
    answer = Answer()
    chunks: list[bytes] = []
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # Nobody disconnects from an in-process call; the caller bounds it with a timeout.
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.raw_headers = list(message.get("headers", []))
            answer.headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in answer.raw_headers}
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(dict(scope), receive, send)
    answer.body = b"".join(chunks)
    return answer
