"""``fastapi_gateway.orm``: ORM work off the event loop, and the worker threads' test connections closed."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections

from fastapi_gateway.orm import closing_worker_connections, run_orm

pytestmark = pytest.mark.django_db(transaction=True)


def _open_a_connection(into: dict[str, Any]) -> None:
    wrapper = connections["default"]  # this thread's own
    wrapper.ensure_connection()
    into["wrapper"], into["database"] = wrapper, wrapper.connection


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
