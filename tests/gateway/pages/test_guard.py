"""Attacks on Gradio's routes through the gateway: each must fail, each defence is needed.

alice and bob are ordinary logged-in users; every test has alice start something and
bob (or an anonymous client, or alice in another Django session) try to reach it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from django.contrib.auth import get_user_model

from fastapi_gateway import create_app
from fastapi_gateway.pages import guard
from tests.gradio_protocol import ENDED, HeldHeartbeat, fn_index_of, new_session_hash, parse_sse, run_event

from tests.gateway.conftest import BASE_URL, client_for, login, running
from .gradio_pages import PROBE

pytestmark = pytest.mark.django_db(transaction=True)

MOUNT = "/ui/probe"
SAME_ORIGIN = {"Origin": BASE_URL}


class Users:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.alice = client_for(app)
        self.bob = client_for(app)
        self.anonymous = client_for(app)
        self.config: dict[str, Any] = {}

    def fn(self, api_name: str) -> int:
        return fn_index_of(self.config, api_name)


@pytest.fixture
async def users(demo_users: Any, demo_password: str) -> AsyncIterator[Users]:
    app = create_app(gradio_pages=[PROBE], stream_recheck_seconds=0.2, max_upload_mb=1)
    async with running(app):
        users = Users(app)
        async with users.alice, users.bob, users.anonymous:
            await login(users.alice, "alice", demo_password)
            await login(users.bob, "bob", demo_password)
            users.config = (await users.alice.get(f"{MOUNT}/config")).json()
            yield users


async def join(client: httpx.AsyncClient, fn_index: int, data: list[Any], session_hash: str, **headers: str) -> httpx.Response:
    return await client.post(
        f"{MOUNT}/gradio_api/queue/join",
        json={"data": data, "fn_index": fn_index, "session_hash": session_hash},
        headers={**SAME_ORIGIN, **headers},
    )


async def test_another_user_cannot_read_join_or_heartbeat_a_session(users: Users) -> None:
    session_hash = new_session_hash()
    joined = await join(users.alice, users.fn("whoami"), [], session_hash)
    assert joined.status_code == 200
    # bob knows alice's session_hash (leaked in a log, a screenshot...):
    stolen = await users.bob.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": session_hash})
    assert stolen.status_code == 403
    assert "alice" not in stolen.text
    assert (await join(users.bob, users.fn("whoami"), [], session_hash)).status_code == 403
    assert (await users.bob.get(f"{MOUNT}/gradio_api/heartbeat/{session_hash}")).status_code == 403
    # alice still gets her own result.
    own = await users.alice.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": session_hash})
    completed = [m for m in parse_sse(own.text) if m.get("msg") == "process_completed"]
    assert completed and completed[0]["output"]["data"] == ["Signed in as alice"]


async def test_a_direct_call_cannot_run_in_another_users_session(users: Users) -> None:
    """``call/{api}`` takes a ``session_hash`` in its body too: an event run there would run in
    that session's state and queue, so the session must be the caller's as on ``queue/join``."""
    session_hash = new_session_hash()
    assert (await join(users.alice, users.fn("whoami"), [], session_hash)).status_code == 200
    stolen = await users.bob.post(f"{MOUNT}/gradio_api/call/whoami", json={"data": [], "session_hash": session_hash}, headers=SAME_ORIGIN)
    assert stolen.status_code == 403, stolen.text
    assert "event_id" not in stolen.text
    # A session of one's own, new or already started, is fine.
    own = await users.alice.post(f"{MOUNT}/gradio_api/call/whoami", json={"data": [], "session_hash": session_hash}, headers=SAME_ORIGIN)
    assert own.status_code == 200 and own.json()["event_id"]
    fresh = await users.bob.post(f"{MOUNT}/gradio_api/call/whoami", json={"data": [], "session_hash": new_session_hash()}, headers=SAME_ORIGIN)
    assert fresh.status_code == 200


async def test_a_direct_calls_own_session_is_its_callers(users: Users) -> None:
    """Sent without a session_hash, Gradio runs the event in a session named by its event id;
    nobody else may take that session over."""
    called = await users.alice.post(f"{MOUNT}/gradio_api/call/whoami", json={"data": []}, headers=SAME_ORIGIN)
    assert called.status_code == 200
    event_id = called.json()["event_id"]
    result = await users.alice.get(f"{MOUNT}/gradio_api/call/whoami/{event_id}")
    assert "Signed in as alice" in result.text
    taken = await join(users.bob, users.fn("whoami"), [], event_id)
    assert taken.status_code == 403
    assert (await users.bob.get(f"{MOUNT}/gradio_api/heartbeat/{event_id}")).status_code == 403


async def test_same_user_in_another_django_session_is_refused(users: Users, demo_password: str) -> None:
    session_hash = new_session_hash()
    assert (await join(users.alice, users.fn("whoami"), [], session_hash)).status_code == 200
    async with client_for(users.app) as other_login:
        await login(other_login, "alice", demo_password)
        response = await other_login.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": session_hash})
        assert response.status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/gradio_api/cancel", {"session_hash": "abcdef123456", "fn_index": 0, "event_id": "e"}),
        ("POST", "/gradio_api/reset", {"event_id": "e"}),
        ("GET", "/gradio_api/heartbeat/abcdef123456", None),
        ("POST", "/gradio_api/stream/e", {"data": []}),
        ("POST", "/gradio_api/stream/e/close", None),
        ("GET", "/gradio_api/stream/abcdef123456/0/1/playlist.m3u8", None),
        ("GET", "/gradio_api/queue/data?session_hash=abcdef123456", None),
        ("POST", "/gradio_api/queue/join", {"data": [], "fn_index": 0, "session_hash": "abcdef123456"}),
        ("POST", "/gradio_api/upload", None),
        ("GET", "/gradio_api/file=/etc/hostname", None),
        ("GET", "/gradio_api/info", None),
        ("GET", "/config", None),
    ],
)
async def test_anonymous_gets_401_on_every_route_family(users: Users, method: str, path: str, body: Any) -> None:
    response = await users.anonymous.request(method, MOUNT + path, json=body, headers=SAME_ORIGIN)
    assert response.status_code == 401


async def test_cancel_of_another_users_event_is_refused(users: Users) -> None:
    alice_hash, bob_hash = new_session_hash(), new_session_hash()
    joined = await join(users.alice, users.fn("slow"), ["5"], alice_hash)
    event_id = joined.json()["event_id"]
    # bob has a real session of his own, and names alice's event in it.
    assert (await join(users.bob, users.fn("whoami"), [], bob_hash)).status_code == 200
    cancel = await users.bob.post(
        f"{MOUNT}/gradio_api/cancel",
        json={"session_hash": bob_hash, "fn_index": users.fn("slow"), "event_id": event_id},
        headers=SAME_ORIGIN,
    )
    assert cancel.status_code == 404
    reset = await users.bob.post(f"{MOUNT}/gradio_api/reset", json={"event_id": event_id}, headers=SAME_ORIGIN)
    assert reset.status_code == 404
    stream = await users.alice.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": alice_hash})
    completed = [m for m in parse_sse(stream.text) if m.get("msg") == "process_completed"]
    assert completed[0]["output"]["data"] == ["step 4"], "bob's cancel must not have cut alice's event short"


async def test_a_session_must_have_started_before_it_is_read_or_cancelled(users: Users) -> None:
    never_joined = new_session_hash()
    data = await users.alice.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": never_joined})
    assert data.status_code == 403
    cancel = await users.alice.post(
        f"{MOUNT}/gradio_api/cancel",
        json={"session_hash": never_joined, "fn_index": 0, "event_id": "e"},
        headers=SAME_ORIGIN,
    )
    assert cancel.status_code == 403


async def test_owner_can_cancel_her_own_event(users: Users) -> None:
    session_hash = new_session_hash()
    event_id = (await join(users.alice, users.fn("slow"), ["50"], session_hash)).json()["event_id"]
    cancel = await users.alice.post(
        f"{MOUNT}/gradio_api/cancel",
        json={"session_hash": session_hash, "fn_index": users.fn("slow"), "event_id": event_id},
        headers=SAME_ORIGIN,
    )
    assert cancel.status_code == 200


async def test_result_files_belong_to_their_user(users: Users) -> None:
    completed = await run_event(users.alice, MOUNT, users.fn("make_file"), ["secret numbers"])
    file_data = completed["output"]["data"][0]
    url = f"{MOUNT}/gradio_api/file={file_data['path']}"
    own = await users.alice.get(url)
    assert own.status_code == 200 and own.text == "private report of alice: secret numbers"
    assert (await users.bob.get(url)).status_code == 404
    assert (await users.anonymous.get(url)).status_code == 401
    # Files Gradio would serve but nobody was given are not served either.
    assert (await users.alice.get(f"{MOUNT}/gradio_api/file=/etc/hostname")).status_code == 404


async def test_uploads_belong_to_their_uploader(users: Users) -> None:
    upload = await users.alice.post(
        f"{MOUNT}/gradio_api/upload",
        params={"upload_id": "alice-upload-1"},
        files={"files": ("notes.txt", b"alice's private notes", "text/plain")},
        headers=SAME_ORIGIN,
    )
    assert upload.status_code == 200, upload.text
    (path,) = upload.json()
    await asyncio.sleep(0.1)  # Gradio moves uploads to its cache in a background task
    assert (await users.alice.get(f"{MOUNT}/gradio_api/file={path}")).text == "alice's private notes"
    assert (await users.bob.get(f"{MOUNT}/gradio_api/file={path}")).status_code == 404
    progress = await users.bob.get(f"{MOUNT}/gradio_api/upload_progress", params={"upload_id": "alice-upload-1"})
    assert progress.status_code == 403
    hijack = await users.bob.post(
        f"{MOUNT}/gradio_api/upload",
        params={"upload_id": "alice-upload-1"},
        files={"files": ("x.txt", b"bob", "text/plain")},
        headers=SAME_ORIGIN,
    )
    assert hijack.status_code == 403


async def test_upload_over_the_limit_is_413(users: Users) -> None:
    response = await users.alice.post(
        f"{MOUNT}/gradio_api/upload",
        files={"files": ("big.bin", b"x" * (1024 * 1024 + 10), "application/octet-stream")},
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 413
    assert response.text == "Content Too Large"


@pytest.mark.parametrize(
    "path",
    ["/gradio_api/token", "/gradio_api/dev/reload", "/monitoring", "/gradio_api/runs", "/gradio_api/vibe-code", "/logout"],
)
async def test_development_and_gradio_login_routes_are_not_served(users: Users, path: str) -> None:
    assert (await users.alice.get(MOUNT + path)).status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "http://localhost:3000"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {},
    ],
    ids=["foreign", "other-local-port", "null", "cross-site-fetch", "no-origin"],
)
async def test_cross_site_unsafe_requests_are_refused(users: Users, headers: dict[str, str]) -> None:
    session_hash = new_session_hash()
    response = await users.alice.post(
        f"{MOUNT}/gradio_api/queue/join",
        json={"data": [], "fn_index": users.fn("whoami"), "session_hash": session_hash},
        headers=headers,
    )
    assert response.status_code == 403
    assert "Origin" in response.json()["detail"]


async def test_same_origin_fetch_and_trusted_origins_are_accepted(users: Users, settings: Any) -> None:
    assert (await join(users.alice, users.fn("whoami"), [], new_session_hash(), **{"Sec-Fetch-Site": "same-origin"})).status_code == 200
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.intranet.example"]
    trusted = await users.alice.post(
        f"{MOUNT}/gradio_api/queue/join",
        json={"data": [], "fn_index": users.fn("whoami"), "session_hash": new_session_hash()},
        headers={"Origin": "https://desk.intranet.example"},
    )
    assert trusted.status_code == 200


async def _logout(client: httpx.AsyncClient) -> None:
    await client.post("/accounts/logout/", data={"csrfmiddlewaretoken": client.cookies["csrftoken"]}, headers={"Referer": f"{BASE_URL}/"})


async def _deactivate(username: str) -> None:
    await get_user_model()._default_manager.filter(username=username).aupdate(is_active=False)


async def _change_password(username: str) -> None:
    user = await get_user_model()._default_manager.aget(username=username)
    user.set_password("a-brand-new-password")
    await user.asave()


async def _end_access(end_access: str, client: httpx.AsyncClient) -> None:
    if end_access == "logout":
        await _logout(client)
    elif end_access == "password":
        await _change_password("alice")
    else:
        await _deactivate("alice")


@pytest.mark.parametrize("end_access", ["logout", "password", "deactivate"])
async def test_ending_access_works_on_the_next_request_for_every_family(
    users: Users, end_access: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the admission window of the event's own result stream (the next test), every
    request after a logout, a password change or a deactivation is refused."""
    monkeypatch.setattr(guard, "FRESH_ADMISSION_SECONDS", 0.05)
    session_hash = new_session_hash()
    assert (await join(users.alice, users.fn("whoami"), [], session_hash)).status_code == 200
    await _end_access(end_access, users.alice)
    await asyncio.sleep(0.1)
    for method, path in [
        ("GET", "/config"),
        ("GET", f"/gradio_api/queue/data?session_hash={session_hash}"),
        ("GET", f"/gradio_api/heartbeat/{session_hash}"),
        ("POST", "/gradio_api/queue/join"),
        ("POST", "/gradio_api/cancel"),
        ("POST", "/gradio_api/upload"),
    ]:
        body = {"data": [], "fn_index": 0, "session_hash": session_hash, "event_id": "e"} if method == "POST" else None
        response = await users.alice.request(method, MOUNT + path, json=body, headers=SAME_ORIGIN)
        assert response.status_code == 401, (end_access, path)
    assert (await users.alice.get("/api/v2/me")).status_code in (401, 404)


@pytest.mark.parametrize("end_access", ["logout", "password", "deactivate"])
async def test_the_next_event_is_refused_even_while_the_last_ones_result_is_read(users: Users, end_access: str) -> None:
    """An event admitted just before access ended still delivers its result to the stream
    opened right after (``queue/data`` within ``FRESH_ADMISSION_SECONDS`` of the admission
    uses it: it can carry nothing else); the next event, and every other request, is refused."""
    session_hash = new_session_hash()
    assert (await join(users.alice, users.fn("whoami"), [], session_hash)).status_code == 200
    await _end_access(end_access, users.alice)
    stream = await users.alice.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": session_hash})
    if end_access == "logout":
        assert stream.status_code == 401  # the browser holds no session cookie any more
    else:
        completed = [m for m in parse_sse(stream.text) if m.get("msg") == "process_completed"]
        assert completed and completed[0]["output"]["data"] == ["Signed in as alice"]
    assert (await join(users.alice, users.fn("whoami"), [], session_hash)).status_code == 401
    for method, path in [
        ("GET", "/config"),
        ("GET", f"/gradio_api/heartbeat/{session_hash}"),
        ("POST", "/gradio_api/upload"),
        ("POST", "/gradio_api/cancel"),
    ]:
        body = {"session_hash": session_hash, "event_id": "e"} if method == "POST" else None
        response = await users.alice.request(method, MOUNT + path, json=body, headers=SAME_ORIGIN)
        assert response.status_code == 401, (end_access, path, response.status_code)
    # The refused join dropped the admission: the result stream is refused too now.
    stream = await users.alice.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": session_hash})
    assert stream.status_code == 401
    assert "Signed in as" not in stream.text


async def test_the_result_stream_uses_the_events_own_admission_and_nobody_elses(users: Users) -> None:
    """The admission is the Django session's: bob's own recent admission does not open
    alice's session's stream, and a stream outside the window looks up again."""
    session_hash = new_session_hash()
    assert (await join(users.alice, users.fn("whoami"), [], session_hash)).status_code == 200
    assert (await join(users.bob, users.fn("whoami"), [], new_session_hash())).status_code == 200
    stolen = await users.bob.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": session_hash})
    assert stolen.status_code == 403
    own = await users.alice.get(f"{MOUNT}/gradio_api/queue/data", params={"session_hash": session_hash})
    completed = [m for m in parse_sse(own.text) if m.get("msg") == "process_completed"]
    assert completed and completed[0]["output"]["data"] == ["Signed in as alice"]


async def test_open_stream_ends_after_logout(users: Users) -> None:
    """An SSE stream opened before the logout is closed by the gateway, not left running."""
    stream = await HeldHeartbeat(users.app, MOUNT, users.alice.cookies).started()
    await asyncio.sleep(0.5)
    assert not stream.task.done(), "the heartbeat stream should stay open while alice is logged in"

    await _logout(users.alice)
    try:
        await asyncio.wait_for(stream.task, timeout=5)
    finally:
        stream.leave()
    assert stream.messages[-1] == ENDED


async def test_admissions_are_kept_for_their_window_only(users: Users, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the guard remembers of recent lookups is the last window's sessions, no more."""
    monkeypatch.setattr(guard, "FRESH_ADMISSION_SECONDS", 0.2)
    guard_app = next(m for m in _middlewares(users.app) if isinstance(m, guard.GradioGuardMiddleware))
    assert (await join(users.alice, users.fn("whoami"), [], new_session_hash())).status_code == 200
    assert len(guard_app._admitted) == 1
    await asyncio.sleep(0.3)
    assert (await join(users.bob, users.fn("whoami"), [], new_session_hash())).status_code == 200
    assert len(guard_app._admitted) == 1  # alice's, out of its window, went when bob's came


def _middlewares(app: Any) -> list[Any]:
    found, current = [], app.middleware_stack
    while current is not None:
        found.append(current)
        current = getattr(current, "app", None)
    return found


async def test_open_streams_are_rechecked_once_per_django_session_per_round(users: Users) -> None:
    """Ten tabs of one login hold ten streams: a round looks that session up once, not ten
    times (2,000 streams checked one by one were 1,000 lookups a second, bench section j).
    A logout still ends all ten, and only those."""
    guard_app = next(m for m in _middlewares(users.app) if isinstance(m, guard.GradioGuardMiddleware))
    alices = [await HeldHeartbeat(users.app, MOUNT, users.alice.cookies).started() for _ in range(10)]
    bobs = [await HeldHeartbeat(users.app, MOUNT, users.bob.cookies).started() for _ in range(2)]
    try:
        assert len(guard_app.streams) == 12
        before, started = guard_app.streams.lookups, asyncio.get_running_loop().time()
        await asyncio.sleep(1.0)  # five rounds of 0.2 s, fewer on a loaded machine: three at least, within 10 s
        for _ in range(450):
            if guard_app.streams.lookups - before >= 2 * 3:
                break
            await asyncio.sleep(0.02)
        rounds = (asyncio.get_running_loop().time() - started) / 0.2
        assert 2 * 3 <= guard_app.streams.lookups - before <= 2 * (rounds + 1)
        await _logout(users.alice)
        await asyncio.wait_for(asyncio.gather(*(stream.task for stream in alices)), timeout=5)
        assert all(stream.messages[-1] == ENDED for stream in alices)
        await asyncio.sleep(0.5)
        assert not any(stream.task.done() for stream in bobs) and len(guard_app.streams) == 2
    finally:
        for stream in alices + bobs:
            stream.leave()
        await asyncio.gather(*(stream.task for stream in alices + bobs), return_exceptions=True)
    assert len(guard_app.streams) == 0


async def test_past_its_budget_a_round_takes_the_sessions_checked_longest_ago(users: Users) -> None:
    """At most ``per_second`` lookups a second: with more sessions than a round may look up,
    every session is still re-checked, in turn."""
    from fastapi_gateway.pages.access import EVERYONE
    from fastapi_gateway.pages.stream_watch import StreamWatch

    from asgiref.sync import sync_to_async

    alice_pk = str(await sync_to_async(_pk)("alice"))
    watch = StreamWatch(interval=0.05, per_second=20)  # one session a round
    ended: list[str] = []
    watch.watch(users.alice.cookies["sessionid"], alice_pk, EVERYONE, lambda: ended.append("alice"))
    watch.watch("made-up-session-1", alice_pk, EVERYONE, lambda: ended.append("one"))
    watch.watch("made-up-session-2", alice_pk, EVERYONE, lambda: ended.append("two"))
    for _ in range(100):
        if len(ended) == 2:
            break
        await asyncio.sleep(0.02)
    assert ended == ["one", "two"] and watch.lookups >= 3 and len(watch) == 1
    with pytest.raises(ValueError):
        StreamWatch(interval=0)


def _pk(username: str) -> int:
    from django.contrib.auth import get_user_model

    return int(get_user_model().objects.get(username=username).pk)


async def test_a_check_that_fails_ends_its_streams_and_the_rechecks_go_on(users: Users) -> None:
    """A page rule that raises (a bug, an outage of what it asks) ends the streams it was
    asked about, fail closed, and the task re-checking every other stream carries on."""
    from asgiref.sync import sync_to_async

    from fastapi_gateway.exceptions import BackendUnavailable
    from fastapi_gateway.pages.access import EVERYONE
    from fastapi_gateway.pages.stream_watch import StreamWatch

    class Broken:
        restricted = True

        def __init__(self, error: Exception) -> None:
            self.error = error

        async def aallows(self, user: Any) -> bool:
            raise self.error

    alice_pk = str(await sync_to_async(_pk)("alice"))
    bob_pk = str(await sync_to_async(_pk)("bob"))
    watch = StreamWatch(interval=0.05)
    ended: list[str] = []
    watch.watch(users.alice.cookies["sessionid"], alice_pk, Broken(RuntimeError("a bug")), lambda: ended.append("bug"))  # type: ignore[arg-type]
    watch.watch(users.bob.cookies["sessionid"], bob_pk, Broken(BackendUnavailable("down")), lambda: ended.append("down"))  # type: ignore[arg-type]
    watch.watch(users.bob.cookies["sessionid"], bob_pk, EVERYONE, lambda: ended.append("bob"))
    for _ in range(100):
        if len(ended) >= 2:
            break
        await asyncio.sleep(0.02)
    checked = watch.lookups
    for _ in range(500):  # a few rounds of 0.05 s; 10 s on a loaded machine
        if watch.lookups > checked:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    assert sorted(ended) == ["bug", "down"], "only the streams whose rule failed end"
    assert watch.lookups > checked and len(watch) == 1, "the re-checks of bob's other stream go on"



async def test_a_hung_check_ends_its_streams_after_its_limit(users: Users, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page rule whose query never answers would hold the one task that re-checks every
    stream: past ``CHECK_TIMEOUT_SECONDS`` its streams end (fail closed) and the rounds go on."""
    from asgiref.sync import sync_to_async

    from fastapi_gateway.pages import stream_watch

    class Hung:
        restricted = True

        async def aallows(self, user: Any) -> bool:
            await asyncio.Event().wait()
            return True

    monkeypatch.setattr(stream_watch, "CHECK_TIMEOUT_SECONDS", 0.3)
    alice_pk = str(await sync_to_async(_pk)("alice"))
    watch = stream_watch.StreamWatch(interval=0.05)
    ended: list[str] = []
    watch.watch(users.alice.cookies["sessionid"], alice_pk, Hung(), lambda: ended.append("hung"))  # type: ignore[arg-type]
    for _ in range(100):
        if ended:
            break
        await asyncio.sleep(0.02)
    assert ended == ["hung"] and len(watch) == 0
