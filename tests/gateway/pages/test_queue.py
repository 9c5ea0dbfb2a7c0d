"""Gradio's queue sleeps until it has work, and loses none.

Each test runs a real Gradio page mounted in the gateway, with its real queue loops started
by the app's lifespan, and events sent through Gradio's queue protocol.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import gradio as gr
import pytest

from fastapi_gateway import create_app
from fastapi_gateway.pages import queue as gradio_queue
from tests.gradio_protocol import event_messages, fn_index_of, run_event

from tests.gateway.conftest import login, serve
from .gradio_pages import Page

pytestmark = pytest.mark.django_db(transaction=True)


def queue_page() -> gr.Blocks:
    with gr.Blocks(title="Queue") as demo:
        text = gr.Textbox()
        shown = gr.Markdown()

        def one_at_a_time(value: str) -> str:
            time.sleep(0.05)
            return f"done {value}"

        def with_progress(value: str, progress: gr.Progress = gr.Progress()) -> str:  # noqa: B008 - Gradio's idiom
            for _ in progress.tqdm(range(5)):
                time.sleep(0.05)
            return "finished"

        text.submit(one_at_a_time, text, shown, api_name="one_at_a_time", concurrency_limit=1)
        text.change(with_progress, text, shown, api_name="with_progress")
    return demo


PAGE = Page("/ui/queue", queue_page)


class CountingList(list[Any]):
    """``active_jobs`` that counts how often a loop looks at it."""

    looks = 0

    def __iter__(self) -> Iterator[Any]:
        CountingList.looks += 1
        return super().__iter__()

    def __contains__(self, item: object) -> bool:
        CountingList.looks += 1
        return super().__contains__(item)


def queue_of(app: Any, path: str) -> Any:
    mount = next(route for route in app.routes if getattr(route, "path", None) == path)
    return mount.app.get_blocks()._queue


async def test_an_idle_queue_does_not_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    length_checks = 0
    length = gr.queueing.Queue.__len__

    def counting_len(self: Any) -> int:
        nonlocal length_checks
        length_checks += 1
        return length(self)

    monkeypatch.setattr(gr.queueing.Queue, "__len__", counting_len)
    monkeypatch.setattr(gradio_queue, "FALLBACK_SECONDS", 60.0)
    app = create_app(gradio_pages=[PAGE])
    async with serve(app):
        queue = queue_of(app, "/ui/queue")
        queue.active_jobs = CountingList(queue.active_jobs)
        await asyncio.sleep(0.1)  # both loops reach their first sleep
        length_checks, CountingList.looks = 0, 0
        await asyncio.sleep(0.5)
        # Gradio's loops alone look 500 times (dispatch) and 50 times (progress) in this half second.
        assert length_checks == 0
        assert CountingList.looks == 0


async def test_queued_events_run_one_after_another_without_waiting_for_a_poll(
    monkeypatch: pytest.MonkeyPatch, demo_users: Any, demo_password: str
) -> None:
    # A missed wake-up would now cost a minute, so finishing at all proves each came.
    monkeypatch.setattr(gradio_queue, "FALLBACK_SECONDS", 60.0)
    app = create_app(gradio_pages=[PAGE])
    async with serve(app) as client:
        await login(client, "alice", demo_password)
        config = (await client.get("/ui/queue/config")).json()
        fn_index = fn_index_of(config, "one_at_a_time")
        events = [run_event(client, "/ui/queue", fn_index, [str(n)]) for n in range(4)]
        completed = await asyncio.wait_for(asyncio.gather(*events), timeout=20)
        assert sorted(message["output"]["data"][0] for message in completed) == [f"done {n}" for n in range(4)]


async def test_progress_updates_still_reach_the_page(
    monkeypatch: pytest.MonkeyPatch, demo_users: Any, demo_password: str
) -> None:
    monkeypatch.setattr(gradio_queue, "FALLBACK_SECONDS", 60.0)  # the progress loop must be woken
    app = create_app(gradio_pages=[PAGE])
    async with serve(app) as client:
        await login(client, "alice", demo_password)
        config = (await client.get("/ui/queue/config")).json()
        messages = await event_messages(client, "/ui/queue", fn_index_of(config, "with_progress"), ["go"])
        kinds = [message.get("msg") for message in messages]
        assert "progress" in kinds
        assert "process_completed" in kinds


async def test_a_parked_loop_is_cancelled_even_as_it_is_woken() -> None:
    # At shutdown the loops are cancelled while finishing events still wake them.
    wake = gradio_queue._Wake()
    parked = asyncio.create_task(wake.sleep())
    await asyncio.sleep(0)
    wake.set()
    parked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await parked


async def test_a_parked_loop_looks_again_after_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gradio_queue, "FALLBACK_SECONDS", 0.01)
    await asyncio.wait_for(gradio_queue._Wake().sleep(), timeout=5)


def test_a_queue_gradio_has_changed_is_left_polling(caplog: pytest.LogCaptureFixture) -> None:
    class Unknown:
        pass

    assert gradio_queue.wake_on_work(Unknown()) is False
    assert "keeps polling" in caplog.text


async def test_the_queue_keeps_no_statistics_nobody_reads(
    monkeypatch: pytest.MonkeyPatch, demo_users: Any, demo_password: str
) -> None:
    """Gradio's per-event summary of past events (a pandas DataFrame, for the monitoring
    dashboard the gateway turns off) is never built, and the records it would read stay at one
    while events still complete with their results."""
    import gradio.queueing

    built: list[int] = []
    monkeypatch.setattr(gradio.queueing.Queue, "_get_df", staticmethod(lambda records: built.append(len(records))))
    app = create_app(gradio_pages=[PAGE])
    async with serve(app) as client:
        await login(client, "alice", demo_password)
        config = (await client.get("/ui/queue/config")).json()
        fn_index = fn_index_of(config, "one_at_a_time")
        for n in range(5):
            completed = await run_event(client, "/ui/queue", fn_index, [str(n)])
            assert completed["output"]["data"] == [f"done {n}"]
        (mount,) = [route for route in app.routes if getattr(route, "path", None) == "/ui/queue"]
        queue = mount.app.get_blocks()._queue
        assert len(queue.event_analytics) <= 1
    assert built == []


def test_a_queue_whose_statistics_changed_is_left_as_it_is(caplog: pytest.LogCaptureFixture) -> None:
    class Unknown:
        pass

    assert gradio_queue.skip_monitoring_summary(Unknown()) is False
    assert "left as they are" in caplog.text
