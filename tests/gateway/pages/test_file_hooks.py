"""Attacks on Gradio's file handling through the gateway: no page hands a user a server file
or another user's file, whatever shape the reference takes and wherever it is nested.

alice uploads and receives files; bob (an ordinary signed-in user) names server files and
alice's files in every component's value, through events with and without Gradio's own
processing, and through page code that turns his text into file references.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from fastapi_gateway import create_app
from fastapi_gateway.pages.file_hooks import install, using_access
from fastapi_gateway.pages.file_policy import SCOPE_KEY, FileAccess
from fastapi_gateway.pages.ownership import Owner, OwnershipRegistry
from tests.gradio_protocol import event_messages, fn_index_of, new_session_hash

from tests.gateway.conftest import BASE_URL, client_for, login, running
from .gradio_pages import ECHO, ECHOED

pytestmark = pytest.mark.django_db(transaction=True)

MOUNT = "/ui/echo"
SAME_ORIGIN = {"Origin": BASE_URL}

#: Server files an attacker wants: system files, the process's environment, the project's
#: own sources (the working directory), by absolute, symlinked, relative and dotted paths,
#: and URLs the server would fetch on the attacker's behalf.
SERVER_FILES = [
    "/etc/passwd",
    "/proc/self/environ",
    os.path.join(os.getcwd(), "pyproject.toml"),
    "/proc/self/cwd/pyproject.toml",
    "pyproject.toml",
    "/tmp/gradio/../../etc/passwd",
    "file:///etc/passwd",
    "http://127.0.0.1:9/internal",
]


def file_data(path: str) -> dict[str, Any]:
    return {"path": path, "url": None, "orig_name": "x.txt", "meta": {"_type": "gradio.FileData"}}


#: How each component's value carries a file, as Gradio's frontend sends it.
SHAPES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "chatbot": lambda f: [
        {"role": "user", "content": [{"type": "text", "text": "hello"}]},
        {"role": "assistant", "content": [{"type": "file", "file": f}]},
    ],
    "json": lambda f: {"nested": [{"deeper": f}]},
    "file": lambda f: f,
    "files": lambda f: [f],
    "image": lambda f: f,
    "gallery": lambda f: [{"image": f, "caption": None}],
    "audio": lambda f: f,
    "video": lambda f: {"video": f, "subtitles": None},
    "model3d": lambda f: f,
    "multimodal": lambda f: {"text": "", "files": [f]},
}
CHAT_COMPONENT_MESSAGE: Callable[[dict[str, Any]], Any] = lambda f: [  # noqa: E731
    {"role": "assistant", "content": [{"type": "component", "component": "json", "value": {"x": f}, "constructor_args": {}, "props": {}}]}
]


class Users:
    def __init__(self, app: Any) -> None:
        self.alice = client_for(app)
        self.bob = client_for(app)
        self.config: dict[str, Any] = {}

    def fn(self, api_name: str) -> int:
        return fn_index_of(self.config, api_name)


@pytest.fixture
async def users(demo_users: Any, demo_password: str) -> AsyncIterator[Users]:
    app = create_app(gradio_pages=[ECHO])
    async with running(app):
        users = Users(app)
        async with users.alice, users.bob:
            await login(users.alice, "alice", demo_password)
            await login(users.bob, "bob", demo_password)
            users.config = (await users.alice.get(f"{MOUNT}/config")).json()
            yield users


async def upload(client: httpx.AsyncClient, name: str, content: bytes) -> str:
    answer = await client.post(
        f"{MOUNT}/gradio_api/upload",
        params={"upload_id": new_session_hash()},
        files={"files": (name, content, "text/plain")},
        headers=SAME_ORIGIN,
    )
    assert answer.status_code == 200, answer.text
    (path,) = answer.json()
    await asyncio.sleep(0.05)
    return str(path)


async def join(client: httpx.AsyncClient, fn_index: int, data: list[Any]) -> httpx.Response:
    return await client.post(
        f"{MOUNT}/gradio_api/queue/join",
        json={"data": data, "fn_index": fn_index, "session_hash": new_session_hash()},
        headers=SAME_ORIGIN,
    )


async def completed(client: httpx.AsyncClient, fn_index: int, data: list[Any]) -> dict[str, Any]:
    messages = await event_messages(client, MOUNT, fn_index, data)
    (done,) = [m for m in messages if m.get("msg") == "process_completed"]
    return done


@pytest.mark.parametrize("component", list(ECHOED))
async def test_no_event_input_can_name_a_server_file(users: Users, component: str) -> None:
    for api_name in (f"echo_{component}", f"raw_{component}", f"rawin_{component}"):
        for target in SERVER_FILES:
            refused = await join(users.bob, users.fn(api_name), [SHAPES[component](file_data(target))])
            assert refused.status_code == 403, (api_name, target, refused.text)
            assert "not uploaded by you" in refused.json()["detail"]
            assert (await users.bob.get(f"{MOUNT}/gradio_api/file={target}")).status_code == 404


@pytest.mark.parametrize("shape", [SHAPES["chatbot"], CHAT_COMPONENT_MESSAGE, SHAPES["json"], SHAPES["multimodal"]])
async def test_another_users_file_cannot_be_named_or_served(users: Users, shape: Callable[[dict[str, Any]], Any]) -> None:
    alices = await upload(users.alice, "diary.txt", b"alice's diary")
    for api_name in ("raw_chatbot", "raw_json", "raw_multimodal"):
        refused = await join(users.bob, users.fn(api_name), [shape(file_data(alices))])
        assert refused.status_code == 403, (api_name, refused.text)
    assert (await users.bob.get(f"{MOUNT}/gradio_api/file={alices}")).status_code == 404
    assert (await users.alice.get(f"{MOUNT}/gradio_api/file={alices}")).text == "alice's diary"


async def test_a_users_own_files_go_through_every_echo(users: Users) -> None:
    mine = await upload(users.alice, "notes.txt", b"alice's notes")
    for component in ("file", "chatbot", "json", "multimodal"):
        for api_name in (f"echo_{component}", f"raw_{component}"):
            done = await completed(users.alice, users.fn(api_name), [SHAPES[component](file_data(mine))])
            assert done["success"], (api_name, done)
            (returned,) = _paths_in(done["output"]["data"])
            assert (await users.alice.get(f"{MOUNT}/gradio_api/file={returned}")).text == "alice's notes"
            assert (await users.bob.get(f"{MOUNT}/gradio_api/file={returned}")).status_code == 404


@pytest.mark.parametrize("target", SERVER_FILES[:5])
async def test_page_code_cannot_return_a_server_file(users: Users, target: str) -> None:
    """A page bug that turns client text into a file path still serves nothing."""
    done = await completed(users.bob, users.fn("path_from_text"), [target])
    assert not done["success"]
    assert "File refused" in (done["output"].get("error") or ""), done
    assert (await users.bob.get(f"{MOUNT}/gradio_api/file={target}")).status_code == 404


async def test_ownership_cannot_be_claimed_through_an_events_output(users: Users) -> None:
    """A JSON answer shaped like a file does not make bob the owner of alice's upload."""
    alices = await upload(users.alice, "secret.txt", b"alice's secret")
    done = await completed(users.bob, users.fn("json_from_text"), [alices])
    assert done["success"] and done["output"]["data"][0]["path"] == alices
    assert (await users.bob.get(f"{MOUNT}/gradio_api/file={alices}")).status_code == 404


async def test_a_page_returns_an_older_file_only_from_its_allowed_paths(
    demo_users: Any, demo_password: str, tmp_path: Path
) -> None:
    """Files a page wrote during the request are its own (``test_result_files_belong_to_their_user``);
    an older file in the temp directory is served only from a directory the page allowed."""
    older = tmp_path / "catalogue.txt"
    older.write_text("the page's catalogue")
    await asyncio.sleep(1.2)  # older than the next request by more than the clock slack
    for page, allowed in ((ECHO, False), (dataclasses.replace(ECHO, allowed_paths=(str(tmp_path),)), True)):
        app = create_app(gradio_pages=[page])
        async with running(app), client_for(app) as alice, client_for(app) as bob:
            await login(alice, "alice", demo_password)
            await login(bob, "bob", demo_password)
            fn = fn_index_of((await alice.get(f"{MOUNT}/config")).json(), "path_from_text")
            done = await completed(alice, fn, [str(older)])
            assert done["success"] is allowed, done
            if allowed:
                returned = done["output"]["data"][0]["path"]
                assert (await alice.get(f"{MOUNT}/gradio_api/file={returned}")).text == "the page's catalogue"
                assert (await bob.get(f"{MOUNT}/gradio_api/file={returned}")).status_code == 404


async def test_remote_urls_are_never_fetched_by_the_server(users: Users) -> None:
    """Neither a client's input (``test_no_event_input_can_name_a_server_file``) nor a
    page's answer makes the server download a URL: the event fails with a clear message."""
    fetched: list[str] = []
    import gradio.processing_utils as pu

    original = pu.async_ssrf_protected_download

    async def spy(url: str, *args: Any, **kwargs: Any) -> Any:
        fetched.append(url)
        return await original(url, *args, **kwargs)

    pu.async_ssrf_protected_download = spy
    try:
        done = await completed(users.alice, users.fn("path_from_text"), ["http://127.0.0.1:9/x.txt"])
    finally:
        pu.async_ssrf_protected_download = original
    assert fetched == []
    assert not done["success"] and "does not fetch remote files" in done["output"]["error"]


async def test_gradios_cache_move_obeys_the_policy_without_the_guard(tmp_path: Path) -> None:
    """Defence in depth: Gradio's own preprocessing, reached without the guard's input check
    (as a future Gradio route might), still refuses a file its requester was not given."""
    import gradio as gr
    from gradio import processing_utils

    install()
    registry = OwnershipRegistry()
    alice, bob = Owner.of(1, "alice-session"), Owner.of(2, "bob-session")
    with gr.Blocks():
        block = gr.File()
    with using_access(FileAccess(owner=alice, registry=registry, started=0.0)):
        # Written by Gradio for alice's request: recorded as hers, and only hers.
        cached = processing_utils.save_bytes_to_cache(b"alice's bytes", "a.txt", block.GRADIO_CACHE)
    assert registry.owns("file", cached, alice) and not registry.owns("file", cached, bob)
    for owner, allowed in ((alice, True), (bob, False)):
        access = FileAccess(owner=owner, registry=registry, started=0.0)
        with using_access(access):
            if allowed:
                moved = await processing_utils.async_move_files_to_cache(file_data(cached), block, check_in_upload_folder=True)
                assert moved["path"] == cached
            else:
                with pytest.raises(gr.Error, match="not uploaded by you"):
                    await processing_utils.async_move_files_to_cache(file_data(cached), block, check_in_upload_folder=True)
            with pytest.raises(gr.Error, match="File refused"):
                await processing_utils.async_move_files_to_cache(file_data("/etc/passwd"), block, postprocess=True)


def test_the_patched_gradio_names_exist() -> None:
    """The private Gradio names the hooks replace; a release that renames one fails here."""
    from gradio import processing_utils, utils
    from gradio.blocks import Block, Blocks

    install()
    for owner, name in [
        (processing_utils, "_check_allowed"),
        (processing_utils, "save_file_to_cache"),
        (processing_utils, "save_pil_to_cache"),
        (processing_utils, "save_url_to_cache"),
        (processing_utils, "async_ssrf_protected_download"),
        (utils, "set_static_paths"),
        (Block, "move_resource_to_block_cache"),
        (Block, "async_move_resource_to_block_cache"),
        (Blocks, "process_api"),
    ]:
        assert getattr(getattr(owner, name), "__wrapped__", None) is not None or name == "_check_allowed", name
    assert processing_utils._check_allowed.keywords["original"].__module__ == "gradio.processing_utils"


def _paths_in(payload: Any) -> list[str]:
    found: list[str] = []
    stack = [payload]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("path"), str):
                found.append(item["path"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


async def test_the_reported_attack_on_the_assistants_chat_undo(demo_users: Any, demo_password: str) -> None:
    """The outside report, on the example's real chat page: bob's undo event with a history
    whose assistant message is the database file got a copy of it served back."""
    from gradio_ui import PAGES

    app = create_app(gradio_pages=PAGES)
    async with running(app), client_for(app) as bob:
        await login(bob, "bob", demo_password)
        config = (await bob.get("/ui/assistant/config")).json()
        (undo,) = [
            dependency["id"]
            for dependency in config["dependencies"]
            if any(trigger == "undo" for _target, trigger in dependency["targets"])
        ]
        database = "/proc/self/cwd/db.sqlite3"
        history = [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": [{"type": "file", "file": file_data(database)}]},
        ]
        joined = await bob.post(
            "/ui/assistant/gradio_api/queue/join",
            json={"data": [history], "fn_index": undo, "session_hash": new_session_hash(), "event_data": {"index": 1, "value": "x"}},
            headers=SAME_ORIGIN,
        )
        assert joined.status_code == 403
        assert (await bob.get(f"/ui/assistant/gradio_api/file={database}")).status_code == 404


async def test_an_event_whose_user_cannot_be_told_may_name_no_file(tmp_path: Path) -> None:
    """A request that reached a guarded page without the guard's record of its user (a route
    mounted around the guard, a batch mixing users) is held to an empty set of files."""
    import gradio as gr
    from starlette.requests import Request

    from fastapi_gateway.pages.file_hooks import guard_blocks

    with gr.Blocks() as demo:
        box = gr.File()
        box.change(lambda value: value, box, box)
    guard_blocks(demo)
    unguarded = gr.Request(request=Request({"type": "http", "method": "POST", "path": "/", "headers": []}))
    with pytest.raises(gr.Error, match="not uploaded by you"):
        await demo.process_api(block_fn=0, inputs=[file_data("/etc/passwd")], state=None, request=unguarded)
    registry = OwnershipRegistry()
    alice, bob = (FileAccess(owner=Owner.of(n, f"s{n}"), registry=registry, started=0.0) for n in (1, 2))
    mixed = [
        gr.Request(request=Request({"type": "http", "method": "POST", "path": "/", "headers": [], SCOPE_KEY: access}))
        for access in (alice, bob)
    ]
    owned = tmp_path / "x.txt"
    owned.write_text("x")
    registry.grant("file", str(owned), alice.owner)  # type: ignore[arg-type]
    with pytest.raises(gr.Error, match="not uploaded by you"):
        await demo.process_api(block_fn=0, inputs=[file_data(str(owned))], state=None, request=mixed[0:1] + mixed[1:])
