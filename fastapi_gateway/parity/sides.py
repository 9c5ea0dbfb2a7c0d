"""Both sides of a migration, reached in-process through the gateway whatever a route's state.

Parity must compare Django with the new handler, never the new handler with itself: if the
route were in ``new`` state, the legacy URL would be served by the new side. So requests go
to the gateway *below its routing layer* (what shadow mode calls too): there the legacy URL
always falls through to Django and the new URL reaches its FastAPI route or Gradio page, with
the login, CSRF and upload rules of the real gateway. An app built without migrated routes
(``create_app(migrated_routes=())``, what ``manage.py parity`` builds) has no routing layer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncio

import anyio
import httpx
from starlette.types import ASGIApp, Message

from fastapi_gateway.parity.exceptions import SideUnreachable
from fastapi_gateway.parity.reply import Reply

__all__ = ["Sides", "below_routing", "lifespan", "default_host"]


def below_routing(app: Any) -> ASGIApp:
    """The part of ``app`` under its routing layer; ``app`` itself if it has none.

    The layer is known by its ``routes_requests`` mark rather than by its class: routing uses
    parity's comparators, so parity importing routing would make the two depend on each other.
    """
    stack = getattr(app, "middleware_stack", None)
    if stack is None and hasattr(app, "build_middleware_stack"):
        stack = app.middleware_stack = app.build_middleware_stack()  # what Starlette does on its first call
    node = stack
    while node is not None:
        if getattr(node, "routes_requests", False):
            return cast(ASGIApp, node.app)
        node = getattr(node, "app", None)
    return app  # type: ignore[no-any-return]


@asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """Run the app's ASGI lifespan (Gradio starts its queue there) around a run, as a server does.

    The lifespan runs in a task of its own rather than a task group: whoever enters this (a
    pytest fixture, say) may leave it from another task, which a task group forbids.
    """
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}

    async def serve() -> None:
        await app(scope, to_app.get, from_app.put)

    task = asyncio.get_running_loop().create_task(serve())
    await to_app.put({"type": "lifespan.startup"})
    started = await from_app.get()
    if started["type"] != "lifespan.startup.complete":
        await task
        raise RuntimeError(f"the gateway failed to start: {started.get('message', started['type'])}")
    try:
        yield
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await from_app.get()
        await task


def default_host(allowed_hosts: Sequence[str]) -> str:
    """A ``Host`` the gateway accepts: the first concrete entry of ``ALLOWED_HOSTS``."""
    for host in allowed_hosts:
        if host and host != "*":
            return host.lstrip(".")
    return "localhost"


class Sides:
    def __init__(self, app: Any, *, host: str, timeout: float) -> None:
        self.app = app
        self.inner = below_routing(app)
        self.host = host
        self.timeout = timeout

    @property
    def origin(self) -> str:
        return f"http://{self.host}"

    async def request(self, side: str, method: str, target: str, *, headers: Sequence[tuple[str, str]] = (), body: bytes = b"") -> Reply:
        """One request, its whole answer; ``SideUnreachable`` if it raised or took too long.

        A client of its own per request: no cookie set by one answer leaks into the next.
        """
        transport = httpx.ASGITransport(app=self.inner, client=("127.0.0.1", 50000))
        try:
            async with httpx.AsyncClient(transport=transport, base_url=self.origin) as client:
                with anyio.fail_after(self.timeout):
                    response = await client.request(method, target, headers=list(headers), content=body or None)
        except TimeoutError:
            raise SideUnreachable(side, f"no answer to {method} {target} within {self.timeout:g} s") from None
        except Exception as exc:  # noqa: BLE001 - whatever the side raised is the reason
            raise SideUnreachable(side, f"{method} {target} raised {type(exc).__name__}: {exc}") from exc
        return Reply.of(response.status_code, response.headers.multi_items(), response.content, target)
