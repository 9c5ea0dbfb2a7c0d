"""Shadow mode stores its mismatches redacted and replayable; ``parity --from-shadow`` replays them."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import anyio.to_thread
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django import Settings

from fastapi_gateway.orm import run_orm
from fastapi_gateway.parity.shadow_cases import shadow_cases
from fastapi_gateway.routing.middleware import RoutingMiddleware
from fastapi_gateway.routing.models import ShadowMismatch
from fastapi_gateway.routing.table import set_route_state
from tests.gateway.conftest import client_for, login, running

from .conftest import ROUTE

pytestmark = pytest.mark.django_db(transaction=True)

SECRETS = ("legacy-token-4b1d", "new-token-7c2a", "alice@legacy.example", "alice@new.example", "legacy-cookie-9f8e", "new-cookie-3e4f")


async def _shadowed(build_gateway: Any, route_name: str, path: str, demo_password: str, times: int = 1) -> None:
    """Put the route in shadow, send ``path`` as alice ``times`` times, wait for the comparisons."""
    await run_orm(set_route_state, route_name, "shadow", reason="test")
    app = build_gateway(migrated_routes=[ROUTE[route_name]], route_poll_seconds=0.05)
    async with running(app), client_for(app) as client:
        await login(client, "alice", demo_password)
        for _ in range(times):
            response = await client.get(path)
            assert response.headers["x-served-by"] == "legacy"
        node: Any = app.middleware_stack
        while not isinstance(node, RoutingMiddleware):
            node = node.app
        for _ in range(200):
            if node.shadow.completed >= times:
                return
            await asyncio.sleep(0.02)
    raise AssertionError("the shadow comparison never ran")


async def test_mismatches_are_stored_redacted_deduplicated_with_their_query(
    parity_routes: Any, build_gateway: Any, settings: Settings, demo_password: str
) -> None:
    settings.GATEWAY_PARITY_REDACT = ["email"]
    await _shadowed(build_gateway, "secrets", "/parity-legacy/secrets/?page=2", demo_password, times=2)
    record = await ShadowMismatch.objects.aget(route="secrets")
    assert record.count == 2 and record.path == "/parity-legacy/secrets/?page=2"
    # Cookies are not compared in shadow: the routing layer keeps legacy headers as a dict.
    # Cookies are compared in shadow mode too (by name and flags, never by value).
    assert {d["path"] for d in record.differences} == {
        "$.email", "$.token", "cookie:remember_me@httponly", "cookie:remember_me@samesite"
    }
    stored = " ".join([str(record.differences), record.legacy_body, record.new_body])
    for secret in SECRETS:
        assert secret not in stored
    assert '"status": "ok"' in record.legacy_body  # what is not secret is kept


async def test_recorded_mismatches_replay_as_cases(parity_routes: Any, build_gateway: Any, runner_with: Any, demo_password: str) -> None:
    await _shadowed(build_gateway, "wrong-tickets", "/api/tickets/?status=open", demo_password)
    # Replayed as the user who made the request (alice), not as every sample user.
    cases, warnings = await run_orm(shadow_cases, [ROUTE["wrong-tickets"]], ["bob"])
    assert warnings == []
    assert [(case.user, case.legacy, case.new) for case in cases] == [
        ("alice", "/api/tickets/?status=open", "/parity-v2/wrong-tickets?status=open"),
    ]
    async with runner_with() as runner:
        report = await runner.run(cases)
    assert [(case.outcome, case.fields()) for case in report.cases] == [("differ", ["$[0].title"])]


async def test_mismatches_of_unknown_or_deleted_users_replay_as_the_sample_users(
    parity_routes: Any, build_gateway: Any, demo_password: str
) -> None:
    await _shadowed(build_gateway, "wrong-tickets", "/api/tickets/?status=open", demo_password)
    record = await ShadowMismatch.objects.aget(route="wrong-tickets")
    assert record.username == "alice"
    everyone = [("bob", "/api/tickets/?status=open"), (None, "/api/tickets/?status=open")]

    record.username = None  # a row recorded before the user was kept
    await record.asave()
    cases, warnings = await run_orm(shadow_cases, [ROUTE["wrong-tickets"]], ["bob"])
    assert [(case.user, case.legacy) for case in cases] == everyone and warnings == []

    record.username = "someone-deleted"
    await record.asave()
    cases, warnings = await run_orm(shadow_cases, [ROUTE["wrong-tickets"]], ["bob"])
    assert [(case.user, case.legacy) for case in cases] == everyone
    assert warnings == [f"wrong-tickets: shadow #{record.pk} (seen 1×) was seen as 'someone-deleted', who no longer exists; "
                        "replayed as the sample users"]

    record.username = ""  # an anonymous visitor's request
    await record.asave()
    cases, _ = await run_orm(shadow_cases, [ROUTE["wrong-tickets"]], ["bob"])
    assert [(case.user, case.legacy) for case in cases] == [(None, "/api/tickets/?status=open")]


async def test_parity_from_shadow_exits_1_naming_the_field(parity_routes: Any, build_gateway: Any, demo_password: str) -> None:
    await _shadowed(build_gateway, "wrong-tickets", "/api/tickets/", demo_password)
    out, err = io.StringIO(), io.StringIO()

    def command() -> None:
        call_command("parity", "wrong-tickets", "--from-shadow", "--no-defaults", "--user", "alice",
                     stdout=out, stderr=err, app_factory=build_gateway)

    with pytest.raises(CommandError) as failed:
        await anyio.to_thread.run_sync(command)  # the command runs its own event loop
    assert failed.value.returncode == 1
    assert "DIFFER  wrong-tickets · shadow #" in out.getvalue() and "$[0].title" in out.getvalue()
