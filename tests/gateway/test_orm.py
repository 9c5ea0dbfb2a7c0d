"""``fastapi_gateway.orm``: ORM work off the event loop, the worker threads' test connections
closed, and the kept-connection threads of the gateway's periodic work."""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import sqlite3
import threading
import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, connections, transaction

from fastapi_gateway.orm import KeptConnectionThread, closing_worker_connections, run_orm
from fastapi_gateway.routing.runtime import RoutingRuntime
from migration_plan.routes import ROUTES

pytestmark = pytest.mark.django_db(transaction=True)


def _open_a_connection(into: dict[str, Any]) -> None:
    wrapper = connections["default"]  # this thread's own
    wrapper.ensure_connection()
    into["wrapper"], into["database"] = wrapper, wrapper.connection


@pytest.mark.skipif(os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="SQLite's in-memory test database")
def test_a_worker_threads_connection_is_closed_when_the_block_ends() -> None:
    opened: dict[str, Any] = {}
    with closing_worker_connections():
        worker = threading.Thread(target=_open_a_connection, args=(opened,))
        worker.start()
        worker.join()
        del worker  # the thread is gone before the block ends: its connection is still closed, not dropped
        assert opened["database"].execute("SELECT 1").fetchone() == (1,)

    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        opened["database"].execute("SELECT 1")
    assert opened["wrapper"].connection is None  # used again, the thread would connect anew


def test_the_entering_threads_own_connection_stays_open() -> None:
    with closing_worker_connections():
        connection.ensure_connection()
        mine = connection.connection

    assert connection.connection is mine
    assert mine.execute("SELECT 1").fetchone() == (1,)


async def test_run_orm_sees_the_test_database_and_its_thread_connection_is_closed_after() -> None:
    opened: list[Any] = []

    def count_users() -> int:
        opened.append(connections["default"])
        return get_user_model()._default_manager.count()

    with closing_worker_connections():
        assert await run_orm(count_users) == 0

    assert opened and all(wrapper.connection is None for wrapper in opened)


def _count_after_a_pause(connected: threading.Event, counted: list[int], pause: float) -> None:
    """Connect, say so, wait ``pause`` seconds (the block ends meanwhile), then query."""
    connections["default"].ensure_connection()
    connected.set()
    time.sleep(pause)
    counted.append(get_user_model()._default_manager.count())


@pytest.mark.skipif(os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="SQLite's in-memory test database")
async def test_a_kept_threads_call_still_running_finishes_before_its_connection_is_closed() -> None:
    """A route table's last poll, its caller gone, still runs in its kept thread when the
    block ends: the block waits for the call before it closes the thread's connection, never
    closing it under the query (which crashed sqlite3: a segfault in the routing tests)."""
    kept = KeptConnectionThread("test-still-running")
    connected, counted = threading.Event(), []
    slow_count = functools.partial(_count_after_a_pause, connected, counted, 0.3)  # the caller is gone and the block ends meanwhile

    with closing_worker_connections():
        call = asyncio.ensure_future(kept.run(slow_count))
        assert await asyncio.to_thread(connected.wait, 5)
        call.cancel()
    assert counted == [0], "the call ran to its end on an open connection"
    with pytest.raises(asyncio.CancelledError):
        await call


@pytest.mark.skipif(os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="SQLite's in-memory test database")
async def test_a_kept_threads_call_running_past_the_wait_keeps_its_connection_open(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """Past the block's wait for the kept threads, a connection whose thread is still in a
    call is left open (a warning says so), not closed under the call."""
    from fastapi_gateway import orm

    monkeypatch.setattr(orm, "_TEST_CLOSE_WAIT_SECONDS", 0.05)
    kept = KeptConnectionThread("test-still-busy")
    connected, counted = threading.Event(), []
    slow_count = functools.partial(_count_after_a_pause, connected, counted, 0.5)

    with closing_worker_connections():
        call = asyncio.ensure_future(kept.run(slow_count))
        assert await asyncio.to_thread(connected.wait, 5)
    assert "still busy: its test connection is left open" in caplog.text
    await call
    assert counted == [0]


async def test_a_call_that_finds_its_thread_let_go_meanwhile_runs_on_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another thread's ``close()`` (a test's clean-up, beside a live server's poll) can end
    the thread between a call taking it and submitting to it: the call goes to a new one,
    instead of failing with "cannot schedule new futures after shutdown"."""
    kept = KeptConnectionThread("test-let-go")
    try:
        assert await kept.run(lambda: 1) == 1
        taken = kept._thread()
        kept.close_blocking()  # the other thread's close, after this call took its thread
        fresh = kept._thread
        handed = iter([taken])
        monkeypatch.setattr(kept, "_thread", lambda: next(handed, None) or fresh())
        assert await kept.run(lambda: 2) == 2
    finally:
        kept.close_blocking()


def _on_postgresql() -> bool:
    return os.environ.get("DATABASE_URL", "").split(":", 1)[0] in ("postgres", "postgresql")


def _connection() -> tuple[threading.Thread, int]:
    """This thread and its open DB-API connection."""
    connection.ensure_connection()
    return threading.current_thread(), id(connection.connection)


@pytest.fixture
def closes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads that closed a connection, counted through Django's own
    ``close`` (the in-memory test database ignores it, so its DB-API connection stays)."""
    closed: list[str] = []
    wrapper_class = type(connections["default"])
    original = wrapper_class.close

    def counting_close(self: Any) -> None:
        if self.connection is not None:
            closed.append(threading.current_thread().name)
        original(self)

    monkeypatch.setattr(wrapper_class, "close", counting_close)
    return closed


async def test_a_kept_connection_thread_keeps_one_connection_whatever_conn_max_age_says(closes: list[str]) -> None:
    """Django's CONN_MAX_AGE = 0 (the example's) closes a connection after each use, as
    ``run_orm`` does: on PostgreSQL a backend forked per call."""
    assert connections["default"].settings_dict["CONN_MAX_AGE"] == 0
    kept = KeptConnectionThread("test-kept")
    try:
        seen = {await kept.run(_connection) for _ in range(5)}
        assert len(seen) == 1
        assert closes == []  # nothing closed between calls
    finally:
        await kept.close()
    assert closes == ["test-kept_0"]  # closed once, at the end
    with closing_worker_connections():
        await run_orm(_connection)
        await run_orm(_connection)
    assert len([name for name in closes if "AnyIO" in name]) >= 2  # what the kept thread spares: a close per call


async def test_the_route_tables_polls_and_the_route_numbers_keep_their_connections(closes: list[str]) -> None:
    runtime = RoutingRuntime(ROUTES, poll_seconds=0.05, traffic_seconds=0.05)
    async with runtime.running():
        await asyncio.sleep(0.6)  # about a dozen polls, writes and rollout ticks (fewer on a loaded machine)
        for _ in range(500):
            threads = {thread.name for thread in threading.enumerate()}
            if {"gateway-route-table", "gateway-route-numbers"} <= {name.rsplit("_", 1)[0] for name in threads}:
                break
            await asyncio.sleep(0.02)
        assert any(name.startswith("gateway-route-table") for name in threads)
        assert any(name.startswith("gateway-route-numbers") for name in threads)
        assert not [name for name in closes if name.startswith("gateway-route")]
    assert {name.split("_")[0] for name in closes if name.startswith("gateway-route")} == {
        "gateway-route-table", "gateway-route-numbers",
    }  # closed once each, as the runtime ended
    for _ in range(100):  # and their threads end
        if not [t for t in threading.enumerate() if t.name.startswith("gateway-route")]:
            break
        await asyncio.sleep(0.01)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("gateway-route")]


async def test_a_kept_connection_that_failed_and_no_longer_answers_is_replaced(
    closes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = KeptConnectionThread("test-kept")

    def fails() -> None:
        connection.ensure_connection()
        connection.errors_occurred = True  # what Django sets when a query raised a DatabaseError

    try:
        await kept.run(fails)
        monkeypatch.setattr(type(connections["default"]), "is_usable", lambda self: True)
        await kept.run(_connection)
        assert closes == []  # it still answers: kept
        await kept.run(fails)
        monkeypatch.setattr(type(connections["default"]), "is_usable", lambda self: False)
        await kept.run(_connection)
        assert closes == ["test-kept_0"]  # broken: closed before the call, which connected anew
    finally:
        await kept.close()


async def test_a_connection_left_outside_autocommit_is_not_kept(closes: list[str]) -> None:
    kept = KeptConnectionThread("test-kept")

    def leaves_autocommit_off() -> None:
        transaction.set_autocommit(False)

    try:
        await kept.run(leaves_autocommit_off)
        await kept.run(_connection)
        assert closes == ["test-kept_0"]
    finally:
        await kept.close()


@pytest.mark.skipif(not _on_postgresql(), reason="a real close: the in-memory SQLite test database ignores it")
async def test_a_connection_left_inside_a_transaction_is_replaced_and_later_calls_work(closes: list[str]) -> None:
    """Closed inside an atomic block, Django keeps the closed connection until the block exits:
    a caller that never exits it would leave every later call on this thread a closed one."""
    kept = KeptConnectionThread("test-kept")

    def leaves_a_transaction_open() -> None:
        transaction.atomic().__enter__()
        get_user_model()._default_manager.count()

    def count_users() -> int:
        return get_user_model()._default_manager.count()

    try:
        await kept.run(leaves_a_transaction_open)
        for _ in range(3):
            assert await kept.run(count_users) == 0
        assert closes == ["test-kept_0"]
    finally:
        await kept.close()


async def test_a_call_that_does_not_answer_in_time_leaves_its_thread_and_the_next_starts_on_a_new_one() -> None:
    """A database host gone without a reset: a query on the kept socket would wait for the
    kernel's retries (about 15 minutes), and a single thread would hold every later call."""
    kept = KeptConnectionThread("test-kept", timeout=0.1)
    release = threading.Event()
    stuck_in: list[threading.Thread] = []

    def hangs() -> None:
        stuck_in.append(threading.current_thread())
        release.wait(30)

    try:
        with pytest.raises(TimeoutError, match="no answer from the database"):
            await kept.run(hangs)
        kept.timeout = 10.0  # a new thread and connection (a new server process on PostgreSQL) may take a while
        thread, _ = await kept.run(_connection)  # not behind the stuck call: it answers while that one still hangs
        assert thread is not stuck_in[0] and stuck_in[0].is_alive()
        release.set()
        stuck_in[0].join(2)
        assert not stuck_in[0].is_alive()  # it ended once its call did, its connections closed
    finally:
        release.set()
        await kept.close()


async def test_close_kept_connections_reaches_a_thread_whose_owner_is_gone(closes: list[str]) -> None:
    """A test that refreshes a route table it then drops: its thread and connection are still
    closed before the test database is dropped."""
    from fastapi_gateway.orm import close_kept_connections

    kept = KeptConnectionThread("test-kept")
    thread, _ = await kept.run(_connection)
    del kept
    gc.collect()
    await asyncio.to_thread(close_kept_connections)
    assert closes == ["test-kept_0"]
    thread.join(2)
    assert not thread.is_alive()


async def test_a_connection_idle_too_long_is_replaced_before_use(closes: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi_gateway import orm

    kept = KeptConnectionThread("test-kept")
    try:
        await kept.run(_connection)
        monkeypatch.setattr(orm, "IDLE_SECONDS", -1.0)
        await kept.run(_connection)
        assert closes == ["test-kept_0"]
    finally:
        await kept.close()


async def test_close_ends_the_thread_a_later_call_starts_another_and_a_cancelled_caller_does_not_stop_the_call() -> None:
    kept = KeptConnectionThread("test-kept")
    first_thread, _ = await kept.run(_connection)
    finished: list[str] = []

    def slow() -> None:
        time.sleep(0.2)
        finished.append("slow")

    call = asyncio.ensure_future(kept.run(slow))
    await asyncio.sleep(0.05)
    call.cancel()
    await kept.close()  # waits for the call, then closes in the thread
    assert finished == ["slow"]
    for _ in range(100):
        if not first_thread.is_alive():
            break
        await asyncio.sleep(0.01)
    assert not first_thread.is_alive()
    second_thread, _ = await kept.run(_connection)
    await kept.close()
    assert second_thread is not first_thread


@pytest.mark.skipif(not _on_postgresql(), reason="PostgreSQL only (make test's second pass: DATABASE_URL)")
async def test_a_kept_connection_the_database_ended_is_replaced_on_the_next_call() -> None:
    """A PostgreSQL restart, a failover, an idle timeout: the server ends the backend under
    the kept connection. The call that meets it fails (the periodic job logs it and runs again
    on its next period); the next call connects anew."""
    kept = KeptConnectionThread("test-kept")

    def backend() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return int(cursor.fetchone()[0])

    try:
        first = await kept.run(backend)
        assert await kept.run(backend) == first  # kept

        def terminate() -> None:  # from another connection, as the server's own administrator
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [first])

        await run_orm(terminate)
        with pytest.raises(DatabaseError):
            await kept.run(backend)
        assert await kept.run(backend) != first
    finally:
        await kept.close()


async def test_a_call_timing_out_after_close_began_raises_its_timeout_not_a_scheduling_error() -> None:
    kept = KeptConnectionThread("test-kept", timeout=0.3)
    release = threading.Event()
    call = asyncio.ensure_future(kept.run(release.wait, 5))
    await asyncio.sleep(0.05)
    closing = asyncio.ensure_future(asyncio.to_thread(kept.close_blocking))  # lets the thread go, waits for it
    try:
        with pytest.raises(TimeoutError, match="no answer from the database"):
            await call
    finally:
        release.set()
        await closing
