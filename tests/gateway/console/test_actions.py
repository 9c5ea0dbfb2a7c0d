"""The console's actions: validated as hostile input, described, then done as ``console:<user>``."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from fastapi_gateway.console.actions import Action, actor_for, perform, plan_action
from fastapi_gateway.console.exceptions import ConsoleDenied, ConsoleInputError
from fastapi_gateway.routing.models import ParityRun, Rollout, RouteChange, RouteStateRecord
from fastapi_gateway.routing.table import set_route_state

pytestmark = pytest.mark.django_db

ADMIN = "console:admin"


def _plan(action: Action, **values: Any) -> Any:
    values.setdefault("route", "api-tickets")
    values.setdefault("reason", "because")
    return plan_action(action, actor=ADMIN, **values)


def test_only_active_staff_act(admin_user: Any, alice: Any) -> None:
    assert actor_for(admin_user) == "console:admin"
    for user in (alice, AnonymousUser()):
        with pytest.raises(ConsoleDenied):
            actor_for(user)
    admin_user.is_active = False
    with pytest.raises(ConsoleDenied):
        actor_for(admin_user)


def test_staff_act_with_the_admins_permissions_only(django_user_model: Any) -> None:
    from django.contrib.auth.models import Permission

    def staff(username: str, *codenames: str) -> Any:
        user = django_user_model.objects.create_user(username, is_staff=True)
        user.user_permissions.set(Permission.objects.filter(content_type__app_label="gateway_routing", codename__in=codenames))
        return django_user_model.objects.get(pk=user.pk)  # no cached permissions

    with pytest.raises(ConsoleDenied, match="may see the route table"):
        actor_for(staff("carol"))  # the staff flag alone
    viewer = staff("dave", "view_routestaterecord")
    assert actor_for(viewer) == "console:dave"
    with pytest.raises(ConsoleDenied, match="permission to change route states") as denied:
        actor_for(viewer, to_act=True)
    assert denied.value.acting is True
    assert actor_for(staff("erin", "change_routestaterecord"), to_act=True) == "console:erin"


def test_set_state_is_described_then_done_and_audited() -> None:
    plan = _plan(Action.SET_STATE, state="canary", percent=5.0)
    assert plan.description == "Move **api-tickets** from legacy to **canary 5%**."
    assert not RouteChange.objects.exists()
    assert perform(plan, actor=ADMIN) == "api-tickets is now canary 5%."
    change = RouteChange.objects.get()
    assert (change.to_state, change.to_percent, change.changed_by, change.reason) == ("canary", 5, ADMIN, "because")


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"route": "nope"}, "route", "Unknown route 'nope'"),
        ({"route": None}, "route", "Unknown route no route"),
        ({"route": ["api-tickets"]}, "route", "Unknown route"),
        ({"state": "sideways"}, "state", "unknown state 'sideways'"),
        ({"state": None}, "state", "Choose a state"),
        ({"state": "canary", "percent": 101}, "percent", "from 0 to 100"),
        ({"state": "canary", "percent": -1}, "percent", "from 0 to 100"),
        ({"state": "canary", "percent": 5.5}, "percent", "whole number"),
        ({"state": "canary", "percent": True}, "percent", "whole number"),
        ({"state": "canary", "percent": "5"}, "percent", "whole number"),
        ({"state": "canary", "percent": None}, "percent", "needs a percentage"),
        ({"state": "new", "reason": ""}, "reason", "a reason is required"),
        ({"state": "new", "reason": " \n "}, "reason", "a reason is required"),
        ({"state": "new", "reason": None}, "reason", "a reason is required"),
        ({"state": "new", "reason": "x" * 1001}, "reason", "too long"),
        ({"state": "legacy"}, "state", "already legacy"),
    ],
)
def test_bad_input_is_refused_with_a_message(values: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ConsoleInputError) as refused:
        _plan(Action.SET_STATE, **{"state": "new", **values})
    assert refused.value.field == field
    assert message in refused.value.message
    assert not RouteChange.objects.exists()


def test_an_unknown_action_is_refused() -> None:
    with pytest.raises(ConsoleInputError, match="Unknown action"):
        plan_action("drop_tables", actor=ADMIN, route="api-tickets", reason="x")


def test_a_plan_is_not_done_over_someone_elses_change() -> None:
    plan = _plan(Action.SET_STATE, state="new")
    set_route_state("api-tickets", "shadow", reason="meanwhile", actor="cli:ops")
    with pytest.raises(ConsoleInputError, match="changed since you reviewed this .now shadow."):
        perform(plan, actor=ADMIN)
    assert RouteStateRecord.objects.get(name="api-tickets").state == "shadow"


def test_a_plan_is_done_only_by_its_reviewer_and_rechecked() -> None:
    plan = _plan(Action.SET_STATE, state="new")
    with pytest.raises(ConsoleInputError, match="reviewed by someone else"):
        perform(plan, actor="console:bob")
    tampered = dataclasses.replace(plan, route="not-declared")
    with pytest.raises(ConsoleInputError, match="Unknown route"):
        perform(tampered, actor=ADMIN)
    with pytest.raises(ConsoleInputError, match="unknown state"):
        perform(dataclasses.replace(plan, state="sideways"), actor=ADMIN)
    assert not RouteChange.objects.exists()


def test_rollback_names_the_change_it_undoes() -> None:
    with pytest.raises(ConsoleInputError, match="no change left to roll back"):
        _plan(Action.ROLLBACK)
    set_route_state("api-tickets", "shadow", actor="cli:ops")
    set_route_state("api-tickets", "new", actor="cli:ops")
    plan = _plan(Action.ROLLBACK, reason="errors")
    last = RouteChange.objects.first()
    assert last is not None
    assert f"undo change #{last.pk} (shadow → new by cli:ops), back to **shadow**" in plan.description
    assert perform(plan, actor=ADMIN) == "api-tickets rolled back to shadow."
    rollback = RouteChange.objects.first()
    assert rollback is not None and (rollback.undoes_id, rollback.changed_by, rollback.reason) == (last.pk, ADMIN, "errors")


def test_start_and_stop_a_rollout() -> None:
    with pytest.raises(ConsoleInputError, match="Steps: only a canary step takes a percentage"):
        _plan(Action.START_ROLLOUT, steps="shadow:5")
    with pytest.raises(ConsoleInputError, match="Steps: .*legacy is where a rollout starts"):
        _plan(Action.START_ROLLOUT, steps="legacy,new")
    with pytest.raises(ConsoleInputError, match="no rollout running"):
        _plan(Action.STOP_ROLLOUT)
    plan = _plan(Action.START_ROLLOUT, steps=" shadow, canary:10 ,new", reason="go")
    assert "shadow → canary 10% → new" in plan.description
    done = perform(plan, actor=ADMIN)
    rollout = Rollout.objects.get()
    assert done.startswith(f"Rollout #{rollout.pk} of api-tickets started")
    assert (rollout.started_by, rollout.reason, [step["state"] for step in rollout.steps]) == (ADMIN, "go", ["shadow", "canary", "new"])
    assert RouteStateRecord.objects.get(name="api-tickets").state == "shadow"
    with pytest.raises(ConsoleInputError, match="already has a rollout"):
        _plan(Action.START_ROLLOUT, steps="new")

    stop = _plan(Action.STOP_ROLLOUT, reason="enough")
    assert perform(stop, actor=ADMIN) == f"Rollout #{rollout.pk} of api-tickets stopped; the route stays shadow."
    rollout.refresh_from_db()
    assert rollout.status == "stopped" and rollout.decisions[-1]["by"] == ADMIN
    with pytest.raises(ConsoleInputError, match="no longer running"):
        perform(stop, actor=ADMIN)


@pytest.mark.django_db(transaction=True)
def test_a_parity_run_is_started_and_kept(demo_users: Any) -> None:
    plan = _plan(Action.PARITY_RUN, reason="before the canary")
    assert "comparing the legacy and new answers of **api-tickets**" in plan.description
    done = perform(plan, actor=ADMIN)
    run = ParityRun.objects.get()
    assert done.startswith(f"Parity run #{run.pk} started")
    assert (run.routes, run.started_by, run.reason) == (["api-tickets"], ADMIN, "before the canary")
    deadline = time.monotonic() + 60
    while run.status == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
        run.refresh_from_db()
    assert run.status in ("passed", "failed"), run.output
    assert run.total > 0 and run.done == run.total
    assert "<html" in run.report.lower()
