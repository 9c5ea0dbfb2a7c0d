"""The adapter over every session engine, against real Redis (and PostgreSQL in CI's second pass).

For each engine: Django's real ``login()`` makes the session; the adapter must resolve the
same user Django would, refuse what Django would refuse, and leave the storage untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.core.cache import caches
from django.test import Client

from fastapi_gateway.identity.session import resolve_user

from .session_engines import ENGINES, Engine

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=ENGINES, ids=[engine.name for engine in ENGINES])
def engine(request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> Engine:
    engine: Engine = request.param
    engine.configure(settings, tmp_path)
    if engine.cache:
        caches["default"].clear()
    return engine


def log_in(user: AbstractUser) -> tuple[str, str]:
    """(session key, cookie value) of a session made by Django's own login."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    return client.session.session_key or cookie, cookie


def test_valid_session(engine: Engine, alice: AbstractUser) -> None:
    key, cookie = log_in(alice)
    before = engine.snapshot(key, cookie)
    assert resolve_user(cookie).get_username() == "alice"
    assert engine.snapshot(key, cookie) == before


def test_tampered_session_is_anonymous(engine: Engine, alice: AbstractUser) -> None:
    key, cookie = log_in(alice)
    cookie = engine.tamper(key, cookie)
    before = engine.snapshot(key, cookie)
    assert not resolve_user(cookie).is_authenticated
    assert engine.snapshot(key, cookie) == before


def test_expired_session_is_anonymous_and_left_alone(engine: Engine, alice: AbstractUser, settings: Any) -> None:
    key, cookie = log_in(alice)
    cookie = engine.expire(key, cookie, settings)
    before = engine.snapshot(key, cookie)
    assert not resolve_user(cookie).is_authenticated
    # The file engine deletes an expired session and writes a new one while loading it;
    # the adapter's store ignores writes, so nothing changes on disk.
    assert engine.snapshot(key, cookie) == before


@pytest.mark.parametrize("change", ["password", "inactive"])
def test_password_change_and_deactivation(engine: Engine, alice: AbstractUser, change: str) -> None:
    key, cookie = log_in(alice)
    before = engine.snapshot(key, cookie)
    if change == "password":
        alice.set_password("changed-elsewhere")
    else:
        alice.is_active = False
    alice.save()
    assert not resolve_user(cookie).is_authenticated
    assert engine.snapshot(key, cookie) == before, "get_user() would flush; the adapter must not"


def test_key_rotation_keeps_sessions_as_long_as_django_does(engine: Engine, alice: AbstractUser, settings: Any) -> None:
    old, new = "old-secret-" + "o" * 40, "new-secret-" + "n" * 40
    settings.SECRET_KEY = old
    key, cookie = log_in(alice)
    before = engine.snapshot(key, cookie)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = new, [old]
    assert resolve_user(cookie).get_username() == "alice"
    assert engine.snapshot(key, cookie) == before, "get_user() would cycle the key; the adapter must not"
    settings.SECRET_KEY_FALLBACKS = []
    assert not resolve_user(cookie).is_authenticated


@pytest.mark.parametrize("cookie", ["", "x", "a" * 32, "../" * 12, "é" * 40, "a:b:c", "." * 80])
def test_garbage_cookies(engine: Engine, db: None, cookie: str) -> None:
    assert not resolve_user(cookie).is_authenticated


def _django_middleware_queries(cookie: str) -> int:
    """Queries Django's own SessionMiddleware + AuthenticationMiddleware make to find the user."""
    from django.contrib.auth.middleware import AuthenticationMiddleware
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.db import connection
    from django.http import HttpResponse
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    request = RequestFactory().get("/", HTTP_COOKIE=f"sessionid={cookie}")
    with CaptureQueriesContext(connection) as queries:
        SessionMiddleware(lambda r: HttpResponse()).process_request(request)
        AuthenticationMiddleware(lambda r: HttpResponse()).process_request(request)
        assert request.user.is_authenticated
    return len(queries)


def test_no_database_round_trip_django_would_not_make(engine: Engine, alice: AbstractUser) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _, cookie = log_in(alice)
    expected = _django_middleware_queries(cookie)
    with CaptureQueriesContext(connection) as queries:
        assert resolve_user(cookie).is_authenticated
    assert len(queries) == expected, [query["sql"] for query in queries]


@pytest.mark.parametrize("engine", [e for e in ENGINES if e.cache], ids=lambda e: e.name, indirect=True)
async def test_worker_threads_keep_their_redis_connection_like_a_wsgi_thread(
    engine: Engine, gateway_factory: Any, demo_password: str, alice: AbstractUser
) -> None:
    """Each lookup used to run in a fresh copy of the caller's context, where Django's
    ``caches`` (an asgiref Local) is empty: a new RedisCache, pool and TCP connect per request.
    A gateway's threads keep theirs for their lifetime, as gunicorn's do."""
    import redis
    from redis.connection import Connection

    from tests.gateway.conftest import login
    from .session_engines import REDIS_URL

    opened = 0
    connect = Connection._connect

    def counting(connection: Any) -> Any:  # every TCP connect of this process, closed since or not
        nonlocal opened
        opened += 1
        return connect(connection)

    async with gateway_factory() as client:
        await login(client, "alice", demo_password)
        Connection._connect = counting  # type: ignore[method-assign]  # in process: a run beside it is not counted
        try:
            for _ in range(25):
                assert (await client.get("/api/v2/me")).json()["username"] == "alice"  # the adapter, via run_orm
                assert (await client.get("/tickets/")).status_code == 200  # Django's SessionMiddleware, via the bridge
            counted = opened
            with redis.Redis.from_url(REDIS_URL) as probe:  # the count sees a new connection
                probe.ping()
            assert opened == counted + 1
            opened = counted
        finally:
            Connection._connect = connect  # type: ignore[method-assign]
    # One per worker thread that ran a lookup (the bridge has 4, anyio's pool reuses its idle ones).
    assert opened <= 8, f"{opened} Redis connections for 50 requests"
