"""Gradio's queue, woken by work instead of polling for it, and without its unread statistics.

Every mounted ``gr.Blocks`` has a queue with two loops on the event loop: one dispatches
events and, whenever it has nothing to dispatch, sleeps 1 ms and looks again; the other
looks for progress updates every 10 ms. With the two bundled pages an idle gateway process
woke about 900 times a second and spent 4.9 % of a CPU doing it, and under load the same
timers kept the event loop busy between legacy pages.

``wake_on_work`` keeps Gradio's own loops, with their own code, and changes only what their
``asyncio.sleep`` means when asked for the polling interval: the dispatcher sleeps until an
event is pushed or a running one finishes (the only two things that give it something to
do), the progress loop until an event starts (while events run it keeps Gradio's 10 ms
cadence). Each still looks again after ``FALLBACK_SECONDS`` whatever happens, so a wake-up
Gradio adds one day costs latency, never a hang. Only the two loops' global ``asyncio`` is
replaced, on copies of their functions bound to this one queue: Gradio itself, and other
queues, are untouched. A Gradio version without these loops is left as it is, with a warning.

``skip_monitoring_summary``: after every event Gradio's queue builds a pandas DataFrame of
the timings of up to 10,000 past events (``GRADIO_ANALYTICS_MAX_EVENTS``) to summarise them
for its monitoring dashboard. The gateway mounts every page with monitoring off and refuses
the dashboard's routes, so the summary is never read; yet it grew with traffic to be most
of an event's cost (measured: a trivial event took 10-12 ms on bare Gradio after a few
hundred events, the DataFrame a large part of it, and 10,000 kept records per page are
memory nobody reads). The queue keeps one event's record and never summarises.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import types
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["FALLBACK_SECONDS", "skip_monitoring_summary", "wake_on_work"]

logger = logging.getLogger("fastapi_gateway")

FALLBACK_SECONDS = 0.5


class _Wake:
    """An ``asyncio.Event`` that follows the running loop (a queue may outlive one in tests)."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _current(self) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        if self._event is None or self._loop is not loop:
            self._event, self._loop = asyncio.Event(), loop
        return self._event

    def set(self) -> None:
        try:
            self._current().set()
        except RuntimeError:  # no running loop: nobody can be asleep on it
            pass

    async def sleep(self) -> None:
        """Until the next ``set()``, or ``FALLBACK_SECONDS``; a cancellation always goes through.

        (Not ``asyncio.wait_for``: on Python 3.11 it swallows a cancellation that arrives as the
        event is set, and a queue loop cancelled at shutdown would then run on forever.)
        """
        event = self._current()
        event.clear()
        fallback = asyncio.get_running_loop().call_later(FALLBACK_SECONDS, event.set)
        try:
            await event.wait()
        finally:
            fallback.cancel()


class _AsyncioWithSleep:
    """``asyncio`` for one function: the same module, with its polling sleep parked."""

    def __init__(self, sleep: Callable[..., Awaitable[Any]]) -> None:
        self.sleep = sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


def _with_asyncio(function: types.FunctionType, stand_in: _AsyncioWithSleep) -> types.FunctionType:
    """``function`` itself, compiled code and all, reading ``asyncio`` from ``stand_in``."""
    namespace = dict(function.__globals__, asyncio=stand_in)
    copy = types.FunctionType(function.__code__, namespace, function.__name__, function.__defaults__, function.__closure__)
    functools.update_wrapper(copy, function)
    return copy


def wake_on_work(queue: Any) -> bool:
    """Make ``queue`` (a ``gradio.queueing.Queue``) sleep until it has work; False if it can't be."""
    cls = type(queue)
    try:
        dispatch = cls.start_processing
        progress = cls.start_progress_updates
        push = queue.push
        process_events = queue.process_events
        dispatch_poll = float(queue.sleep_when_free)
        progress_poll = float(queue.progress_update_sleep_when_free)
        queue.active_jobs  # noqa: B018 - read by the progress loop's sleep
    except AttributeError as missing:
        logger.warning("Gradio's queue has changed (%s): it keeps polling every millisecond", missing)
        return False
    if not isinstance(dispatch, types.FunctionType) or not isinstance(progress, types.FunctionType):
        logger.warning("Gradio's queue loops are not plain functions: it keeps polling every millisecond")
        return False

    work = _Wake()  # an event was pushed, or a running one finished
    started = _Wake()  # an event started

    async def dispatch_sleep(delay: float, result: Any = None) -> Any:
        if delay != dispatch_poll:
            return await asyncio.sleep(delay, result)
        await work.sleep()
        return result

    async def progress_sleep(delay: float, result: Any = None) -> Any:
        if delay != progress_poll or any(job is not None for job in queue.active_jobs):
            return await asyncio.sleep(delay, result)
        await started.sleep()
        return result

    async def pushing(*args: Any, **kwargs: Any) -> Any:
        try:
            return await push(*args, **kwargs)
        finally:
            work.set()

    async def processing(*args: Any, **kwargs: Any) -> Any:
        started.set()
        try:
            return await process_events(*args, **kwargs)
        finally:
            work.set()

    queue.push = functools.update_wrapper(pushing, push)
    queue.process_events = functools.update_wrapper(processing, process_events)
    queue.start_processing = types.MethodType(_with_asyncio(dispatch, _AsyncioWithSleep(dispatch_sleep)), queue)
    queue.start_progress_updates = types.MethodType(_with_asyncio(progress, _AsyncioWithSleep(progress_sleep)), queue)
    return True


def skip_monitoring_summary(queue: Any) -> bool:
    """Keep ``queue``'s event statistics to the event at hand and never summarise them (see the
    module's docstring); False, with a warning, if this Gradio keeps them differently."""
    try:
        queue.ANALYTICS_MAX_EVENTS  # noqa: B018 - both are read by Gradio at each event
        queue.ANAYLTICS_CACHE_FREQUENCY  # noqa: B018 - Gradio's spelling
        queue.event_analytics  # noqa: B018
    except AttributeError as missing:
        logger.warning("Gradio's queue statistics have changed (%s): they are left as they are", missing)
        return False
    queue.ANALYTICS_MAX_EVENTS = 1  # an event's record lives while it runs: Gradio updates it
    queue.ANAYLTICS_CACHE_FREQUENCY = sys.maxsize  # "summarise every N events": never
    return True
