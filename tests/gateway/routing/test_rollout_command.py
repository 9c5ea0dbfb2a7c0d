"""``manage.py routes rollout``: started with the route's declared plan or the options' one,
stopped, paused and resumed; ``manage.py routes`` shows where each rollout is."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from fastapi_gateway.routing import MigratedRoute
from fastapi_gateway.routing.models import Rollout, RouteChange, RouteStateRecord
from fastapi_gateway.routing.rollouts import RolloutPlan

pytestmark = pytest.mark.django_db


def routes(*argv: str) -> str:
    out = io.StringIO()
    call_command("routes", *argv, stdout=out)
    return out.getvalue()


def state(name: str) -> tuple[str, int]:
    record = RouteStateRecord.objects.get(name=name)
    return record.state, record.percent


def test_a_rollout_starts_with_the_default_plan_at_its_first_step() -> None:
    out = routes("rollout", "api-tickets", "--reason", "parity is green", "--actor", "alice")
    rollout = Rollout.objects.get(route="api-tickets")
    assert f"rollout #{rollout.pk} of api-tickets started: shadow → canary 5% → canary 25% → canary 50% → new" in out
    assert "300 s and 100 requests" in out
    assert (rollout.status, rollout.step, rollout.started_by, rollout.reason) == ("running", 0, "alice", "parity is green")
    assert state("api-tickets") == ("shadow", 0)
    change = RouteChange.objects.get(name="api-tickets")  # on the same audit trail as a flip
    assert change.changed_by == f"rollout #{rollout.pk}" and "parity is green" in change.reason


def test_options_override_the_plan_declared_on_the_route(settings: Any) -> None:
    declared = MigratedRoute(
        name="api-tickets", legacy="/api/tickets/", new="/api/v2/tickets",
        rollout=RolloutPlan(steps="canary:10,new", hold_seconds=30, min_requests=20, max_p99_ratio=3.0),  # type: ignore[arg-type]
    )
    settings.GATEWAY = {**settings.GATEWAY, "ROUTES": (declared,)}
    routes("rollout", "api-tickets", "--hold", "90", "--max-5xx-increase", "0.05")
    rollout = Rollout.objects.get(route="api-tickets")
    assert rollout.steps == [{"state": "canary", "percent": 10}, {"state": "new", "percent": 0}]  # declared
    assert (rollout.hold_seconds, rollout.min_requests) == (90, 20)  # --hold, declared
    assert rollout.gates["max_p99_ratio"] == 3.0 and rollout.gates["max_error_rate_increase"] == 0.05
    assert state("api-tickets") == ("canary", 10)
    routes("rollout", "api-tickets", "--stop")

    routes(
        "rollout", "api-tickets", "--steps", "shadow,canary:50", "--min-requests", "5", "--max-p99-ratio", "1.2",
        "--max-mismatch-rate", "0", "--max-fallback-rate", "0.1",
    )
    second = Rollout.objects.filter(route="api-tickets", status="running").get()
    assert second.steps == [{"state": "shadow", "percent": 0}, {"state": "canary", "percent": 50}]
    assert (second.hold_seconds, second.min_requests) == (30, 5)
    assert {key: second.gates[key] for key in ("max_p99_ratio", "max_mismatch_rate", "max_fallback_rate")} == {
        "max_p99_ratio": 1.2, "max_mismatch_rate": 0.0, "max_fallback_rate": 0.1,
    }


def test_pause_resume_and_stop() -> None:
    routes("rollout", "tickets-page", "--steps", "shadow,new")
    rollout = Rollout.objects.get(route="tickets-page")
    assert f"rollout #{rollout.pk} of tickets-page paused at step 1/2 (shadow)" in routes("rollout", "tickets-page", "--pause")
    assert Rollout.objects.get(pk=rollout.pk).status == "paused"
    assert f"rollout #{rollout.pk} of tickets-page resumed at step 1/2 (shadow)" in routes("rollout", "tickets-page", "--resume")
    assert Rollout.objects.get(pk=rollout.pk).status == "running"
    out = routes("rollout", "tickets-page", "--stop", "--reason", "enough for today")
    assert "stopped at step 1/2 (shadow); the route keeps its state" in out
    stopped = Rollout.objects.get(pk=rollout.pk)
    assert stopped.status == "stopped" and "enough for today" in stopped.message
    assert state("tickets-page") == ("shadow", 0)


def test_the_list_shows_each_running_rollouts_progress_under_its_route() -> None:
    routes("rollout", "api-ticket-detail", "--steps", "canary:5,canary:50,new", "--hold", "60", "--min-requests", "10")
    rollout = Rollout.objects.get(route="api-ticket-detail")
    lines = routes().splitlines()
    assert lines[0].split()[:3] == ["NAME", "STATE", "PERCENT"]
    row = next(index for index, line in enumerate(lines) if line.startswith("api-ticket-detail "))
    assert lines[row].split()[1:3] == ["canary", "5%"]
    assert lines[row + 1].startswith(f"  rollout #{rollout.pk} step 1/3 canary 5%: held ")
    assert "0/10 requests ([canary 5%] → canary 50% → new)" in lines[row + 1]
    assert sum(line.startswith("  rollout #") for line in lines) == 1  # the other routes have none
    assert lines[row].endswith(f"by rollout #{rollout.pk}")  # its last change

    routes("rollout", "api-ticket-detail", "--pause")
    assert f"rollout #{rollout.pk} paused at step 1/3" in routes("list")
    routes("rollout", "api-ticket-detail", "--stop")
    listing = routes().splitlines()  # a finished rollout is in --json and the history, not under its route
    assert not any(line.startswith("  rollout") for line in listing) and len(listing) == 4


def test_json_has_each_routes_latest_rollout() -> None:
    routes("rollout", "api-tickets", "--steps", "shadow,canary:25,new")
    rollout = Rollout.objects.get(route="api-tickets")
    rows = {row["name"]: row for row in json.loads(routes("--json"))}
    assert all({"name", "state", "percent", "legacy", "new", "changed_at", "changed_by", "reason", "rollout"} <= set(row)
               for row in rows.values())
    assert rows["tickets-page"]["rollout"] is None
    shown = rows["api-tickets"]["rollout"]
    assert {key: shown[key] for key in ("id", "status", "step", "message")} == {
        "id": rollout.pk, "status": "running", "step": 0, "message": "step 1/3: shadow",
    }
    assert shown["steps"] == [{"state": "shadow", "percent": 0}, {"state": "canary", "percent": 25}, {"state": "new", "percent": 0}]
    assert shown["active"] is True and shown["progress"].startswith(f"rollout #{rollout.pk} step 1/3 shadow")
    routes("rollout", "api-tickets", "--stop")
    listed = json.loads(routes("list", "--json"))
    stopped = next(row for row in listed if row["name"] == "api-tickets")["rollout"]
    assert (stopped["id"], stopped["status"], stopped["active"]) == (rollout.pk, "stopped", False)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rollout", "nope"], "unknown route 'nope'"),
        (["rollout", "nope", "--stop"], "unknown route 'nope'"),
        (["rollout", "api-tickets", "--steps", "shadow,canary:101"], "between 0 and 100"),
        (["rollout", "api-tickets", "--steps", "legacy,new"], "legacy is where a rollout starts"),
        (["rollout", "api-tickets", "--steps", "canary"], "needs a percentage"),
        (["rollout", "api-tickets", "--hold", "0"], "hold_seconds is a whole number from 1"),
        (["rollout", "api-tickets", "--hold", "99999999999999999999"], "hold_seconds is a whole number from 1"),
        (["rollout", "api-tickets", "--min-requests", "0"], "min_requests is a whole number from 1"),
        (["rollout", "api-tickets", "--max-p99-ratio", "nan"], "max_p99_ratio is a finite number"),
        (["rollout", "api-tickets", "--max-mismatch-rate", "inf"], "max_mismatch_rate is a finite number"),
        (["coverage", "--since", "1e20"], "at most ten years"),
        (["rollout", "api-tickets", "--max-5xx-increase", "2"], "max_error_rate_increase is a share"),
        (["rollout", "api-tickets", "--max-p99-ratio", "0.5"], "max_p99_ratio is at least 1"),
        (["rollout", "api-tickets", "--stop"], "has no rollout running"),
        (["rollout", "api-tickets", "--resume"], "has no rollout running"),
        (["rollout", "api-tickets", "--stop", "--pause"], "not allowed with argument"),
        (["rollout", "api-tickets", "--hold", "abc"], "invalid int value"),
    ],
)
def test_bad_input_is_a_clear_command_error(argv: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        routes(*argv)
    assert not Rollout.objects.exists() and not RouteStateRecord.objects.exists()


def test_a_second_rollout_of_a_route_is_refused_and_options_do_not_go_with_stop() -> None:
    routes("rollout", "api-tickets")
    with pytest.raises(CommandError, match=r"already has rollout #\d+ \(running\); stop it first"):
        routes("rollout", "api-tickets", "--steps", "new")
    with pytest.raises(CommandError, match="for starting a rollout, not with --stop"):
        routes("rollout", "api-tickets", "--stop", "--steps", "new")
    routes("rollout", "api-tickets", "--pause")
    with pytest.raises(CommandError, match="already has rollout"):
        routes("rollout", "api-tickets")
    assert Rollout.objects.get().status == "paused"
