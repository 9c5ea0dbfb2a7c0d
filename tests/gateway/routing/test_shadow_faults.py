"""Shadow mode under faults: exact counts when comparisons race, quiet logs when a store is down.

The race is two real threads, each on its own database connection, that both find no row
for a new mismatch before either inserts one (held together at Django's ``pre_save``, the
moment between the count attempt and the insert). The outages are real too: the session
store (Redis) and, on PostgreSQL, the database are reached through a TCP forwarder the test
cuts, so connections are refused and dropped, and restores.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import caches
from django.db import connection, connections
from django.db.models.signals import pre_save
from prometheus_client import REGISTRY

from fastapi_gateway.parity.compare import Difference
from fastapi_gateway.routing import shadow
from fastapi_gateway.routing.middleware import RoutingMiddleware
from fastapi_gateway.routing.models import ShadowMismatch
from fastapi_gateway.routing.replay import Answer
from fastapi_gateway.routing.shadow import ShadowJob, ShadowRunner, _record_mismatch
from tests.e2e.tcp_proxy import TcpProxy
from tests.gateway.conftest import login

from .conftest import FAULTY_ROUTES, Gateway

pytestmark = pytest.mark.django_db(transaction=True)

FAULTY = {route.name: route for route in FAULTY_ROUTES}
REDIS = urlsplit(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
REDIS_DB = 14  # the session engines' tests flush 15, the end-to-end outage test 13
OUTAGE = "shadow comparisons failing"
RECOVERED = "shadow comparisons succeed again"


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _errors(route: str) -> float:
    return metric("gateway_shadow_comparisons_total", route=route, result="error")


# -- two comparisons of one new mismatch --------------------------------------------------


async def _unused_app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("storing a mismatch calls no app")


def _mismatch_job() -> ShadowJob:
    scope = {
        "type": "http", "method": "GET", "path": "/faulty/wrong-tickets", "query_string": b"status=open", "headers": [],
        "gateway.legacy_path": "/api/tickets/", "user": AnonymousUser(),
    }
    legacy = Answer(200, {"content-type": "application/json"}, [(b"content-type", b"application/json")], b'[{"title": "a"}]')
    return ShadowJob(_unused_app, FAULTY["wrong"], scope, b"", legacy)


@pytest.fixture
def deferred_sqlite_transactions() -> Iterator[None]:
    """On SQLite, transactions as SQLite begins them by default (deferred). The example asks
    for ``BEGIN IMMEDIATE``, which serialises writers from the start of a transaction: the
    race below (both threads past their update, one inside its insert's transaction) cannot
    happen there, and the shared in-memory test database answers "table is locked" instead of
    waiting. Other backends: nothing changes."""
    options = connections.settings["default"].get("OPTIONS", {})
    mode = options.pop("transaction_mode", None) if connection.vendor == "sqlite" else None
    try:
        yield
    finally:
        if mode is not None:
            options["transaction_mode"] = mode


@pytest.mark.usefixtures("deferred_sqlite_transactions")
def test_two_comparisons_of_the_same_new_mismatch_both_count() -> None:
    """Both threads count on no row (0 updated), then both insert: one insert wins, the other
    hits the unique constraint for real and counts on the winner's row: 2, and no error.

    On PostgreSQL the two inserts really run at once (the second waits on the first's
    transaction, then fails). SQLite refuses a second writer outright (``table is locked``,
    another error), so there the loser inserts once the winner is done, still having found
    no row to count on."""
    job = _mismatch_job()
    new = Answer(200, {"content-type": "application/json"}, [(b"content-type", b"application/json")], b'[{"title": "b"}]')
    differences = [Difference("$[0].title", "a", "b")]
    both_found_no_row = threading.Barrier(2, timeout=10)
    first_done = threading.Event()
    serial = connection.vendor == "sqlite"
    inserts: list[str] = []
    errors: list[BaseException] = []

    def before_insert(sender: type[ShadowMismatch], **kwargs: Any) -> None:
        inserts.append(threading.current_thread().name)
        both_found_no_row.wait()
        if serial and threading.current_thread().name == "second":
            assert first_done.wait(timeout=10)

    def compare(name: str) -> None:
        try:
            _record_mismatch(job, new, differences)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
            both_found_no_row.abort()
        finally:
            connections.close_all()
            if name == "first":
                first_done.set()

    pre_save.connect(before_insert, sender=ShadowMismatch, weak=False)
    try:
        threads = [threading.Thread(target=compare, args=(name,), name=name) for name in ("first", "second")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
    finally:
        pre_save.disconnect(before_insert, sender=ShadowMismatch)
    assert errors == []
    assert sorted(inserts) == ["first", "second"], "both comparisons found no row and tried to insert"
    row = ShadowMismatch.objects.get(route="wrong")
    assert row.count == 2
    assert row.path == "/api/tickets/?status=open" and [d["path"] for d in row.differences] == ["$[0].title"]


def test_an_insert_that_breaks_another_rule_is_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The retry counts on the row a concurrent comparison made; with no such row the
    ``IntegrityError`` was something else, and it is raised, not lost."""
    from django.db import IntegrityError

    def refuse(**kwargs: Any) -> None:
        raise IntegrityError("NOT NULL constraint failed: routing_shadowmismatch.method")

    monkeypatch.setattr(ShadowMismatch.objects, "create", refuse)
    with pytest.raises(IntegrityError, match="NOT NULL"):
        _record_mismatch(_mismatch_job(), None, [Difference("status", 200, 500)])
    assert not ShadowMismatch.objects.exists()


# -- outages ----------------------------------------------------------------------------


@pytest.fixture
def redis_proxy(settings: Any) -> Iterator[TcpProxy]:
    """Sessions in Redis (the ``cache`` engine), reached through a forwarder the test can cut."""
    proxy = TcpProxy(REDIS.hostname or "127.0.0.1", REDIS.port or 6379)
    proxy.start()
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{proxy.port}/{REDIS_DB}",
        }
    }
    try:
        yield proxy
    finally:
        if proxy._server is None:  # cut by a test that failed mid-outage: the sessions are flushed through it
            proxy.start()
        try:
            caches["default"].clear()
        finally:
            proxy.close()


def _runner(gateway: Gateway) -> ShadowRunner:
    stack: Any = gateway.app.middleware_stack
    while not isinstance(stack, RoutingMiddleware):
        stack = stack.app
    return stack.shadow


async def _shadowed(gateway: Gateway, client: httpx.AsyncClient, times: int) -> None:
    """Send ``times`` requests to the shadowed URL and wait until each one's comparison ran."""
    runner = _runner(gateway)
    target = runner.completed + times
    for _ in range(times):
        response = await client.get("/api/tickets/")
        assert response.headers["x-served-by"] == "legacy"
    for _ in range(1500):
        if runner.completed >= target:
            return
        assert not runner.dropped_busy, "a comparison never found a quiet moment"
        await asyncio.sleep(0.01)
    raise AssertionError(f"{target - runner.completed} shadow comparisons never ran")


@pytest.fixture
async def alice_shadowed(request: pytest.FixtureRequest, gateway_with: Any, demo_password: str) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    """A gateway with one faulty route (``wrong`` unless the test's parameter names another)
    in shadow, and alice logged in. Started here, not in the test: starting the legacy side
    runs ``django.setup()``, whose logging configuration drops the handler ``caplog`` has
    put on the root logger for the test. (A test that asks for ``redis_proxy`` first gets
    its sessions in Redis.)"""
    route = getattr(request, "param", "wrong")
    async with gateway_with(FAULTY[route]) as gateway:
        async with gateway.client() as client:
            await login(client, "alice", demo_password)
            await gateway.flip(route, "shadow")
            yield gateway, client


def _shadow_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What the shadow runner logged (its logger is the route table's too)."""
    return [r for r in caplog.records
            if r.name == "fastapi_gateway.routing" and r.levelno >= logging.INFO and r.getMessage().startswith("shadow")]


def _tracebacks(records: list[logging.LogRecord]) -> list[str]:
    return [record.getMessage() for record in records if record.exc_info]


async def test_a_session_store_outage_is_one_line_and_its_end_another(
    redis_proxy: TcpProxy, alice_shadowed: tuple[Gateway, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    gateway, client = alice_shadowed
    runner = _runner(gateway)
    runner.failures.quiet = 0.2
    await _shadowed(gateway, client, 1)
    healthy = await ShadowMismatch.objects.aget(route="wrong")  # compared and stored

    caplog.set_level(logging.DEBUG, logger="fastapi_gateway.routing")
    caplog.clear()
    errors = _errors("wrong")
    redis_proxy.stop()
    await _shadowed(gateway, client, 50)
    during = _shadow_lines(caplog)
    assert _errors("wrong") == errors + 50, "each failed comparison is still counted"
    assert len(during) == 1 and during[0].levelno == logging.WARNING, [r.getMessage() for r in during]
    line = during[0].getMessage()
    assert line.startswith(f"{OUTAGE}: the database or session store is unreachable (") and "ConnectionError" in line
    assert line.endswith(", on wrong); counted as errors, one line again when they succeed")
    assert _tracebacks(during) == []

    caplog.clear()
    redis_proxy.start()
    # The end is the first success ``quiet`` seconds after the last failure. A comparison can
    # still fail as the store comes back (a connection the outage broke, found broken once
    # more), which moves the end on: send more until it comes, each failure logged at DEBUG.
    compared = 0
    for _ in range(10):
        await asyncio.sleep(runner.failures.quiet)
        await _shadowed(gateway, client, 3)
        compared += 3
        if runner.failures.outage_since is None:
            break
    after = _shadow_lines(caplog)
    ends = [r.getMessage() for r in after if r.getMessage().startswith((OUTAGE, RECOVERED))]
    failed_later = [r.getMessage() for r in caplog.records
                    if r.name == "fastapi_gateway.routing" and r.getMessage().startswith("shadow comparison of wrong failed in the outage")]
    assert len(ends) == 1, (ends, failed_later)
    end = re.fullmatch(rf"{RECOVERED}: the outage lasted \d+\.\d s, (\d+) comparisons failed", ends[0])
    assert end is not None, ends
    assert int(end[1]) == 50 + len(failed_later) and _errors("wrong") == errors + int(end[1]), (ends, failed_later)
    assert len(failed_later) < compared, "the comparisons succeed again"
    assert _tracebacks(after) == []
    # Each comparison that succeeded is one more sighting of a mismatch (the route's new side
    # is wrong): counted on the row stored before the outage. (A legacy thread whose
    # connection to the store broke in the outage and was not used since finds it broken once
    # more, and Django takes that request's session for empty, as under gunicorn: its
    # comparison differs in another way, stored on a row of its own. Each such thread does it once.)
    rows = [row async for row in ShadowMismatch.objects.filter(route="wrong")]
    assert sum(row.count for row in rows) == 1 + compared - len(failed_later), [(r.legacy_status, r.count) for r in rows]
    assert next(row for row in rows if row.pk == healthy.pk).count > 1, "counted on its row again"
    assert all(row.legacy_status == 401 for row in rows if row.pk != healthy.pk), [(r.legacy_status, r.new_status) for r in rows]


async def test_comparisons_that_need_no_store_do_not_end_an_outage(
    redis_proxy: TcpProxy, alice_shadowed: tuple[Gateway, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    """An anonymous visitor's comparison needs no session, so it succeeds in the middle of a
    Redis outage; the log does not flap with the mix of traffic."""
    gateway, alice = alice_shadowed
    _runner(gateway).failures.quiet = 30.0
    caplog.set_level(logging.INFO, logger="fastapi_gateway.routing")
    errors, differ = _errors("wrong"), metric("gateway_shadow_comparisons_total", route="wrong", result="differ")
    redis_proxy.stop()
    async with gateway.client() as anonymous:
        for _ in range(10):
            await _shadowed(gateway, alice, 2)
            await _shadowed(gateway, anonymous, 1)
    assert _errors("wrong") == errors + 20
    assert metric("gateway_shadow_comparisons_total", route="wrong", result="differ") == differ + 10  # the anonymous ones
    logged = _shadow_lines(caplog)
    assert [r.getMessage()[: len(OUTAGE)] for r in logged if r.getMessage().startswith((OUTAGE, RECOVERED))] == [OUTAGE]
    assert _tracebacks(logged) == []


def _on_postgresql() -> bool:
    return os.environ.get("DATABASE_URL", "").split(":", 1)[0] in ("postgres", "postgresql")


@pytest.mark.skipif(not _on_postgresql(), reason="PostgreSQL only (make test's second pass: DATABASE_URL)")
async def test_a_database_outage_is_one_line_and_its_end_another(
    alice_shadowed: tuple[Gateway, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    """The database, sessions included, behind a forwarder that is cut: the new side cannot
    find the user, nor the comparison store its mismatch. Every connection opened from the
    switch on goes through it (``run_orm`` closes its connections after each call)."""
    gateway, client = alice_shadowed
    runner = _runner(gateway)
    runner.failures.quiet = 0.2
    database = connections.settings["default"]
    port = database["PORT"]
    proxy = TcpProxy(database["HOST"] or "127.0.0.1", int(port or 5432))
    proxy.start()
    database["PORT"] = proxy.port
    try:
        await _shadowed(gateway, client, 1)
        caplog.set_level(logging.INFO, logger="fastapi_gateway.routing")
        caplog.clear()
        errors = _errors("wrong")
        proxy.stop()
        await _shadowed(gateway, client, 50)
        during = _shadow_lines(caplog)
        assert _errors("wrong") == errors + 50
        assert len(during) == 1 and during[0].getMessage().startswith(OUTAGE), [r.getMessage() for r in during]
        assert "OperationalError" in during[0].getMessage() and _tracebacks(during) == []

        caplog.clear()
        proxy.start()
        await asyncio.sleep(runner.failures.quiet)
        await _shadowed(gateway, client, 2)
        after = _shadow_lines(caplog)
        assert [r.getMessage()[: len(RECOVERED)] for r in after if r.getMessage().startswith((OUTAGE, RECOVERED))] == [RECOVERED]
        assert _tracebacks(after) == []
    finally:
        database["PORT"] = port
        proxy.close()


@pytest.mark.parametrize("alice_shadowed", ["raises"], indirect=True)
async def test_a_bug_keeps_its_traceback_though_not_one_per_comparison(
    alice_shadowed: tuple[Gateway, httpx.AsyncClient], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway, client = alice_shadowed
    caplog.set_level(logging.INFO, logger="fastapi_gateway.routing")
    monkeypatch.setattr(shadow, "_TRACEBACK_EVERY_SECONDS", 3600.0)
    errors = _errors("raises")
    await _shadowed(gateway, client, 5)
    monkeypatch.setattr(shadow, "_TRACEBACK_EVERY_SECONDS", 0.0)  # the interval is over
    await _shadowed(gateway, client, 1)
    assert _errors("raises") == errors + 6
    logged = _shadow_lines(caplog)
    assert _tracebacks(logged) == [
        "shadow comparison of raises failed",
        "shadow comparison of raises failed (4 more like it since the last traceback)",
    ]
    assert all("RuntimeError: the new handler is broken" in (r.exc_text or "") for r in logged if r.exc_info)
    assert not any(r.getMessage().startswith((OUTAGE, RECOVERED)) for r in logged)
