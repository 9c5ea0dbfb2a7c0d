"""Shadow mode stores its mismatches redacted and replayable; ``parity --from-shadow`` replays them."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django import Settings

from fastapi_gateway.orm import run_orm
from fastapi_gateway.parity.redaction import REDACTED
from fastapi_gateway.parity.reports import FORMATS
from fastapi_gateway.routing.shadow_cases import shadow_cases
from fastapi_gateway.routing.middleware import RoutingMiddleware
from fastapi_gateway.routing.models import ShadowMismatch
from fastapi_gateway.routing.table import set_route_state
from tests.gateway.conftest import client_for, login, running

from .conftest import ROUTE, SentSecrets

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
    settings.GATEWAY = {**settings.GATEWAY, "PARITY_REDACT": ["email"]}
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


async def test_a_shadowed_requests_secrets_never_reach_the_database(shadowed_secrets: SentSecrets) -> None:
    rows = [row async for row in ShadowMismatch.objects.order_by("method").values()]
    assert [(row["route"], row["method"]) for row in rows] == [("api-ticket-detail", "GET"), ("api-ticket-detail", "POST")]
    stored = json.dumps(rows, default=str, ensure_ascii=False)
    for secret in shadowed_secrets.values:
        assert secret not in stored
    for name in shadowed_secrets.names:
        assert name in stored
    masked = REDACTED
    assert rows[0]["path"] == (
        f"/api/tickets/{shadowed_secrets.ticket}/?status=open&access_token={masked}&pass%77ord={masked}&Token={masked}"
        f"&access_token={masked}&next=/tickets/%3Fapi_key%3D{masked}"
    )
    echoed = {d["path"]: d["new"] for d in rows[1]["differences"]}
    assert echoed["$.form"] == {"title": "Printer", "password": masked, "api_key": masked, "csrfmiddlewaretoken": masked}
    assert echoed["$.cookies"] == {"sessionid": masked, "csrftoken": masked, "api_key": masked}
    assert echoed["$.headers"]["x-api-key"] == masked and echoed["$.headers"]["authorization"] == masked
    assert echoed["$.headers"]["referer"] == f"http://testserver/tickets/?password={masked}"
    # The comparator reads a Location's parameters decoded (pass%77ord is password) and sorted.
    assert echoed["header:location"] == (
        f"{{request}}?Token={masked}&access_token={masked}&access_token={masked}&next=/tickets/%3Fapi_key%3D{masked}"
        f"&password={masked}&status=open"
    )


async def test_the_gateways_logs_of_a_shadowed_request_hold_no_secret(shadowed_secrets: SentSecrets) -> None:
    logged = "\n".join(shadowed_secrets.logged)
    assert "shadow comparison of api-tickets failed" in logged and "RuntimeError: upstream refused" in logged
    assert f"?status=open&access_token={REDACTED}&pass%77ord={REDACTED}" in logged
    assert "shadow mismatch on api-ticket-detail" in logged
    for secret in shadowed_secrets.values:
        assert secret not in logged


async def test_replays_of_a_shadowed_request_report_no_secret_in_any_format(
    shadowed_secrets: SentSecrets, build_gateway: Any, tmp_path: Path
) -> None:
    for format_name in FORMATS:
        out, err = io.StringIO(), io.StringIO()
        report = tmp_path / f"replay.{format_name}"

        def command() -> None:
            call_command("parity", "api-ticket-detail", "--from-shadow", "--no-defaults", "--format", format_name,
                         "--output", str(report), stdout=out, stderr=err, app_factory=build_gateway)

        with pytest.raises(CommandError) as failed:
            await anyio.to_thread.run_sync(command)
        assert failed.value.returncode == 1
        shown = report.read_text() + out.getvalue() + err.getvalue()
        assert "access_token=" in shown and "pass%77ord=" in shown and "$.headers" in shown, format_name
        for secret in shadowed_secrets.values:
            assert secret not in shown, (format_name, secret)
        if format_name == "json":
            replayed = json.loads(report.read_text())["cases"][0]
            echoed = {d["path"]: d["new"] for d in replayed["differences"]}
            # The replay carries the runner's own session for alice: its cookie is masked too.
            assert echoed["$.cookies"]["sessionid"] == REDACTED and echoed["$.headers"]["cookie"] == REDACTED
