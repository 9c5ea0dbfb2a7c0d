"""Changing the table: validated against the declarations, audited, versioned, reversible."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from fastapi_gateway.exceptions import RoutingError
from fastapi_gateway.routing.models import RouteChange, RouteStateRecord
from fastapi_gateway.routing.table import current_version, load_states, rollback_route, set_route_state
from migration_plan.routes import ROUTES

pytestmark = pytest.mark.django_db


def test_set_writes_state_audit_and_version() -> None:
    version = current_version()
    set_route_state("api-tickets", "canary", percent=20, reason="try 20%", actor="alice")
    record = RouteStateRecord.objects.get(name="api-tickets")
    assert (record.state, record.percent, record.changed_by, record.reason) == ("canary", 20, "alice", "try 20%")
    change = RouteChange.objects.get(name="api-tickets")
    assert (change.from_state, change.to_state, change.to_percent) == ("legacy", "canary", 20)
    assert current_version() == version + 1


def test_rollback_is_one_call() -> None:
    set_route_state("api-tickets", "canary", percent=20)
    set_route_state("api-tickets", "new")
    setting = rollback_route("api-tickets", actor="oncall")
    assert (setting.state.value, setting.percent) == ("canary", 20)
    assert RouteChange.objects.first().reason.startswith("rollback of change")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("no-such-route", "new"), "unknown route"),
        (("api-tickets", "sideways"), "unknown state"),
        (("api-tickets", "canary"), "needs a percentage"),
    ],
)
def test_bad_changes_are_refused_clearly(args: tuple[str, str], message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        set_route_state(*args)
    assert not RouteChange.objects.exists()


@pytest.mark.parametrize("percent", [-1, 101])
def test_percent_outside_0_100_is_refused(percent: int) -> None:
    with pytest.raises(RoutingError, match="between 0 and 100"):
        set_route_state("api-tickets", "canary", percent=percent)


def test_each_rollback_steps_one_change_further_back() -> None:
    """shadow -> new -> canary 50, then rollbacks: new, shadow, legacy (not an undo of the undo)."""
    for state, percent in (("shadow", None), ("new", None), ("canary", 50)):
        set_route_state("api-tickets", state, percent=percent)
    steps = [rollback_route("api-tickets", actor="oncall") for _ in range(3)]
    assert [(step.state.value, step.percent) for step in steps] == [("new", 0), ("shadow", 0), ("legacy", 0)]
    with pytest.raises(RoutingError, match="no change left to roll back"):
        rollback_route("api-tickets")
    history = list(RouteChange.objects.filter(name="api-tickets").order_by("id"))
    assert [change.undoes for change in history[3:]] == [history[2], history[1], history[0]]


def test_a_change_after_a_rollback_is_the_next_one_rolled_back() -> None:
    set_route_state("api-tickets", "shadow")
    set_route_state("api-tickets", "canary", percent=10)
    rollback_route("api-tickets")  # back to shadow
    set_route_state("api-tickets", "new")
    assert rollback_route("api-tickets").state.value == "shadow"  # undoes "new"
    assert rollback_route("api-tickets").state.value == "legacy"  # then "shadow"


def test_rollback_without_history_is_refused() -> None:
    with pytest.raises(RoutingError, match="never been changed"):
        rollback_route("tickets-page")


def test_load_ignores_rows_of_undeclared_routes(caplog: Any) -> None:
    RouteStateRecord.objects.create(name="gone", state="new")
    set_route_state("tickets-page", "redirect")
    states = load_states(["api-tickets", "tickets-page"])
    assert set(states) == {"tickets-page"}
    assert "undeclared route 'gone'" in caplog.text



def test_the_state_of_some_routes_warns_of_no_other(caplog: Any) -> None:
    """The console reads one route's state: the rows of the others are not "undeclared"."""
    set_route_state("tickets-page", "redirect")
    set_route_state("api-tickets", "shadow")
    assert {name: setting.state.value for name, setting in load_states(["api-tickets"], only=True).items()} == {"api-tickets": "shadow"}
    assert "undeclared" not in caplog.text


def test_cli_lists_sets_and_rolls_back() -> None:
    out = io.StringIO()
    call_command("routes", stdout=out)
    assert "api-tickets" in out.getvalue() and "legacy" in out.getvalue()
    call_command("routes", "set", "tickets-page", "redirect", "--reason", "UI ready", stdout=out)
    assert "tickets-page is now redirect" in out.getvalue()
    listing = io.StringIO()
    call_command("routes", "list", stdout=listing)
    assert "redirect" in listing.getvalue() and "by cli:" in listing.getvalue()
    call_command("routes", "rollback", "tickets-page", stdout=out)
    assert RouteStateRecord.objects.get(name="tickets-page").state == "legacy"
    history = io.StringIO()
    call_command("routes", "history", "tickets-page", stdout=history)
    assert "legacy -> redirect" in history.getvalue() and "(UI ready)" in history.getvalue()


@pytest.mark.parametrize(
    "argv",
    [["set", "nope", "new"], ["set", "api-tickets", "bogus"], ["set", "api-tickets", "canary", "--percent", "150"]],
)
def test_cli_errors_are_clear(argv: list[str]) -> None:
    with pytest.raises(CommandError):
        call_command("routes", *argv, stdout=io.StringIO())


def test_admin_changes_are_audited(admin_client: Any) -> None:
    response = admin_client.post(
        "/admin/gateway_routing/routestaterecord/add/",
        {"name": "api-tickets", "state": "canary", "percent": 30, "reason": "from the admin"},
    )
    assert response.status_code == 302, response.content[:500]
    change = RouteChange.objects.get(name="api-tickets")
    assert (change.to_state, change.to_percent, change.changed_by) == ("canary", 30, "admin:admin")
    record = RouteStateRecord.objects.get(name="api-tickets")
    zero = admin_client.post(
        f"/admin/gateway_routing/routestaterecord/{record.pk}/change/",
        {"name": "api-tickets", "state": "canary", "percent": 0, "reason": "ready, nobody yet"},
    )
    assert zero.status_code == 302, zero.content[:500]  # a 0 % canary, as the command line allows
    assert RouteStateRecord.objects.get(name="api-tickets").percent == 0


def test_the_admin_lists_every_declared_route_touched_or_not(admin_client: Any) -> None:
    from fastapi_gateway.routing.table import declared_routes

    page = admin_client.get("/admin/gateway_routing/routestaterecord/").content.decode()
    for route in declared_routes():
        assert f">{route.name}<" in page
    assert "never" in page and not RouteChange.objects.exists()
    index = admin_client.get("/admin/").content.decode()
    assert "Shadow mismatches" in index and "Shadow mismatchs" not in index


def test_routes_json_lists_every_declared_route() -> None:
    set_route_state("api-tickets", "canary", percent=25, reason="quarter")
    out = io.StringIO()
    call_command("routes", "--json", stdout=out)
    rows = {row["name"]: row for row in json.loads(out.getvalue())}
    from fastapi_gateway.routing.table import declared_routes

    assert set(rows) == {route.name for route in declared_routes()}
    assert (rows["api-tickets"]["state"], rows["api-tickets"]["percent"], rows["api-tickets"]["reason"]) == ("canary", 25, "quarter")
    assert all({"name", "state", "percent", "legacy", "new", "changed_at", "changed_by"} <= set(row) for row in rows.values())


@pytest.mark.django_db(transaction=True)
async def test_a_database_outage_is_one_line_for_the_poller_and_one_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    import anyio
    from django.db import connection

    from fastapi_gateway.orm import run_orm
    from fastapi_gateway.routing.live_table import LiveRouteTable

    def rename(old: str, new: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {old} RENAME TO {new}")

    async def logged(message: str) -> None:  # polls on new threads and connections: slow on a loaded machine
        with anyio.fail_after(10):
            while not any(message in record.getMessage() for record in caplog.records):
                await anyio.sleep(0.01)

    table = LiveRouteTable(ROUTES, poll_seconds=0.01)
    caplog.set_level("WARNING", logger="fastapi_gateway.routing")
    async with anyio.create_task_group() as tasks:
        await run_orm(rename, "gateway_routing_tableversion", "tableversion_away")
        try:
            tasks.start_soon(table.poll_forever)
            await logged("route table refresh failed")
            await anyio.sleep(0.1)  # more failed polls: still the one line
        finally:
            await run_orm(rename, "tableversion_away", "gateway_routing_tableversion")
        await logged("route table refreshed again")
        await anyio.sleep(0.1)  # more polls that succeed: nothing more
        tasks.cancel_scope.cancel()
    lines = [record for record in caplog.records if "route table" in record.getMessage()]
    assert [record.getMessage().split(" (")[0].split(";")[0] for record in lines] == [
        "route table refresh failed", "route table refreshed again"]
    assert all(record.exc_info is None for record in lines)


def test_a_name_declared_twice_is_refused_once_by_name_among_many() -> None:
    from fastapi_gateway.routing import MigratedRoute
    from fastapi_gateway.routing.table import load_routes

    many = [MigratedRoute(name=f"area{n}", legacy=f"/area{n}/", new="/api/v2/tickets") for n in range(1_000)]
    assert load_routes(many) == tuple(many)
    twice = [*many, MigratedRoute(name="area7", legacy="/elsewhere/", new="/api/v2/tickets"),
             MigratedRoute(name="area3", legacy="/other/", new="/api/v2/tickets"),
             MigratedRoute(name="area7", legacy="/third/", new="/api/v2/tickets")]
    with pytest.raises(RoutingError, match=r"^route names declared twice: area3, area7$"):
        load_routes(twice)
