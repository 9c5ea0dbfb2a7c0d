"""Identifiers Gradio reads where the route's rule does not look, and values it reads as one
the guard would not: each attack reaches another user's ``gr.State`` without its defence.

alice keeps a secret in her session's state; bob knows her session hash and event ids (a
leaked log, a screenshot) and tries every other way in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fastapi_gateway import GradioPage, create_app
from fastapi_gateway.pages.ownership import MAX_PAGE_SESSIONS_PER_OWNER
from tests.gradio_protocol import HeldHeartbeat, fn_index_of, new_session_hash, parse_sse, run_event

from tests.gateway.conftest import BASE_URL, client_for, login, running
from .gradio_pages import PROBE, state_page

pytestmark = pytest.mark.django_db(transaction=True)

MOUNT = "/ui/state"
SAME_ORIGIN = {"Origin": BASE_URL}
SECRET = "alice-secret-42"


async def _rsvp(request: Request) -> JSONResponse:
    return JSONResponse({"got": await request.json()})


#: The page, with a route of its own whose JSON happens to use Gradio's field names.
STATE = GradioPage(MOUNT, "State", state_page, routes=(Route(f"{MOUNT}/rsvp", _rsvp, methods=["POST"]),))


class Users:
    def __init__(self, app: Any, alice: httpx.AsyncClient, bob: httpx.AsyncClient, config: dict[str, Any]) -> None:
        self.app, self.alice, self.bob, self.config = app, alice, bob, config

    def fn(self, api_name: str) -> int:
        return fn_index_of(self.config, api_name)

    async def alice_keeps_the_secret(self) -> str:
        session_hash = new_session_hash()
        completed = await run_event(self.alice, MOUNT, self.fn("remember"), [SECRET], session_hash=session_hash)
        assert completed["success"]
        return session_hash

    async def join(self, client: httpx.AsyncClient, api_name: str, data: list[Any], session_hash: str, **extra: Any) -> httpx.Response:
        return await client.post(
            f"{MOUNT}/gradio_api/queue/join",
            json={"data": data, "fn_index": self.fn(api_name), "session_hash": session_hash, **extra},
            headers=SAME_ORIGIN,
        )


@pytest.fixture
async def users(demo_users: Any, demo_password: str) -> AsyncIterator[Users]:
    app = create_app(gradio_pages=[STATE, PROBE], stream_recheck_seconds=0.2, max_upload_mb=1)
    async with running(app):
        alice, bob = client_for(app), client_for(app)
        async with alice, bob:
            await login(alice, "alice", demo_password)
            await login(bob, "bob", demo_password)
            yield Users(app, alice, bob, (await alice.get(f"{MOUNT}/config")).json())


async def _outputs(reader: asyncio.Task[httpx.Response]) -> str:
    return str([message.get("output") for message in parse_sse((await reader).text) if message.get("output")])


async def test_a_stream_chunk_runs_only_in_its_callers_session(users: Users) -> None:
    """``POST stream/{event_id}`` checks the event in its path; Gradio runs the chunk in the
    session its *body* names."""
    alices = await users.alice_keeps_the_secret()
    bobs = new_session_hash()
    joined = await users.join(users.bob, "peek", [None, None], bobs)
    assert joined.status_code == 200
    event_id = joined.json()["event_id"]
    reader = asyncio.create_task(users.bob.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": bobs}, timeout=30))
    await asyncio.sleep(0.5)
    chunk = await users.bob.post(
        f"{MOUNT}/gradio_api/stream/{event_id}",
        json={"data": [None, None], "fn_index": users.fn("peek"), "session_hash": alices},
        headers=SAME_ORIGIN,
    )
    assert chunk.status_code == 403
    # His own session's chunk is fine (the page sends its own session_hash).
    own = await users.bob.post(
        f"{MOUNT}/gradio_api/stream/{event_id}",
        json={"data": [None, None], "fn_index": users.fn("peek"), "session_hash": bobs},
        headers=SAME_ORIGIN,
    )
    assert own.status_code == 200
    await asyncio.sleep(0.5)
    await users.bob.post(f"{MOUNT}/gradio_api/stream/{event_id}/close", headers=SAME_ORIGIN)
    assert SECRET not in await _outputs(reader)


async def test_a_stream_chunk_cannot_drive_another_event(users: Users) -> None:
    """Gradio finds the running generator by the body's ``event_id``, not the path's."""
    alices = await users.alice_keeps_the_secret()
    alice_event = (await users.join(users.alice, "listen", [None, None], alices)).json()["event_id"]
    alice_reader = asyncio.create_task(users.alice.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": alices}, timeout=30))
    bobs = new_session_hash()
    bob_event = (await users.join(users.bob, "listen", [None, None], bobs)).json()["event_id"]
    bob_reader = asyncio.create_task(users.bob.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": bobs}, timeout=30))
    await asyncio.sleep(0.5)
    chunk = await users.bob.post(
        f"{MOUNT}/gradio_api/stream/{bob_event}",
        json={"data": [None, None], "session_hash": bobs, "event_id": alice_event},
        headers=SAME_ORIGIN,
    )
    assert chunk.status_code == 400
    for client, event_id in ((users.bob, bob_event), (users.alice, alice_event)):
        await client.post(f"{MOUNT}/gradio_api/stream/{event_id}/close", headers=SAME_ORIGIN)
    assert SECRET not in await _outputs(bob_reader)
    await alice_reader


async def test_a_join_may_not_name_an_event(users: Users) -> None:
    """``queue/join`` makes its own event id; the one a body names is read before that (by a
    page's validator), so it must not be there at all."""
    alices = await users.alice_keeps_the_secret()
    alice_event = (await users.join(users.alice, "slow", ["x"], alices)).json()["event_id"]
    refused = await users.join(users.bob, "remember", ["y"], new_session_hash(), event_id=alice_event)
    assert refused.status_code == 400
    assert (await users.join(users.bob, "remember", ["y"], new_session_hash(), event_id=None)).status_code == 200


@pytest.mark.parametrize("value", ["", 0, ["x"], {"x": 1}, True, "h" * 257])
async def test_a_session_hash_that_is_not_a_short_string_is_refused(users: Users, value: Any) -> None:
    """Gradio takes ``""`` as a session like any other: one every user would share. A long one
    costs the record its bytes."""
    await users.alice.post(f"{MOUNT}/gradio_api/run/set_direct", json={"data": [SECRET], "session_hash": value}, headers=SAME_ORIGIN)
    read = await users.bob.post(f"{MOUNT}/gradio_api/run/get_direct", json={"data": [None], "session_hash": value}, headers=SAME_ORIGIN)
    assert read.status_code == 400, read.text
    assert SECRET not in read.text
    query = await users.bob.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": ""})
    assert query.status_code == 400


async def test_the_guard_holds_below_a_root_path(users: Users) -> None:
    """Served under a root path (``uvicorn --root-path``, or mounted in another app), the
    router still reaches Gradio: the guard must too."""
    alices = await users.alice_keeps_the_secret()
    transport = httpx.ASGITransport(app=users.app, root_path="/site", client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, cookies=users.bob.cookies) as bob:
        stolen = await bob.post(
            f"/site{MOUNT}/gradio_api/run/get_direct", json={"data": [None], "session_hash": alices}, headers=SAME_ORIGIN
        )
        assert stolen.status_code == 403 and SECRET not in stolen.text
        own = await bob.post(
            f"/site{MOUNT}/gradio_api/run/get_direct", json={"data": [None], "session_hash": new_session_hash()}, headers=SAME_ORIGIN
        )
        assert own.status_code == 200
        # The body limit (1 MB here) holds there too.
        too_big = await bob.post(
            f"/site{MOUNT}/gradio_api/upload", files={"files": ("big.bin", b"x" * (2 * 1024 * 1024))}, headers=SAME_ORIGIN
        )
        assert too_big.status_code == 413
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as anonymous:
        cancel = await anonymous.post(f"/site{MOUNT}/gradio_api/cancel", json={"session_hash": alices, "fn_index": 0, "event_id": "x"})
        assert cancel.status_code == 401
        # An anonymous visitor of the page is sent to the login, and back below the root path.
        landing = await anonymous.get(f"/site{MOUNT}/", headers={"Accept": "text/html"})
        assert landing.status_code == 302
        assert f"next=/site{MOUNT}/" in landing.headers["location"].replace("%2F", "/")


async def test_the_way_to_sign_in_stays_below_the_root_path(users: Users, settings: Any) -> None:
    """``LOGIN_URL`` named as a URL reverses below the root path, as Django reverses it under a
    ``SCRIPT_NAME``; ``next`` names the page below it too."""
    settings.LOGIN_URL = "login"
    transport = httpx.ASGITransport(app=users.app, root_path="/site", client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as anonymous:
        landing = await anonymous.get(f"/site{MOUNT}/", headers={"Accept": "text/html"})
        assert landing.status_code == 302
        assert landing.headers["location"] == f"/site/accounts/login/?next=/site{MOUNT}/"
        stale = await anonymous.get(f"/site{MOUNT}/gradio_api/queue/data", params={"session_hash": new_session_hash()})
        assert stale.status_code == 401 and stale.json()["login_url"] == f"/site/accounts/login/?next=/site{MOUNT}/"
    # Served at the top, nothing changes.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=users.app), base_url=BASE_URL) as anonymous:
        assert (await anonymous.get(f"{MOUNT}/", headers={"Accept": "text/html"})).headers["location"] == f"/accounts/login/?next={MOUNT}/"


async def test_a_released_session_still_running_is_nobody_elses(users: Users) -> None:
    """Past her budget alice's oldest tab is let go of; an event of it still running would go
    on writing to whoever took the hash next."""
    alices = new_session_hash()
    assert (await users.join(users.alice, "slow", ["alice-private-text"], alices)).status_code == 200
    for _ in range(MAX_PAGE_SESSIONS_PER_OWNER):
        assert (await users.join(users.alice, "remember", ["x"], new_session_hash())).status_code == 200
    taken = await users.join(users.bob, "remember", ["bob"], alices)
    assert taken.status_code == 403
    # Nor through another page: the record of sessions is one for every page.
    whoami = fn_index_of((await users.bob.get(f"{PROBE.path}/config")).json(), "whoami")
    elsewhere = await users.bob.post(
        f"{PROBE.path}/gradio_api/queue/join", json={"data": [], "fn_index": whoami, "session_hash": alices}, headers=SAME_ORIGIN
    )
    assert elsewhere.status_code == 403
    read = await users.bob.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": alices})
    assert read.status_code == 403 and "alice-private-text" not in read.text


async def test_a_released_session_its_old_tab_still_reads_is_nobody_elses(users: Users) -> None:
    """Past her budget alice's tab is let go of, but its heartbeat is still open: while it is,
    the hash is nobody else's (what Gradio does when that tab closes, its unload events, would
    run in the new holder's session); once it is gone, it is free, from nothing."""
    alices = await users.alice_keeps_the_secret()
    tab = await HeldHeartbeat(users.app, MOUNT, users.alice.cookies, session_hash=alices).started()
    try:
        await _fill_the_budget(users.alice)
        assert (await users.join(users.bob, "remember", ["bob"], alices)).status_code == 403
    finally:
        tab.leave()
        await tab.task
    completed = await run_event(users.bob, MOUNT, users.fn("remember"), ["bob"], session_hash=alices)
    assert completed["success"]
    state = await users.bob.post(f"{MOUNT}/gradio_api/run/get_direct", json={"data": [None], "session_hash": alices}, headers=SAME_ORIGIN)
    assert SECRET not in state.text


async def test_a_pages_own_route_keeps_its_json_fields(users: Users) -> None:
    """Fields of a page's own route that share Gradio's names are the route's own."""
    for body in ({"event_id": "party-17"}, {"session_hash": "morning"}, {"event_id": 17}):
        answered = await users.bob.post(f"{MOUNT}/rsvp", json=body, headers=SAME_ORIGIN)
        assert answered.status_code == 200 and answered.json() == {"got": body}


async def test_a_released_session_starts_from_nothing_for_its_next_holder(users: Users) -> None:
    """What Gradio keeps of a session let go of goes with it: its state, its per-session cache
    (``gr.Cache(per_session=True)``), its queue's records; and once its events have ended the
    hash is free again (to its old owner too), from nothing."""
    alices = await users.alice_keeps_the_secret()
    noted = await users.alice.post(f"{MOUNT}/gradio_api/run/note", json={"data": [SECRET], "session_hash": alices}, headers=SAME_ORIGIN)
    assert noted.status_code == 200
    await _fill_the_budget(users.alice)
    queue = _guard(users.app).pages[MOUNT].get_blocks()._queue
    assert alices not in queue.pending_event_ids_session and alices not in queue.pending_messages_per_session
    recalled = await users.bob.post(f"{MOUNT}/gradio_api/run/recall", json={"data": [], "session_hash": alices}, headers=SAME_ORIGIN)
    assert recalled.status_code == 200 and "note=None" in recalled.text
    state = await users.bob.post(f"{MOUNT}/gradio_api/run/get_direct", json={"data": [None], "session_hash": alices}, headers=SAME_ORIGIN)
    assert SECRET not in state.text


async def test_a_released_sessions_hash_is_free_again_once_its_events_end(users: Users) -> None:
    alices = new_session_hash()
    assert (await users.join(users.alice, "slow", ["x"], alices)).status_code == 200
    await _fill_the_budget(users.alice)
    assert (await users.join(users.alice, "remember", ["again"], alices)).status_code == 403  # its event still runs
    read = await users.bob.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": alices})
    assert read.status_code == 403
    guard_app = _guard(users.app)
    for _ in range(100):
        if not guard_app.released._busy(alices):
            break
        await asyncio.sleep(0.1)
    completed = await run_event(users.alice, MOUNT, users.fn("remember"), ["again"], session_hash=alices)
    assert completed["success"]
    assert alices not in guard_app.released._unfinished


async def test_a_direct_call_without_a_session_is_refused(users: Users) -> None:
    """Without a session_hash, Gradio keeps a per-session cache under one name for everyone."""
    for body in ({"data": [SECRET]}, {"data": [SECRET], "session_hash": None}):
        assert (await users.alice.post(f"{MOUNT}/gradio_api/run/note", json=body, headers=SAME_ORIGIN)).status_code == 400
    recalled = await users.bob.post(f"{MOUNT}/gradio_api/run/recall", json={"data": []}, headers=SAME_ORIGIN)
    assert recalled.status_code == 400 and SECRET not in recalled.text


async def test_call_v2_parameters_are_the_events_own(users: Users) -> None:
    """``call/v2``'s body is the event's named parameters, one of which may be called
    ``session_hash``: Gradio reads no session there, and runs the event in a session named by
    its event id, which is the caller's."""
    for client in (users.alice, users.bob):
        called = await client.post(f"{MOUNT}/gradio_api/call/v2/team", json={"session_hash": "blue"}, headers=SAME_ORIGIN)
        assert called.status_code == 200, called.text
        event_id = called.json()["event_id"]
        result = await client.get(f"{MOUNT}/gradio_api/call/v2/team/{event_id}")
        assert "team blue" in result.text
    assert not _guard(users.app).registry.held("session", "blue")
    taken = await users.join(users.alice, "remember", ["x"], event_id)  # bob's call's session
    assert taken.status_code == 403


async def test_a_release_from_a_worker_thread_is_forgotten_on_the_loop(users: Users, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file Gradio writes for an event is recorded in a worker thread, and may push a session
    out of the record there; Gradio's queue lives on the event loop, so it forgets there."""
    guard_app = _guard(users.app)
    await users.alice_keeps_the_secret()  # the guard has seen a request: it knows its loop
    forgotten: list[bool] = []
    monkeypatch.setattr(guard_app.released, "_forget_session", lambda session_hash: forgotten.append(_on_a_loop()))
    await asyncio.to_thread(guard_app.registry.on_release, "session", "a-released-hash")
    for _ in range(50):
        if forgotten:
            break
        await asyncio.sleep(0.01)
    assert forgotten == [True]


def _on_a_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def _fill_the_budget(client: httpx.AsyncClient) -> None:
    """Open as many new sessions as a login keeps: its oldest is let go of."""
    for _ in range(MAX_PAGE_SESSIONS_PER_OWNER):
        opened = await client.post(f"{MOUNT}/gradio_api/run/set_direct", json={"data": ["x"], "session_hash": new_session_hash()}, headers=SAME_ORIGIN)
        assert opened.status_code == 200, opened.text


def _guard(app: Any) -> Any:
    from fastapi_gateway.pages.guard import GradioGuardMiddleware

    stack: Any = app.middleware_stack
    while not isinstance(stack, GradioGuardMiddleware):
        stack = stack.app
    return stack
