"""The runner against a real gateway: real sessions, Django on the legacy URL, the new handler on
the new URL, noise told from differences, unsafe cases rolled back."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from django.conf import settings

from fastapi_gateway.orm import run_orm
from fastapi_gateway.parity.cases import HttpCase
from fastapi_gateway.parity.determinism import Determinism
from fastapi_gateway.parity.redaction import REDACTED
from fastapi_gateway.parity.runner import ParityRunner
from fastapi_gateway.routing.table import set_route_state
from legacy_django.tickets.models import Ticket

from .conftest import ROUTE

pytestmark = pytest.mark.django_db(transaction=True)

FROZEN = datetime(2031, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


def case(route: str, legacy: str, new: str, user: str | None = "alice", **kwargs: Any) -> HttpCase:
    return HttpCase(name=f"{route} test", legacy=legacy, new=new, route=route, user=user, **kwargs)


async def test_the_bundled_api_agrees_for_lists_filters_and_details(runner: ParityRunner) -> None:
    pk = await Ticket.objects.filter(owner__username="alice").values_list("pk", flat=True).afirst()
    report = await runner.run([
        case("api-tickets", "/api/tickets/?status=open", "/api/v2/tickets?status=open"),
        case("api-tickets", "/api/tickets/", "/api/v2/tickets", user="admin"),
        case("api-ticket-detail", f"/api/tickets/{pk}/", f"/api/v2/tickets/{pk}"),
        case("api-ticket-detail", f"/api/tickets/{pk}/", f"/api/v2/tickets/{pk}", user="bob"),  # 404 on both
        case("api-tickets", "/api/tickets/", "/api/v2/tickets", user=None),  # 401 on both
    ])
    assert [result.outcome for result in report.cases] == ["agree"] * 5
    assert [result.legacy.status for result in report.cases if result.legacy] == [200, 200, 200, 404, 401]
    assert report.exit_code == 0


async def test_a_wrong_new_handler_is_caught_with_the_exact_field_named(runner: ParityRunner) -> None:
    result = await runner.run_case(case("wrong-tickets", "/api/tickets/", "/parity-v2/wrong-tickets"))
    assert result.outcome == "differ"
    assert result.fields() == ["$[0].title"]
    [difference] = result.differences
    assert difference.new == difference.legacy + " (v2)"
    assert result.legacy is not None and result.legacy.status == 200


async def test_parity_reaches_django_whatever_state_the_route_is_in(runner_with: Any, build_gateway: Any) -> None:
    """With the route in `new`, the gateway serves the legacy URL from the new handler; parity
    must still compare Django with it, not the new handler with itself."""
    await run_orm(set_route_state, "wrong-tickets", "new", reason="test")
    app = build_gateway(migrated_routes=[ROUTE["wrong-tickets"]])
    async with runner_with(app) as runner:
        cookie = await run_orm(runner.sessions.cookie, "alice")
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            served = await client.get("/api/tickets/", headers={"cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"})
        assert served.headers["x-served-by"] == "new"
        result = await runner.run_case(case("wrong-tickets", "/api/tickets/", "/parity-v2/wrong-tickets"))
    assert result.outcome == "differ" and result.fields() == ["$[0].title"]


async def test_a_field_that_varies_by_itself_is_noise_not_a_failure(runner: ParityRunner) -> None:
    result = await runner.run_case(case("clock", "/parity-legacy/clock/", "/parity-v2/clock"))
    assert result.outcome == "noise"
    assert result.differences == []
    assert set(result.noise_fields()) == {"$.now", "$.token", "$.lucky"}


async def test_frozen_time_and_a_seed_reach_time_and_random_but_not_secrets(runner_with: Any) -> None:
    async with runner_with(determinism=Determinism(frozen_at=FROZEN, seed=42)) as runner:
        result = await runner.run_case(case("clock", "/parity-legacy/clock/", "/parity-v2/clock"))
    assert result.outcome == "noise"
    assert result.noise_fields() == ["$.token"]  # secrets.token_hex is not seeded, honestly
    assert result.legacy is not None and f'"now": {FROZEN.timestamp()}' in result.legacy.body


async def test_list_order_and_ignore_rules_of_the_route_apply(runner: ParityRunner) -> None:
    agreed = await runner.run_case(case("items", "/parity-legacy/items/", "/parity-v2/items"))
    assert agreed.outcome == "agree"
    without_rules = await runner.run_case(case("(none)", "/parity-legacy/items/", "/parity-v2/items"))
    assert without_rules.outcome == "differ"
    assert "$.version" in without_rules.fields() and "$.items[0].id" in without_rules.fields()


async def test_html_pages_are_compared_as_documents(runner: ParityRunner) -> None:
    result = await runner.run_case(case("page", "/parity-legacy/page/", "/parity-v2/page"))
    # Formatting, attribute and class order and the CSRF token differ too, and do not count.
    assert result.fields() == ["/html/body/ul/li[2]/text()"]
    assert [(d.legacy, d.new) for d in result.differences] == [("Two", "Three")]


async def test_unsafe_cases_are_rolled_back_after_each_side(runner_with: Any) -> None:
    before = await Ticket.objects.acount()
    async with runner_with(determinism=Determinism(frozen_at=FROZEN)) as runner:
        result = await runner.run_case(case(
            "create", "/parity-legacy/tickets/", "/parity-v2/tickets", method="POST", unsafe=True,
            body=b'{"title": "made by parity"}', headers=(("content-type", "application/json"),),
        ))
    assert result.outcome == "agree", result.differences
    assert result.legacy is not None and result.new is not None
    assert (result.legacy.status, result.new.status) == (201, 201)
    assert '"title": "made by parity"' in result.new.body
    assert await Ticket.objects.acount() == before
    assert not await Ticket.objects.filter(title="made by parity").aexists()


async def test_an_unreachable_new_side_is_an_error_not_a_difference(runner: ParityRunner) -> None:
    result = await runner.run_case(case("broken", "/parity-legacy/clock/", "/parity-v2/raises"))
    assert result.outcome == "error"
    assert "new side unreachable" in result.error and "RuntimeError: the new handler is broken" in result.error


async def test_an_error_message_is_redacted_too(runner: ParityRunner) -> None:
    result = await runner.run_case(case("broken", "/parity-legacy/clock/", "/parity-v2/raises-secret"))
    assert result.outcome == "error"
    assert f"RuntimeError: could not refresh: api_key={REDACTED}" in result.error and "sk-live" not in result.error


async def test_an_unknown_user_is_an_error(runner: ParityRunner) -> None:
    result = await runner.run_case(case("api-tickets", "/api/tickets/", "/api/v2/tickets", user="mallory"))
    assert (result.outcome, result.error) == ("error", "no user named 'mallory'")
