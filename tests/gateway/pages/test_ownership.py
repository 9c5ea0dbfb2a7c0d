"""The ownership record: one user's flood never evicts another's records, never lets anyone
into another session, and costs at most a stated bound of memory."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fastapi_gateway import create_app
from fastapi_gateway.pages.ownership import (
    MAX_ENTRIES_PER_SESSION,
    MAX_PAGE_SESSIONS_PER_OWNER,
    MAX_SESSIONS_PER_USER,
    PER_USER_BOUND_BYTES,
    Owner,
    OwnershipRegistry,
)
from tests.gradio_protocol import event_messages, fn_index_of, new_session_hash

from tests.gateway.conftest import BASE_URL, client_for, login, running
from .gradio_pages import PROBE

ALICE = Owner.of(1, "alice-session")
BOB = Owner.of(2, "bob-session")
SAME_ORIGIN = {"Origin": BASE_URL}


def test_first_claim_wins_and_others_are_refused() -> None:
    registry = OwnershipRegistry()
    assert registry.claim("session", "h1", ALICE)
    assert registry.claim("session", "h1", ALICE)
    assert not registry.claim("session", "h1", BOB)
    # An identifier the server hands out is not taken from whoever holds it.
    assert registry.grant("event", "e1", ALICE) and not registry.grant("event", "e1", BOB)
    assert registry.owns("session", "h1", ALICE) and not registry.owns("session", "h1", BOB)
    # The same user in another Django session is another owner.
    assert not registry.claim("session", "h1", Owner.of(1, "alice-other-session"))


def test_a_file_can_be_given_to_several_owners() -> None:
    """Gradio's cache is content-addressed: two users producing the same bytes share a path."""
    registry = OwnershipRegistry()
    registry.grant("file", "/tmp/gradio/abc/report.txt", ALICE)
    registry.grant("file", "/tmp/gradio/abc/report.txt", BOB)
    assert registry.owns("file", "/tmp/gradio/abc/report.txt", ALICE)
    assert registry.owns("file", "/tmp/gradio/abc/report.txt", BOB)
    assert not registry.owns("file", "/tmp/gradio/abc/report.txt", Owner.of(3, "carol"))


def test_a_flood_evicts_only_the_flooders_own_records() -> None:
    registry = OwnershipRegistry(max_entries_per_session=100, max_sessions_per_user=2)
    registry.claim("session", "alice-hash", ALICE)
    registry.grant("file", "/tmp/gradio/a/alice.txt", ALICE)
    registry.claim("upload", "alice-upload", ALICE)
    for number in range(10_000):
        registry.claim("session", f"bob-{number}", BOB)
        registry.grant("file", f"/tmp/fake/{number}", BOB)
        registry.claim("session", f"bob-other-{number}", Owner.of(2, f"bob-session-{number % 50}"))
    assert registry.owns("session", "alice-hash", ALICE)
    assert registry.owns("file", "/tmp/gradio/a/alice.txt", ALICE)
    assert registry.owns("upload", "alice-upload", ALICE)
    assert not registry.claim("session", "alice-hash", BOB)
    assert len(registry) <= 1 + 2 + 100 * 2 + 1  # alice's three, bob's two sessions of 100
    # bob's newest records are kept, his oldest evicted.
    assert registry.owns("file", "/tmp/fake/9999", BOB) and not registry.owns("file", "/tmp/fake/0", BOB)


def test_an_evicted_session_of_a_user_frees_only_that_users_claims() -> None:
    registry = OwnershipRegistry(max_entries_per_session=10, max_sessions_per_user=1)
    first, second = Owner.of(2, "bob-1"), Owner.of(2, "bob-2")
    registry.claim("session", "bob-first", first)
    registry.claim("session", "bob-second", second)  # pushes bob's first Django session out
    assert not registry.owns("session", "bob-first", first)
    assert registry.owns("session", "bob-second", second)


def test_a_login_keeps_its_newest_page_sessions_and_says_which_it_let_go() -> None:
    """Each tab costs Gradio its own state: a login keeps ``max_page_sessions_per_owner`` of
    them, and every identifier let go of is reported, so Gradio can forget it too."""
    released: list[tuple[str, str]] = []
    registry = OwnershipRegistry(max_page_sessions_per_owner=3, on_release=lambda kind, key: released.append((kind, key)))
    registry.claim("session", "alice-tab", ALICE)
    for number in range(5):
        registry.claim("session", f"bob-tab-{number}", BOB)
        registry.claim("upload", f"bob-upload-{number}", BOB)
        registry.grant("file", f"/tmp/gradio/{number}", BOB)
    assert released == [("session", "bob-tab-0"), ("session", "bob-tab-1")]
    assert [registry.owns("session", f"bob-tab-{n}", BOB) for n in range(5)] == [False, False, True, True, True]
    assert registry.owns("session", "alice-tab", ALICE)  # another login's tabs are not its budget
    assert registry.owns("upload", "bob-upload-0", BOB)  # uploads and files count against the entries' budget only
    assert registry.claim("session", "bob-tab-0", ALICE)  # let go of: free, for a fresh state
    released.clear()
    evicting = OwnershipRegistry(max_entries_per_session=2, on_release=lambda kind, key: released.append((kind, key)))
    evicting.claim("upload", "u1", BOB)
    evicting.grant("file", "/tmp/gradio/f1", BOB)
    evicting.grant("event", "e1", BOB)
    assert released == [("upload", "u1")]  # a shared file is nobody's to release
    with pytest.raises(ValueError):
        OwnershipRegistry(max_page_sessions_per_owner=0)


def test_a_failing_release_callback_leaves_the_record_right(caplog: pytest.LogCaptureFixture) -> None:
    def broken(kind: str, identifier: str) -> None:
        raise RuntimeError("Gradio changed")

    registry = OwnershipRegistry(max_page_sessions_per_owner=1, on_release=broken)
    registry.claim("session", "first", BOB)
    assert registry.claim("session", "second", BOB)  # lets go of "first": the callback fails, logged
    assert "forgetting a released Gradio session failed" in caplog.text
    assert registry.owns("session", "second", BOB) and not registry.owns("session", "first", BOB)
    assert registry.claim("session", "first", ALICE), "what was let go of is free again"


def test_one_users_flood_is_bounded_in_memory() -> None:
    """At the default budgets, one user with the most sessions and records costs at most
    ``PER_USER_BOUND_BYTES`` (paths of 200 bytes, the worst case the guard sees)."""
    registry = OwnershipRegistry()
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for session in range(MAX_SESSIONS_PER_USER * 3):
            owner = Owner.of(2, f"bob-session-{session}")
            for number in range(MAX_ENTRIES_PER_SESSION * 2):
                registry.grant("file", f"/tmp/gradio/{number:0>180}/{session}.txt", owner)
                if number % 4 == 0:
                    registry.claim("session", f"{session}-{number}", owner)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(registry) == MAX_SESSIONS_PER_USER * MAX_ENTRIES_PER_SESSION
    assert after - before < PER_USER_BOUND_BYTES, after - before


@pytest.fixture
async def app_users(demo_users: Any, demo_password: str) -> AsyncIterator[tuple[Any, Any, dict[str, Any]]]:
    app = create_app(gradio_pages=[PROBE])
    async with running(app):
        alice, bob = client_for(app), client_for(app)
        async with alice, bob:
            await login(alice, "alice", demo_password)
            await login(bob, "bob", demo_password)
            yield alice, bob, (await alice.get("/ui/probe/config")).json()


@pytest.mark.django_db(transaction=True)
async def test_a_flood_of_forged_file_entries_changes_nothing_for_others(app_users: tuple[Any, Any, dict[str, Any]]) -> None:
    """The reported attack: two joins carrying 110,000 fake ``{path, url}`` entries each."""
    alice, bob, config = app_users
    uploaded = await alice.post(
        "/ui/probe/gradio_api/upload",
        params={"upload_id": new_session_hash()},
        files={"files": ("alice.txt", b"alice's file", "text/plain")},
        headers=SAME_ORIGIN,
    )
    (alices_file,) = uploaded.json()
    await asyncio.sleep(0.05)
    alices_session = new_session_hash()
    heartbeat_started = await alice.post(
        "/ui/probe/gradio_api/queue/join",
        json={"data": ["x"], "fn_index": fn_index_of(config, "make_file"), "session_hash": alices_session},
        headers=SAME_ORIGIN,
    )
    assert heartbeat_started.status_code == 200
    forged = [{"path": f"/tmp/g/{number}", "url": "u"} for number in range(110_000)]  # under the 8 MiB inspected
    for _ in range(2):
        flood = await bob.post(
            "/ui/probe/gradio_api/queue/join",
            json={"data": [forged], "fn_index": fn_index_of(config, "make_file"), "session_hash": new_session_hash()},
            headers=SAME_ORIGIN,
        )
        assert flood.status_code == 403
    assert (await alice.get(f"/ui/probe/gradio_api/file={alices_file}")).text == "alice's file"
    assert (await bob.get("/ui/probe/gradio_api/queue/data", params={"session_hash": alices_session})).status_code == 403
    again = await alice.post(
        "/ui/probe/gradio_api/queue/join",
        json={"data": ["y"], "fn_index": fn_index_of(config, "make_file"), "session_hash": alices_session},
        headers=SAME_ORIGIN,
    )
    assert again.status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_a_tab_past_the_logins_budget_takes_gradios_state_of_the_oldest_with_it(
    app_users: tuple[Any, Any, dict[str, Any]],
) -> None:
    """Gradio keeps the state of its last 10,000 sessions of all users alike, about 45 KiB each:
    one login opening tabs without end would push every other user's state out, and hold the
    memory. Past its budget a login's oldest tab is let go of, Gradio's state with it; another
    user's tab keeps its state, and the freed session hash starts from a fresh state."""
    alice, bob, config = app_users
    whoami = fn_index_of(config, "whoami")
    holder = _guard_of(alice).pages["/ui/probe"].get_blocks().state_holder
    bobs_tab = new_session_hash()
    await event_messages(bob, "/ui/probe", whoami, [], session_hash=bobs_tab)
    tabs = [new_session_hash() for _ in range(MAX_PAGE_SESSIONS_PER_OWNER + 2)]
    for tab in tabs:
        messages = await event_messages(alice, "/ui/probe", whoami, [], session_hash=tab)
        assert _completed(messages)["success"]
    assert tabs[0] not in holder and tabs[1] not in holder
    assert all(tab in holder for tab in tabs[2:]) and bobs_tab in holder
    # Gradio's queue forgets them too (it empties a session's set of pending events as their
    # results are read, but keeps the set).
    pending = _guard_of(alice).pages["/ui/probe"].get_blocks()._queue.pending_event_ids_session
    assert tabs[0] not in pending and tabs[1] not in pending
    assert tabs[-1] in pending and bobs_tab in pending
    refused = await alice.get("/ui/probe/gradio_api/queue/data", params={"session_hash": tabs[0]}, headers=SAME_ORIGIN)
    assert refused.status_code == 403
    completed = _completed(await event_messages(bob, "/ui/probe", whoami, [], session_hash=tabs[0]))
    assert completed["success"] and "bob" in str(completed["output"])


@pytest.mark.django_db(transaction=True)
async def test_direct_calls_count_against_the_logins_budget_of_sessions(
    app_users: tuple[Any, Any, dict[str, Any]],
) -> None:
    """``POST /gradio_api/call/{api}`` without a session_hash runs its event in a Gradio session
    named by the event id, with state of its own: each such call is a session of the caller's,
    let go of (Gradio's state with it) past the login's budget like any tab."""
    alice, bob, _config = app_users
    holder = _guard_of(alice).pages["/ui/probe"].get_blocks().state_holder
    bobs = await _direct_call(bob)
    calls = [await _direct_call(alice) for _ in range(MAX_PAGE_SESSIONS_PER_OWNER + 2)]
    assert calls[-1] in holder and bobs in holder
    assert calls[0] not in holder and calls[1] not in holder
    assert all(call in holder for call in calls[2:])


async def _direct_call(client: Any) -> str:
    """Run the probe's ``whoami`` through ``call/{api}`` with no session_hash; its event id."""
    called = await client.post("/ui/probe/gradio_api/call/whoami", json={"data": []}, headers=SAME_ORIGIN)
    assert called.status_code == 200, called.text
    event_id: str = called.json()["event_id"]
    result = await client.get(f"/ui/probe/gradio_api/call/whoami/{event_id}")
    assert "event: complete" in result.text, result.text
    return event_id


def _guard_of(client: Any) -> Any:
    from fastapi_gateway.pages.guard import GradioGuardMiddleware

    stack: Any = client._transport.app.middleware_stack
    while not isinstance(stack, GradioGuardMiddleware):
        stack = stack.app
    return stack


def _completed(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return next(message for message in messages if message["msg"] == "process_completed")
