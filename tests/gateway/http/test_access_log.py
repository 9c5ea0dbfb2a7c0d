"""One JSON access record per request: method, path (query secrets masked), status, duration,
request id, client, side when routed, user id when known; never a cookie or a token."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from django.conf import settings

from fastapi_gateway.http.access_log import ACCESS_LOGGER
from fastapi_gateway.logging import JsonFormatter
from fastapi_gateway.migrated_route import MigratedRoute
from tests.gateway.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def access_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The access records written meanwhile, each parsed from its JSON line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger(ACCESS_LOGGER)
    level, propagate = access.level, access.propagate
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
        access.propagate = propagate


async def test_a_legacy_request_with_secrets_in_its_query(gateway: httpx.AsyncClient, access_lines: Callable[[], list[dict[str, Any]]]) -> None:
    response = await gateway.get("/accounts/login/?next=/tickets/&password=hunter2&api_token=abc123")
    (line,) = access_lines()
    assert line["logger"] == ACCESS_LOGGER and line["level"] == "INFO"
    assert line["method"] == "GET" and line["status"] == 200
    assert line["path"].startswith("/accounts/login/?next=/tickets/&password=")
    assert "hunter2" not in json.dumps(line) and "abc123" not in json.dumps(line)
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["client"] == "127.0.0.1"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert "side" not in line and "user_id" not in line  # not routed; Django resolved its own user


async def test_a_signed_in_api_call_names_the_user_by_id_and_never_the_cookie(
    gateway: httpx.AsyncClient, access_lines: Callable[[], list[dict[str, Any]]], alice: Any, demo_password: str,
) -> None:
    await login(gateway, "alice", demo_password)
    await gateway.get("/api/v2/me", headers={"Authorization": "Bearer not-a-real-token"})
    line = access_lines()[-1]
    assert (line["path"], line["status"], line["user_id"]) == ("/api/v2/me", 200, str(alice.pk))
    written = json.dumps(access_lines())
    assert gateway.cookies[settings.SESSION_COOKIE_NAME] not in written
    assert gateway.cookies[settings.CSRF_COOKIE_NAME] not in written
    assert "not-a-real-token" not in written and "alice" not in written


async def test_a_routed_request_names_the_side_that_served_it(
    gateway_factory: Callable[..., Any], access_lines: Callable[[], list[dict[str, Any]]], settings: Any,
) -> None:
    route = MigratedRoute(name="api-tickets", legacy="/api/tickets/", new="/api/v2/tickets")
    settings.GATEWAY = {**settings.GATEWAY, "ROUTES": [route]}
    async with gateway_factory(migrated_routes=[route]) as client:
        await client.get("/api/tickets/")
    (line,) = access_lines()
    assert (line["path"], line["side"]) == ("/api/tickets/", "legacy")


async def test_nothing_is_built_while_the_access_logger_is_off(gateway: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=ACCESS_LOGGER):
        await gateway.get("/healthz")
    assert not [record for record in caplog.records if record.name == ACCESS_LOGGER]
