"""``check_event_call``: event requests Gradio answers with a 500 are a 404 instead.

Gradio's real routes without the check (pinned: a release that fixes them shows here), with
it (each refused, everything else answered as before), and the whole gateway, where the
Gradio guard calls it for the event routes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import gradio as gr
import httpx
import pytest
from fastapi import FastAPI
from starlette.responses import JSONResponse
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastapi_gateway.exceptions import EventCallRefused
from fastapi_gateway.pages.event_target import check_event_call

from tests.gateway.conftest import BASE_URL, login
from .gradio_pages import PROBE

MOUNT = "/p"
SESSION = "abcdef123456"


def _page() -> gr.Blocks:
    with gr.Blocks() as demo:
        level = gr.Dropdown(["low", "high"], value="low")
        out = gr.Textbox()
        gr.Button("shout").click(lambda value: value.upper(), level, out, api_name="shout")
        gr.Button("secret").click(lambda value: value, level, out, api_name="secret", api_visibility="private")
        gr.Button("quick").click(lambda value: value, level, out, api_name="quick", api_visibility="private", queue=False)
        gr.Button("hidden").click(lambda value: value, level, out, api_name="hidden", api_visibility="undocumented")
        gr.Button("browser").click(None, level, out, js="(value) => value")
    return demo


def _fn_index(blocks: gr.Blocks, api_name: str) -> int:
    return next(index for index, fn in blocks.fns.items() if fn.api_name == api_name)


def _browser_only(blocks: gr.Blocks) -> int:
    return next(index for index, fn in blocks.fns.items() if fn.fn is None)


def _app(check: bool) -> tuple[FastAPI, gr.Blocks]:
    blocks = _page()
    app = gr.mount_gradio_app(FastAPI(), blocks, path=MOUNT, ssr_mode=False)
    if check:
        mount = next(route for route in app.routes if isinstance(route, Mount) and route.path == MOUNT)
        mount.app = _checked(mount.app, blocks)
    return app, blocks


def _checked(gradio_app: ASGIApp, blocks: gr.Blocks) -> ASGIApp:
    """The check where the guard makes it: after reading the JSON body, before Gradio."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            try:
                check_event_call(blocks, scope["path"][len(MOUNT):], json.loads(body or b"{}"))
            except EventCallRefused as exc:
                await JSONResponse({"detail": exc.detail}, status_code=exc.status_code)(scope, receive, send)
                return
            replayed = [{"type": "http.request", "body": body, "more_body": False}]

            async def replay() -> Message:
                return replayed.pop(0) if replayed else await receive()

            receive = replay
        await gradio_app(scope, receive, send)

    return app


# (route under the mount, body): each a 500 from Gradio 6.31 alone.
def _bad_calls(blocks: gr.Blocks) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("/gradio_api/queue/join", {"data": ["low"], "fn_index": 999, "session_hash": SESSION}),
        ("/gradio_api/queue/join", {"data": ["low"], "fn_index": "-1", "session_hash": SESSION}),
        ("/gradio_api/run/shout", {"data": ["low"], "fn_index": 999}),
        ("/gradio_api/run/nonexistent", {"data": ["low"]}),
        ("/gradio_api/api/nonexistent/", {"data": ["low"]}),
        ("/gradio_api/call/nonexistent", {"data": ["low"]}),
        ("/gradio_api/call/v2/nonexistent", {}),
        ("/gradio_api/call/v2/secret", {"value": "low"}),
        ("/gradio_api/call/v2/hidden", {"value": "low"}),  # undocumented: listed only with ?all_endpoints
        ("/gradio_api/call/v2/shout", {"nope": "low"}),
        ("/gradio_api/call/v2/shout", {"value": "low", "extra": 1}),
        ("/gradio_api/run/secret", {"data": ["not one of the choices"]}),
        ("/gradio_api/run/secret", {"data": []}),
        ("/gradio_api/run/shout", {"data": ["low"], "fn_index": _browser_only(blocks)}),
    ]


def _good_calls(blocks: gr.Blocks) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("/gradio_api/run/shout", {"data": ["low"]}),
        ("/gradio_api/run/shout/", {"data": ["high"], "fn_index": str(_fn_index(blocks, "shout"))}),
        ("/gradio_api/run/quick", {"data": ["low"]}),  # private, not queued: the page's own way to run it
        ("/gradio_api/run/hidden", {"data": ["low"]}),
        ("/gradio_api/queue/join", {"data": ["low"], "fn_index": _fn_index(blocks, "secret"), "session_hash": SESSION}),
        ("/gradio_api/queue/join", {"data": ["low"], "session_hash": SESSION}),  # no fn_index: Gradio's own 400
        ("/gradio_api/call/shout", {"data": ["low"]}),
        ("/gradio_api/call/v2/shout", {"value": "low"}),
        ("/gradio_api/call/v2/shout", {"value": "low", "oauth_token": "t"}),
        ("/gradio_api/run/shout", {"data": ["low"], "fn_index": "x"}),  # Gradio's own 422
    ]


async def _post(app: ASGIApp, route: str, body: dict[str, Any]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        return await client.post(MOUNT + route, json=body)


async def test_gradio_alone_answers_these_event_requests_with_a_500() -> None:
    """Gradio's own bugs, pinned: when a release answers these 4xx, this module can shrink."""
    app, blocks = _app(check=False)
    statuses = [(route, (await _post(app, route, body)).status_code) for route, body in _bad_calls(blocks)]
    assert statuses == [(route, 500) for route, _ in _bad_calls(blocks)]


async def test_with_the_check_each_is_a_4xx_that_says_why() -> None:
    app, blocks = _app(check=True)
    for route, body in _bad_calls(blocks):
        response = await _post(app, route, body)
        assert response.status_code == (422 if route.endswith("/shout") and "v2" in route else 404), (route, body, response.text)
        assert response.json()["detail"], route


async def test_with_the_check_every_other_request_is_answered_by_gradio_as_before() -> None:
    plain, plain_blocks = _app(check=False)
    checked, checked_blocks = _app(check=True)
    for (route, body), (_, same_body) in zip(_good_calls(plain_blocks), _good_calls(checked_blocks), strict=True):
        expected = await _post(plain, route, body)
        actual = await _post(checked, route, same_body)
        assert actual.status_code == expected.status_code < 500, (route, actual.text, expected.text)


async def test_other_routes_and_bodies_gradio_refuses_pass_through() -> None:
    blocks = _page()
    for route, body in [
        ("/gradio_api/upload", None),
        ("/gradio_api/queue/data", None),
        ("/gradio_api/cancel", {"fn_index": 999, "session_hash": SESSION, "event_id": "e"}),
        ("/gradio_api/queue/join", {"fn_index": {"not": "an int"}, "session_hash": SESSION}),
        ("/gradio_api/queue/join", None),
    ]:
        check_event_call(blocks, route, body)


async def test_an_existing_sessions_own_events_are_the_ones_looked_in() -> None:
    """``gr.render`` gives a session events of its own; a new session is not created by looking."""
    blocks = _page()
    check_event_call(blocks, "/gradio_api/queue/join", {"fn_index": 0, "session_hash": "never-seen"})
    assert "never-seen" not in blocks.state_holder


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/gradio_api/queue/join", {"data": [], "fn_index": 999, "session_hash": SESSION}),
        ("/gradio_api/run/nonexistent", {"data": [], "session_hash": SESSION}),
        ("/gradio_api/call/v2/nonexistent", {}),
    ],
)
async def test_the_gateway_answers_these_event_requests_404(
    gateway_factory: Callable[..., Any], demo_users: Any, demo_password: str, route: str, body: dict[str, Any]
) -> None:
    """Issue 13, end to end: the Gradio guard calls ``check_event_call`` for the event routes."""
    async with gateway_factory(gradio_pages=[PROBE]) as client:
        await login(client, "alice", demo_password)
        response = await client.post(f"{PROBE.path}{route}", json=body, headers={"Origin": BASE_URL})
    assert response.status_code == 404, response.text
