"""``ShutdownWatch``: the first stop signal noted and passed on, the handler before it put back,
what registered called on the loop; a Gradio page's heartbeat stream ends cleanly at once."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest

from fastapi_gateway import create_app
from fastapi_gateway.server.shutdown import ShutdownWatch
from tests.gateway.conftest import client_for, login, running
from tests.gateway.pages.gradio_pages import PROBE
from tests.gradio_protocol import ENDED, HeldHeartbeat


async def test_the_first_signal_is_noted_passed_on_and_the_handler_put_back() -> None:
    passed_on: list[int] = []

    def servers_handler(signum: int, frame: Any) -> None:
        passed_on.append(signum)

    previous = signal.signal(signal.SIGTERM, servers_handler)
    try:
        watch = ShutdownWatch()
        called: list[str] = []
        watch.on_begin(lambda: called.append("gradio"))
        with watch.watching_signals():
            assert not watch.began
            signal.raise_signal(signal.SIGTERM)
            signal.raise_signal(signal.SIGTERM)
            assert watch.began and watch.reason == "SIGTERM received"
            assert called == []  # left to the loop, not run inside the signal handler
            await asyncio.sleep(0)
            assert called == ["gradio"]
        assert passed_on == [signal.SIGTERM, signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is servers_handler
        assert called == ["gradio"]  # once
    finally:
        signal.signal(signal.SIGTERM, previous)


async def test_a_signal_without_a_python_handler_is_left_alone() -> None:
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with ShutdownWatch().watching_signals():
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.django_db(transaction=True)
async def test_a_gradio_heartbeat_stream_ends_cleanly_when_shutdown_begins(demo_users: Any, demo_password: str) -> None:
    app = create_app(gradio_pages=[PROBE])
    async with running(app):
        async with client_for(app) as alice:
            await login(alice, "alice", demo_password)
            cookies = dict(alice.cookies.items())
        stream = await HeldHeartbeat(app, "/ui/probe", cookies).started()
        await asyncio.sleep(0.3)
        assert not stream.task.done()  # a heartbeat never ends by itself
        app.state.readiness.shutdown.begin("SIGTERM received")
        await asyncio.wait_for(stream.task, timeout=3)
        assert stream.messages[-1] == ENDED
