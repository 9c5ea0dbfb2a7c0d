"""PostgreSQL or Redis unreachable: a clear 503 everywhere, then recovery without a restart.

The gateway reaches both through TCP forwarders the test cuts and restores, so the outage
is real (connections refused and dropped), and so is the recovery.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from .conftest import GatewayServer, running_gateway
from .tcp_proxy import TcpProxy

pytestmark = pytest.mark.e2e

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
REDIS_DB = 13


def _psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc", sql], check=True, capture_output=True)


@pytest.fixture(scope="module")
def proxies() -> Iterator[tuple[TcpProxy, TcpProxy]]:
    postgres, redis = TcpProxy("127.0.0.1", 5432), TcpProxy("127.0.0.1", 6379)
    postgres.start()
    redis.start()
    yield postgres, redis
    postgres.close()
    redis.close()


@pytest.fixture(scope="module")
def server(proxies: tuple[TcpProxy, TcpProxy], tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    postgres, redis = proxies
    database = f"outage_{secrets.token_hex(4)}"
    _psql(f"CREATE DATABASE {database}")
    subprocess.run(["redis-cli", "-n", str(REDIS_DB), "flushdb"], check=True, capture_output=True)
    try:
        with running_gateway(
            tmp_path_factory.mktemp("outage"),
            DATABASE_URL=f"postgres://postgres@127.0.0.1:{postgres.port}/{database}",
            REDIS_URL=f"redis://127.0.0.1:{redis.port}/{REDIS_DB}",
            DJANGO_SESSION_ENGINE="django.contrib.sessions.backends.cache",
        ) as gateway:
            yield gateway
    finally:
        _psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        subprocess.run(["redis-cli", "-n", str(REDIS_DB), "flushdb"], check=False, capture_output=True)


@pytest.fixture(scope="module")
def alice(server: GatewayServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=15) as client:
        token = _CSRF.search(client.get("/accounts/login/").text)
        assert token
        client.post("/accounts/login/", data={"username": "alice", "password": "demo-password", "csrfmiddlewaretoken": token.group(1)})
        yield client


def _answers(client: httpx.Client) -> dict[str, int]:
    return {
        path: client.get(path, headers={"Accept": "application/json"}).status_code
        for path in ("/api/v2/me", "/ui/tickets/config", "/tickets/", "/api/tickets/")
    }


HEALTHY = {"/api/v2/me": 200, "/ui/tickets/config": 200, "/tickets/": 200, "/api/tickets/": 200}
DOWN = {"/api/v2/me": 503, "/ui/tickets/config": 503, "/tickets/": 503, "/api/tickets/": 503}


@pytest.mark.parametrize("service", ["redis", "postgres"])
def test_outage_answers_503_and_recovers(proxies: tuple[TcpProxy, TcpProxy], alice: httpx.Client, service: str) -> None:
    proxy = proxies[0] if service == "postgres" else proxies[1]
    assert _answers(alice) == HEALTHY
    proxy.stop()
    try:
        started = time.monotonic()
        assert _answers(alice) == DOWN
        assert time.monotonic() - started < 10, "an outage must be answered, not hung on"
        response = alice.get("/api/v2/me")
        assert response.headers["retry-after"] == "5"
        assert "temporarily unavailable" in response.json()["detail"]
        legacy = alice.get("/tickets/")
        assert legacy.headers["retry-after"] == "5" and "temporarily unavailable" in legacy.text
    finally:
        proxy.start()
    # Back without a restart, and still logged in: an outage is not a logout.
    deadline = time.monotonic() + 10
    while _answers(alice) != HEALTHY:
        assert time.monotonic() < deadline, _answers(alice)
        time.sleep(0.2)
    assert alice.get("/api/v2/me").json()["username"] == "alice"
