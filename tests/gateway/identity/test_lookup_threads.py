"""Session lookups run on threads that keep their database connection: reused while busy,
replaced when idle or broken, bounded in time."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection, connections

from fastapi_gateway.exceptions import BackendUnavailable
from fastapi_gateway.identity import lookup_threads

pytestmark = pytest.mark.django_db(transaction=True)


def _connection_id() -> int:
    connection.ensure_connection()
    return id(connection.connection)


def _same_thread_twice() -> tuple[int, int]:
    """Two lookups in a row on one lookup thread (the pool's threads are interchangeable, so
    the test asks one thread directly)."""
    first = lookup_threads._lookup(_connection_id)
    return first, lookup_threads._lookup(_connection_id)


async def test_a_lookup_threads_connection_is_kept_between_lookups() -> None:
    first, second = await lookup_threads.run_lookup(_same_thread_twice)
    assert first == second


async def test_a_connection_idle_too_long_is_closed_before_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """(Counted through Django's own ``close``: the in-memory test database ignores it.)"""
    closed: list[str] = []
    wrapper_class = type(connections["default"])
    original = wrapper_class.close

    def counting_close(self: Any) -> None:
        closed.append(self.alias)
        original(self)

    monkeypatch.setattr(wrapper_class, "close", counting_close)
    await lookup_threads.run_lookup(_same_thread_twice)
    assert closed == []
    monkeypatch.setattr(lookup_threads, "IDLE_SECONDS", -1.0)
    await lookup_threads.run_lookup(_same_thread_twice)
    assert "default" in closed  # at least before the second lookup, which found the first one's open


async def test_a_lookup_that_does_not_answer_is_an_outage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lookup_threads, "TIMEOUT_SECONDS", 0.1)
    release = threading.Event()
    started = time.monotonic()
    try:
        with pytest.raises(BackendUnavailable):
            await lookup_threads.run_lookup(release.wait, 30)  # a store that never answers
        assert time.monotonic() - started < 5
    finally:
        release.set()


async def test_an_outage_on_a_kept_connection_is_tried_once_more_on_a_new_one() -> None:
    calls: list[int] = []

    def fails_on_the_kept_connection() -> int:
        calls.append(_connection_id())
        if len(calls) == 1:
            raise BackendUnavailable(ConnectionError("server closed the connection"))
        return calls[-1]

    def twice() -> int:
        lookup_threads._lookup(_connection_id)  # this thread now keeps a connection
        return lookup_threads._lookup(fails_on_the_kept_connection)

    assert await lookup_threads.run_lookup(twice) == calls[-1]
    assert len(calls) == 2


def test_an_outage_on_a_new_connection_is_not_retried() -> None:
    calls: list[int] = []
    raised: list[BaseException] = []

    def always_fails() -> None:
        calls.append(1)
        raise BackendUnavailable(ConnectionError("refused"))

    def in_a_thread_with_no_connection_yet() -> None:
        try:
            lookup_threads._lookup(always_fails)
        except BackendUnavailable as exc:
            raised.append(exc)

    thread = threading.Thread(target=in_a_thread_with_no_connection_yet)
    thread.start()
    thread.join()
    assert calls == [1] and len(raised) == 1
