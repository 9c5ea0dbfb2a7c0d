"""Gradio's real queue protocol as its frontend speaks it: ``queue/join``, then the SSE stream."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx


def new_session_hash() -> str:
    return secrets.token_hex(6)


def fn_index_of(config: dict[str, Any], api_name: str) -> int:
    """The dependency index Gradio gave the event with this ``api_name``."""
    for index, dependency in enumerate(config["dependencies"]):
        if dependency.get("api_name") == api_name:
            return int(dependency.get("id", index))
    raise LookupError(f"no event named {api_name!r}; have {[d.get('api_name') for d in config['dependencies']]}")


def parse_sse(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[len("data: "):]) for line in text.splitlines() if line.startswith("data: ")]


async def event_messages(
    client: httpx.AsyncClient,
    mount: str,
    fn_index: int,
    data: list[Any],
    *,
    session_hash: str | None = None,
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Join the queue and read the whole stream; returns every message of it.

    Like Gradio's frontend in a browser, the join carries the page's ``Origin``.
    """
    session_hash = session_hash or new_session_hash()
    headers = {"Origin": str(client.base_url).rstrip("/"), **(headers or {})}
    joined = await client.post(
        f"{mount}/gradio_api/queue/join",
        json={"data": data, "fn_index": fn_index, "session_hash": session_hash, "event_data": None, "trigger_id": None},
        headers=headers,
    )
    joined.raise_for_status()
    stream = await client.get(f"{mount}/gradio_api/queue/data", params={"session_hash": session_hash}, headers=headers)
    stream.raise_for_status()
    return parse_sse(stream.text)


async def run_event(
    client: httpx.AsyncClient,
    mount: str,
    fn_index: int,
    data: list[Any],
    *,
    session_hash: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run one event (see ``event_messages``); returns its ``process_completed`` message."""
    messages = await event_messages(client, mount, fn_index, data, session_hash=session_hash, headers=headers)
    completed = [m for m in messages if m.get("msg") == "process_completed"]
    assert completed, f"no process_completed in {messages}"
    return completed[-1]


ENDED = {"type": "http.response.body", "body": b"", "more_body": False}  # a stream finished, not cut


class HeldHeartbeat:
    """A tab's heartbeat stream (``{mount}/gradio_api/heartbeat/{session_hash}``) held open as
    raw ASGI, as a browser holds it: ``messages`` is what the app sent; ``leave()`` is the
    client going away. Raw ASGI because an in-process HTTP client reads a response whole."""

    def __init__(self, app: Any, mount: str, cookies: Any, *, session_hash: str | None = None) -> None:
        import asyncio

        self.session_hash = session_hash or new_session_hash()
        path = f"{mount}/gradio_api/heartbeat/{self.session_hash}"
        cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
        self.scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode()), (b"accept", b"text/event-stream")],
            "client": ("127.0.0.1", 50001), "server": ("testserver", 80),
        }
        self.messages: list[dict[str, Any]] = []
        self._gone = asyncio.Event()
        self.task = asyncio.create_task(app(self.scope, self._receive, self._send))

    async def _receive(self) -> dict[str, Any]:
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    async def started(self) -> HeldHeartbeat:
        """Wait for the response head, and check it is a 200."""
        import asyncio

        for _ in range(500):  # 10 s: the guard's lookups and Gradio's handler, on a loaded machine
            if self.messages:
                break
            await asyncio.sleep(0.02)
        assert self.messages and self.messages[0]["type"] == "http.response.start" and self.messages[0]["status"] == 200
        return self

    def leave(self) -> None:
        self._gone.set()
