"""One browser tab of ``/ui/tickets`` against a running gateway, as the guard records it (section k).

A tab is what a browser tab of the page makes that the guard records for its owner (a *login*:
the Django user *and* Django session, ``pages.ownership.Owner``): the page's load event
``signed_in_text`` (``queue/join``, which claims a new ``session_hash`` and is granted the
``event_id`` it answers, then ``queue/data`` read to ``process_completed``) and one upload of
``UPLOAD_BYTES`` bytes of its own, as Gradio's file component sends it (``upload?upload_id=…``,
multipart, which claims the ``upload_id`` and is granted the file's path, then the
``upload_progress`` stream it opens, read to ``done``): ``ENTRIES_PER_TAB`` records per tab. The
page's heartbeat is left out: it claims the same ``session_hash`` the join claims, and (j)
measures it. No example page has a file component, but Gradio serves ``/upload`` on every page,
so the tickets page takes the uploads. Every answer is checked (status, the event's output, one
path uploaded, ``done``): a tab that is not what a browser would get raises ``TabFailed``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import httpx

from tests.gradio_protocol import fn_index_of, new_session_hash, parse_sse

from .login import Login

__all__ = [
    "ENTRIES_PER_TAB", "TabFailed", "TabOwner", "UPLOAD_BYTES", "data_status", "event_fn_index",
    "join_status", "open_tab",
]

MOUNT = "/ui/tickets"
EVENT = "signed_in_text"
ENTRIES_PER_TAB = 4  # the session, its event, the upload, the uploaded file
UPLOAD_BYTES = 300


class TabFailed(Exception):
    """An answer a browser would not have got: the section fails on it."""


@dataclass
class TabOwner:
    """A login and the HTTP client that sends its cookies, as one browser holds them."""

    login: Login
    client: httpx.AsyncClient


def _expect(answer: httpx.Response, status: int, what: str) -> None:
    if answer.status_code != status:
        raise TabFailed(f"{what}: {answer.status_code}, expected {status}: {answer.text[:200]}")


def _origin(client: httpx.AsyncClient) -> dict[str, str]:
    return {"Origin": str(client.base_url).rstrip("/")}


async def event_fn_index(owner: TabOwner) -> int:
    """The load event's ``fn_index``, read from the page's config as the browser's page reads it."""
    config = (await owner.client.get(f"{MOUNT}/config")).raise_for_status().json()
    return fn_index_of(config, EVENT)


async def open_tab(owner: TabOwner, fn_index: int, number: int, session_hash: str | None = None) -> str:
    """One tab of ``owner``: its load event and one upload, each read to the end; returns its
    ``session_hash``."""
    client, username = owner.client, owner.login.username
    origin = _origin(client)
    session_hash = session_hash or new_session_hash()
    joined = await client.post(
        f"{MOUNT}/gradio_api/queue/join",
        json={"data": [], "fn_index": fn_index, "session_hash": session_hash, "event_data": None, "trigger_id": None},
        headers=origin,
    )
    _expect(joined, 200, "queue/join")
    stream = await client.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": session_hash}, headers=origin)
    _expect(stream, 200, "queue/data")
    completed = [m for m in parse_sse(stream.text) if m.get("msg") == "process_completed"]
    if not completed or completed[-1].get("output", {}).get("data") != [f"Signed in as {username}"]:
        raise TabFailed(f"queue/data: no completed {EVENT}: {stream.text[:200]}")
    upload_id = secrets.token_hex(6)
    content = f"tab {number} of {username}, {session_hash}\n".encode().ljust(UPLOAD_BYTES, b".")
    uploaded = await client.post(
        f"{MOUNT}/gradio_api/upload", params={"upload_id": upload_id},
        files={"files": ("notes.txt", content, "text/plain")}, headers=origin,
    )
    _expect(uploaded, 200, "upload")
    paths = uploaded.json()
    if not (isinstance(paths, list) and len(paths) == 1 and isinstance(paths[0], str)):
        raise TabFailed(f"upload: expected one path, got {uploaded.text[:200]}")
    progress = await client.get(f"{MOUNT}/gradio_api/upload_progress", params={"upload_id": upload_id}, headers=origin)
    _expect(progress, 200, "upload_progress")
    if {"msg": "done"} not in parse_sse(progress.text):
        raise TabFailed(f"upload_progress: no 'done': {progress.text[:200]}")
    return session_hash


async def join_status(owner: TabOwner, fn_index: int, session_hash: str) -> int:
    """The status of ``owner``'s join of ``session_hash``: 403, or 200 once the whole tab
    (event and upload) went through as a browser's would."""
    try:
        await open_tab(owner, fn_index, -1, session_hash)
    except TabFailed as exc:
        if str(exc).startswith("queue/join: 403"):
            return 403
        raise RuntimeError(f"(k) joining {session_hash} as {owner.login.username}: {exc}") from exc
    return 200


async def data_status(owner: TabOwner, session_hash: str) -> int:
    """The status of ``owner``'s ``queue/data`` of ``session_hash`` (only a refusal is expected:
    a stream of a session with no event pending would wait)."""
    answer = await owner.client.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": session_hash},
                                    headers=_origin(owner.client), timeout=5)
    return answer.status_code
