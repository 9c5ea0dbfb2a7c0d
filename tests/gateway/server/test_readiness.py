"""``Readiness``: the database, the session store under each engine, the route table and the
start of shutdown; each check time-bound, one at a time, the answer kept a second."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError

from fastapi_gateway.migrated_route import MigratedRoute
from fastapi_gateway.orm import run_orm
from fastapi_gateway.routing.live_table import LiveRouteTable
from fastapi_gateway.server import readiness as readiness_module
from fastapi_gateway.server.readiness import Readiness, database_answers, session_store_answers
from fastapi_gateway.server.shutdown import ShutdownWatch
from tests.gateway.identity.session_engines import _forget_file_storage_path

pytestmark = pytest.mark.django_db(transaction=True)

ENGINES = ["db", "cache", "cached_db", "file", "signed_cookies"]


def _readiness(**kwargs: Any) -> Readiness:
    kwargs.setdefault("shutdown", ShutdownWatch())
    return Readiness(**kwargs)


async def test_ready_when_the_database_and_the_session_store_answer() -> None:
    report = await _readiness().report()
    assert report.ready
    assert report.as_json() == {"status": "ready", "checks": {"database": "ok", "session_store": "ok", "route_table": "ok"}}


@pytest.mark.parametrize("engine", ENGINES)
async def test_each_session_engines_store_is_asked(engine: str, settings: Any, tmp_path: Path) -> None:
    settings.SESSION_ENGINE = f"django.contrib.sessions.backends.{engine}"
    settings.SESSION_FILE_PATH = str(tmp_path)
    _forget_file_storage_path()
    await run_orm(session_store_answers)  # raises if its store does not answer


@pytest.mark.parametrize("engine", ["cache", "cached_db"])
async def test_a_cache_session_store_that_is_down_is_not_ready(engine: str, settings: Any) -> None:
    settings.SESSION_ENGINE = f"django.contrib.sessions.backends.{engine}"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
    report = await _readiness().report()
    assert not report.ready and report.status == "unavailable"
    assert report.checks == {"database": "ok", "session_store": "ConnectionError", "route_table": "ok"}


async def test_a_file_session_store_needs_its_directory(settings: Any, tmp_path: Path) -> None:
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.file"
    settings.SESSION_FILE_PATH = str(tmp_path / "gone")
    _forget_file_storage_path()
    assert (await _readiness().report()).checks["session_store"] == "ImproperlyConfigured"
    if os.geteuid() != 0:  # root may write anywhere
        settings.SESSION_FILE_PATH = str(tmp_path)
        _forget_file_storage_path()
        tmp_path.chmod(0o500)
        try:
            assert (await _readiness().report()).checks["session_store"] == "PermissionError"
        finally:
            tmp_path.chmod(0o700)


async def test_a_failing_database_is_named_by_its_error_class_only(monkeypatch: pytest.MonkeyPatch) -> None:
    class BrokenConnection:
        def cursor(self) -> Any:
            raise OperationalError('connection to server failed: password authentication failed for user "desk" (password=s3cret)')

    monkeypatch.setattr(readiness_module, "connection", BrokenConnection())
    report = await _readiness().report()
    assert report.as_json() == {"status": "unavailable", "checks": {"database": "OperationalError", "session_store": "ok", "route_table": "ok"}}


async def test_routes_declared_but_their_table_not_loaded_is_not_ready() -> None:
    table = LiveRouteTable([MigratedRoute(name="api-tickets", legacy="/api/tickets/", new="/api/v2/tickets")])
    assert (await _readiness(route_table=table).report()).checks["route_table"] == "not loaded yet"
    await table.refresh()
    assert (await _readiness(route_table=table).report()).ready
    assert (await _readiness(route_table=LiveRouteTable([])).report()).ready  # nothing to load


async def test_shutdown_turns_it_503_at_once_whatever_was_cached() -> None:
    shutdown = ShutdownWatch()
    readiness = _readiness(shutdown=shutdown, cache_seconds=60)
    assert (await readiness.report()).ready
    shutdown.begin("SIGTERM received")
    report = await readiness.report()
    assert report.as_json() == {"status": "shutting down", "checks": {"shutdown": "SIGTERM received"}}


async def test_a_hung_check_answers_within_the_timeout_and_is_never_started_twice() -> None:
    release = threading.Event()
    calls: list[float] = []

    def hung_database() -> None:
        calls.append(time.monotonic())
        release.wait(10)

    readiness = _readiness(checks={"database": hung_database}, timeout=0.2, cache_seconds=0)
    started = time.monotonic()
    report = await readiness.report()
    assert time.monotonic() - started < 1
    assert report.checks == {"database": "no answer within 0.2 s", "route_table": "ok"}
    assert (await readiness.report()).checks["database"] == "no answer within 0.2 s"
    assert len(calls) == 1  # the second probe waited on the same hung call
    hung = readiness._in_thread["database"]
    release.set()
    await asyncio.wait_for(asyncio.shield(hung), 10)  # it ends, and is let go (its callback ran first)
    assert "database" not in readiness._in_thread
    assert (await readiness.report()).ready
    assert len(calls) == 2


async def test_a_storm_of_probes_costs_one_check_a_second() -> None:
    calls: list[int] = []

    def counted() -> None:
        calls.append(1)
        time.sleep(0.05)

    readiness = _readiness(checks={"database": counted}, cache_seconds=0.5)
    reports = await asyncio.gather(*(readiness.report() for _ in range(50)))
    assert all(report.ready for report in reports)
    for _ in range(20):
        assert (await readiness.report()).ready
    assert len(calls) == 1
    await asyncio.sleep(0.6)
    await readiness.report()
    assert len(calls) == 2


def test_the_database_check_is_a_select() -> None:
    database_answers()
