"""Scratch attack tests (attack pass 3). Not part of the repo."""
from __future__ import annotations

import asyncio
from typing import Any

import gradio as gr
import httpx
import pytest

from fastapi_gateway import create_app
from fastapi_gateway.compat import gradio_holds_session, gradio_queue
from fastapi_gateway.pages import guard as guard_mod
from fastapi_gateway.pages.ownership import MAX_PAGE_SESSIONS_PER_OWNER
from tests.gradio_protocol import fn_index_of, new_session_hash, parse_sse

from tests.gateway.conftest import BASE_URL, client_for, login, running
from tests.gateway.pages.gradio_pages import PROBE, STATE, Page

pytestmark = pytest.mark.django_db(transaction=True)
SAME_ORIGIN = {"Origin": BASE_URL}


def _guard(app: Any) -> Any:
    current = app.middleware_stack
    while current is not None:
        if isinstance(current, guard_mod.GradioGuardMiddleware):
            return current
        current = getattr(current, "app", None)
    raise LookupError


async def _join(client, mount, fn, data, session_hash, **extra):
    return await client.post(f"{mount}/gradio_api/queue/join",
                             json={"data": data, "fn_index": fn, "session_hash": session_hash, **extra}, headers=SAME_ORIGIN)


async def _fill_budget(client, mount, fn):
    for _ in range(MAX_PAGE_SESSIONS_PER_OWNER):
        r = await client.post(f"{mount}/gradio_api/run/set_direct", json={"data": ["x"], "session_hash": new_session_hash()}, headers=SAME_ORIGIN)
        assert r.status_code == 200, r.text


# ---------------------------------------------------------------- 1. (e) across mounts
async def test_released_pending_hash_claimed_on_another_mount(demo_users: Any, demo_password: str) -> None:
    app = create_app(gradio_pages=[STATE, PROBE], stream_recheck_seconds=0.2, max_upload_mb=1)
    async with running(app):
        alice, bob = client_for(app), client_for(app)
        async with alice, bob:
            await login(alice, "alice", demo_password)
            await login(bob, "bob", demo_password)
            state_cfg = (await alice.get("/ui/state/config")).json()
            probe_cfg = (await bob.get("/ui/probe/config")).json()
            H = new_session_hash()
            assert (await _join(alice, "/ui/state", fn_index_of(state_cfg, "slow"), ["alice-private-text"], H)).status_code == 200
            await _fill_budget(alice, "/ui/state", None)  # H released while its event runs
            # Same mount: refused (the new check) ...
            assert (await _join(bob, "/ui/state", fn_index_of(state_cfg, "remember"), ["b"], H)).status_code == 403
            # ... another mount: Gradio there holds nothing under H, so the claim goes through,
            # and the record's session namespace is global.
            claimed = await _join(bob, "/ui/probe", fn_index_of(probe_cfg, "whoami"), [], H)
            print("claim on /ui/probe:", claimed.status_code)
            read = await bob.get("/ui/state/gradio_api/queue/data", params={"session_hash": H}, timeout=30)
            print("bob reads /ui/state queue/data of H:", read.status_code)
            outputs = [m.get("output") for m in parse_sse(read.text) if m.get("output")]
            print("bob got:", outputs[:3])
            assert "alice-private-text" in read.text  # the exploit works


# ---------------------------------------------------------------- 2. (e) per-session cache
NOTES = gr.Cache(per_session=True)


def cache_page() -> gr.Blocks:
    with gr.Blocks(title="Cache") as demo:
        text, out = gr.Textbox(), gr.Textbox()

        def keep(value: str) -> str:
            NOTES.set("notes", text=value)
            return "kept"

        def recall() -> str:
            entry = NOTES.get("notes")
            return entry["text"] if entry else "nothing"

        gr.Button("keep").click(keep, text, out, api_name="keep")
        gr.Button("recall").click(recall, None, out, api_name="recall")
        gr.Button("set").click(lambda v: v, text, out, api_name="set_direct", queue=False)
    return demo


CACHE = Page("/ui/cache", cache_page)


async def _run_queued(client, mount, fn, data, session_hash):
    joined = await _join(client, mount, fn, data, session_hash)
    if joined.status_code != 200:
        return joined.status_code, ""
    read = await client.get(f"{mount}/gradio_api/queue/data", params={"session_hash": session_hash}, timeout=30)
    return read.status_code, read.text


async def test_per_session_cache_survives_release(demo_users: Any, demo_password: str) -> None:
    app = create_app(gradio_pages=[CACHE], stream_recheck_seconds=0.2, max_upload_mb=1)
    async with running(app):
        alice, bob = client_for(app), client_for(app)
        async with alice, bob:
            await login(alice, "alice", demo_password)
            await login(bob, "bob", demo_password)
            cfg = (await alice.get("/ui/cache/config")).json()
            H = new_session_hash()
            status, text = await _run_queued(alice, "/ui/cache", fn_index_of(cfg, "keep"), ["alice-cached-secret"], H)
            assert status == 200 and "kept" in text
            # bob's own session sees nothing (per_session works)
            _, mine = await _run_queued(bob, "/ui/cache", fn_index_of(cfg, "recall"), [], new_session_hash())
            assert "alice-cached-secret" not in mine
            await _fill_budget(alice, "/ui/cache", None)  # H released: no event pending
            guard = _guard(app)
            print("gradio_holds_session(H) after release:", gradio_holds_session(guard.pages["/ui/cache"], H))
            status, text = await _run_queued(bob, "/ui/cache", fn_index_of(cfg, "recall"), [], H)
            print("bob recall in H:", status, [m.get("output") for m in parse_sse(text) if m.get("output")][-1:])
            assert "alice-cached-secret" in text  # exploit


# ---------------------------------------------------------------- 3. lock-out / leak of own hash
async def test_own_released_hash_locked_out_for_good(demo_users: Any, demo_password: str) -> None:
    app = create_app(gradio_pages=[STATE], stream_recheck_seconds=0.2, max_upload_mb=1)
    async with running(app):
        alice = client_for(app)
        async with alice:
            await login(alice, "alice", demo_password)
            cfg = (await alice.get("/ui/state/config")).json()
            H = new_session_hash()
            assert (await _join(alice, "/ui/state", fn_index_of(cfg, "slow"), ["mine"], H)).status_code == 200
            reader = asyncio.create_task(alice.get("/ui/state/gradio_api/queue/data", params={"session_hash": H}, timeout=30))
            await asyncio.sleep(0.3)
            await _fill_budget(alice, "/ui/state", None)  # her old tab's H released while its event runs
            done = await reader
            assert "process_completed" in done.text  # she still got that event's result
            guard = _guard(app)
            gradio_app = guard.pages["/ui/state"]
            queue = gradio_queue(gradio_app.get_blocks())
            for attempt in range(3):
                await asyncio.sleep(1.0)
                again = await _join(alice, "/ui/state", fn_index_of(cfg, "remember"), ["y"], H)
                print(f"t+{attempt+1}s alice re-join H:", again.status_code, again.text[:80],
                      "| held:", gradio_holds_session(gradio_app, H),
                      "| pending ids:", queue.pending_event_ids_session.get(H),
                      "| msgs:", H in queue.pending_messages_per_session)
            assert again.status_code == 403


# ---------------------------------------------------------------- 4. call/v2 named parameters
def named_page() -> gr.Blocks:
    with gr.Blocks(title="Named") as demo:
        a, b, out = gr.Textbox(), gr.Textbox(), gr.Textbox()

        def rsvp(event_id: str) -> str:
            return f"rsvp {event_id}"

        def team(session_hash: str) -> str:
            return f"team {session_hash}"

        gr.Button("rsvp").click(rsvp, a, out, api_name="rsvp")
        gr.Button("team").click(team, b, out, api_name="team")
    return demo


NAMED = Page("/ui/named", named_page)


async def test_call_v2_named_parameters(demo_users: Any, demo_password: str) -> None:
    app = create_app(gradio_pages=[NAMED], stream_recheck_seconds=0.2, max_upload_mb=1)
    async with running(app):
        alice, bob = client_for(app), client_for(app)
        async with alice, bob:
            await login(alice, "alice", demo_password)
            await login(bob, "bob", demo_password)
            info = (await alice.get("/ui/named/gradio_api/info")).json()
            print("params:", {k: [p.get("parameter_name") for p in v["parameters"]] for k, v in info["named_endpoints"].items()})
            r = await alice.post("/ui/named/gradio_api/call/v2/rsvp", json={"event_id": "party-17"}, headers=SAME_ORIGIN)
            print("alice call/v2 rsvp(event_id='party-17'):", r.status_code, r.text[:100])
            r1 = await alice.post("/ui/named/gradio_api/call/v2/team", json={"session_hash": "blue"}, headers=SAME_ORIGIN)
            print("alice call/v2 team(session_hash='blue'):", r1.status_code, r1.text[:100])
            r2 = await bob.post("/ui/named/gradio_api/call/v2/team", json={"session_hash": "blue"}, headers=SAME_ORIGIN)
            print("bob   call/v2 team(session_hash='blue'):", r2.status_code, r2.text[:100])
            # what session does Gradio run alice's call in? event-id-named, and the guard did not record it
            guard = _guard(app)
            event_id = r1.json().get("event_id")
            owner_sessions = [k for recs in guard.registry._users.values() for r in recs.values() for k in r.entries if k[0] == "session"]
            print("registry sessions:", owner_sessions)
            res = await alice.get(f"/ui/named/gradio_api/call/v2/team/{event_id}", timeout=30)
            print("result:", res.status_code, res.text.strip()[-60:])
            holder = guard.pages["/ui/named"].get_blocks().state_holder
            print("Gradio state under event id:", event_id in holder, "| recorded for alice:", ("session", event_id) in owner_sessions)
            # Without the key: the event-id session is recorded
            r3 = await alice.post("/ui/named/gradio_api/call/v2/rsvp", json={}, headers=SAME_ORIGIN)
            print("alice call/v2 rsvp({}):", r3.status_code, r3.text[:100])
