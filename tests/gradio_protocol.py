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
