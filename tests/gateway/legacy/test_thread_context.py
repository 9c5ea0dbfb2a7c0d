"""Worker threads run Django in a long-lived context of their own that still sees the caller's
context variables (what a tracing middleware sets), without sharing asgiref's storage."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterable
from typing import Any

import httpx
from asgiref.local import Local

from fastapi_gateway.orm import run_orm
from fastapi_gateway.legacy.bridge import WSGIBridge

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")
per_context = Local()


def _seen() -> tuple[str, int, int]:
    """(the caller's request id, this thread, the object asgiref's Local holds here)."""
    if not hasattr(per_context, "client"):
        per_context.client = object()  # what django.core.cache.caches keeps per context
    return request_id.get(), threading.get_ident(), id(per_context.client)


async def test_run_orm_carries_caller_variables_and_keeps_the_thread_s_own_storage() -> None:
    seen = []
    for number in range(5):
        request_id.set(f"req-{number}")
        seen.append(await run_orm(_seen))
    assert [ident for ident, _, _ in seen] == [f"req-{n}" for n in range(5)]
    clients_by_thread: dict[int, set[int]] = {}
    for _, thread, client in seen:
        clients_by_thread.setdefault(thread, set()).add(client)
    assert all(len(clients) == 1 for clients in clients_by_thread.values()), "rebuilt per call"


async def test_the_bridge_carries_caller_variables_and_keeps_the_thread_s_own_storage() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        ident, thread, client = _seen()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{ident} {thread} {client}".encode()]

    bridge = WSGIBridge(app, threads=2)
    transport = httpx.ASGITransport(app=bridge)
    seen = []
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for number in range(6):
            request_id.set(f"req-{number}")
            seen.append((await client.get("/")).text.split())
    bridge.executor.shutdown()
    assert [ident for ident, _, _ in seen] == [f"req-{n}" for n in range(6)]
    clients_by_thread: dict[str, set[str]] = {}
    for _, thread, client in seen:
        clients_by_thread.setdefault(thread, set()).add(client)
    assert all(len(clients) == 1 for clients in clients_by_thread.values()), "rebuilt per request"
    # Threads never share what asgiref keeps per context (Django's cache clients).
    owners = [client for clients in clients_by_thread.values() for client in clients]
    assert len(owners) == len(set(owners))
