"""Every declared route gets cases nobody wrote: per user, per filter value, own/other/missing ids."""

from __future__ import annotations

from typing import Any

import pytest

from fastapi_gateway.orm import run_orm
from fastapi_gateway.parity.default_cases import UNKNOWN_VALUE, default_cases
from fastapi_gateway.parity.identities import sample_usernames
from fastapi_gateway.parity.runner import ParityRunner
from fastapi_gateway.routing import MigratedRoute
from legacy_django.tickets.models import Ticket

from .conftest import ROUTE, TEST_ROUTES

pytestmark = pytest.mark.django_db(transaction=True)

BUNDLED = [ROUTE["api-tickets"], ROUTE["api-ticket-detail"]]


async def test_sample_users_are_a_staff_user_and_two_others(demo_users: Any) -> None:
    assert await run_orm(sample_usernames) == ["admin", "alice", "bob"]
    assert await run_orm(sample_usernames, ["bob"]) == ["bob"]


async def test_list_routes_get_each_filter_value_the_new_route_declares(runner: ParityRunner) -> None:
    cases, warnings = await default_cases(runner, [ROUTE["api-tickets"]], ["alice"], declared=TEST_ROUTES)
    assert warnings == []
    assert [(case.user, case.legacy, case.new) for case in cases] == [
        (None, "/api/tickets/", "/api/v2/tickets"),
        ("alice", "/api/tickets/", "/api/v2/tickets"),
        ("alice", "/api/tickets/?status=closed", "/api/v2/tickets?status=closed"),
        ("alice", "/api/tickets/?status=open", "/api/v2/tickets?status=open"),
        ("alice", "/api/tickets/?status=pending", "/api/v2/tickets?status=pending"),
        ("alice", f"/api/tickets/?status={UNKNOWN_VALUE}", f"/api/v2/tickets?status={UNKNOWN_VALUE}"),
    ]


async def test_detail_routes_get_an_own_another_users_and_a_missing_object(runner: ParityRunner) -> None:
    cases, _ = await default_cases(runner, [ROUTE["api-ticket-detail"]], ["alice", "bob"], declared=TEST_ROUTES)
    owners = {ticket.pk: ticket.owner.get_username() async for ticket in Ticket.objects.select_related("owner")}
    by_name = {(case.user, case.name.split(" #")[0]): int(case.legacy.strip("/").rsplit("/", 1)[1]) for case in cases}
    assert owners[by_name[("alice", "visible to them")]] == "alice"
    assert owners[by_name[("alice", "another user's")]] == "bob"
    assert by_name[("alice", "missing")] not in owners
    assert owners[by_name[("bob", "another user's")]] == "alice"
    assert (None, "anonymous") in by_name


async def test_the_bundled_routes_default_cases_all_agree(runner: ParityRunner) -> None:
    users = await run_orm(sample_usernames)
    cases, warnings = await default_cases(runner, BUNDLED, users, declared=TEST_ROUTES)
    report = await runner.run(cases)
    assert (len(report.cases), report.exit_code, warnings) == (25, 0, [])
    assert {result.legacy.status for result in report.cases if result.legacy} == {200, 400, 401, 404}


async def test_a_detail_route_without_a_list_to_sample_is_a_warning(runner: ParityRunner) -> None:
    lonely = MigratedRoute(name="lonely", legacy="/things/<int:pk>/", new="/v2/things/{pk}")
    cases, warnings = await default_cases(runner, [lonely], ["alice"])
    assert cases == [] and "lonely: no default cases" in warnings[0]
