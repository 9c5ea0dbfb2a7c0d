"""Self-driving rollouts: the gates' arithmetic, and the controller's decisions in the database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from fastapi_gateway.exceptions import RoutingError
from fastapi_gateway.migrated_route import RouteState
from fastapi_gateway.routing.models import Rollout, RouteChange, RouteStateRecord
from fastapi_gateway.routing.rollouts import (
    RolloutPlan,
    Step,
    _decide,
    evaluate,
    parse_steps,
    pause_rollout,
    resume_rollout,
    rollout_progress,
    start_rollout,
    stop_rollout,
    tick,
)
from fastapi_gateway.routing.table import set_route_state
from fastapi_gateway.routing.traffic import SideNumbers, TrafficRecorder
from migration_plan.routes import ROUTES

PLAN = RolloutPlan(steps=parse_steps("shadow,canary:5,new"), hold_seconds=60, min_requests=10)


def numbers(requests: int = 0, errors: int = 0, ms: float = 5.0, **extra: int) -> SideNumbers:
    recorder = TrafficRecorder(source="t:1")
    for index in range(requests):
        recorder.request("r", "s", 500 if index < errors else 200, ms / 1000)
    side = recorder.take()[0].get(("r", "s"), SideNumbers())
    for name, value in extra.items():
        setattr(side, name, value)
    return side


CANARY = Step(RouteState.CANARY, 5)
SHADOW = Step(RouteState.SHADOW)


def test_steps_parse_with_the_table_s_own_rule() -> None:
    assert parse_steps("shadow, canary:5,canary:0,new") == (SHADOW, CANARY, Step(RouteState.CANARY, 0), Step(RouteState.NEW))
    for bad, message in (("canary", "needs a percentage"), ("canary:101", "between 0 and 100"), ("canary:x", "canary:N"),
                         ("legacy", "not a step"), ("shadow:5", "only a canary"), ("", "at least one"), ("sideways", "unknown state")):
        with pytest.raises(RoutingError, match=message):
            parse_steps(bad)
    with pytest.raises(RoutingError):
        RolloutPlan(max_p99_ratio=0.5)


def test_a_step_waits_for_its_requests_then_its_time() -> None:
    legacy = numbers(100)
    assert evaluate(PLAN, CANARY, legacy, numbers(9), 600).action == "wait"
    waiting = evaluate(PLAN, CANARY, legacy, numbers(10), 30)
    assert waiting.action == "wait" and "held 30 of 60" in waiting.summary
    verdict = evaluate(PLAN, CANARY, legacy, numbers(10), 60)
    assert verdict.action == "advance" and "10 requests" in verdict.summary
    assert verdict.numbers["new"]["requests"] == 10


@pytest.mark.parametrize(
    ("new", "legacy", "reason"),
    [
        (numbers(100, errors=3), numbers(100, errors=1), "new 5xx 3.0% > legacy 1.0%"),
        (numbers(100, ms=80), numbers(100, ms=20), "p99"),
        (numbers(100, fallbacks=5), numbers(100), "fallbacks 5/105"),
    ],
)
def test_a_failing_gate_rolls_back_at_once_whatever_the_time_held(new: SideNumbers, legacy: SideNumbers, reason: str) -> None:
    verdict = evaluate(PLAN, CANARY, legacy, new, 1)
    assert verdict.action == "rollback" and reason in verdict.summary


def test_gates_allow_what_they_say() -> None:
    assert evaluate(PLAN, CANARY, numbers(100, errors=1), numbers(100, errors=2), 60).action == "advance"  # +1 point
    assert evaluate(PLAN, CANARY, numbers(100, ms=2), numbers(100, ms=8), 60).action == "advance"  # under the 10 ms floor
    assert evaluate(PLAN, CANARY, numbers(100, ms=20), numbers(100, ms=28), 60).action == "advance"  # 1.4x


def test_shadow_counts_comparisons_and_gates_on_mismatches() -> None:
    assert evaluate(PLAN, SHADOW, numbers(), numbers(shadow_agree=9), 600).action == "wait"
    assert evaluate(PLAN, SHADOW, numbers(), numbers(shadow_agree=200, shadow_differ=1), 60).action == "advance"
    failing = evaluate(PLAN, SHADOW, numbers(), numbers(shadow_agree=90, shadow_differ=5, shadow_error=5), 5)
    assert failing.action == "rollback" and "shadow mismatches 10/100" in failing.summary


# -- the controller, on the database ------------------------------------------------------------
@pytest.fixture
def routes(settings: Any, db: None) -> None:
    settings.GATEWAY = {**settings.GATEWAY, "ROUTES": ROUTES}


def _traffic(source: str, *, agree: int = 0, differ: int = 0, new: int = 0, fallbacks: int = 0, legacy: int = 0,
             at: Any = None) -> None:
    recorder = TrafficRecorder(source=source)
    for _ in range(agree):
        recorder.shadow("api-tickets", "agree")
    for _ in range(differ):
        recorder.shadow("api-tickets", "differ")
    for _ in range(new):
        recorder.request("api-tickets", "new", 200, 0.003)
    for _ in range(legacy):
        recorder.request("api-tickets", "legacy", 200, 0.004)
    for _ in range(fallbacks):
        recorder.fallback("api-tickets")
    recorder.flush(now=at)


def _state(name: str = "api-tickets") -> tuple[str, int]:
    record = RouteStateRecord.objects.get(name=name)
    return record.state, record.percent


def test_a_healthy_route_rolls_through_every_step_to_new(routes: None) -> None:
    rollout = start_rollout("api-tickets", PLAN, actor="cli:ops", reason="release 42")
    assert _state() == ("shadow", 0)
    start = rollout.step_started_at
    # Two hosts' comparisons add up to the step's minimum.
    _traffic("web-1:1", agree=6, at=start + timedelta(seconds=15))
    _traffic("web-2:1", agree=6, at=start + timedelta(seconds=25))
    assert tick(holder="web-1:1", now=start + timedelta(seconds=30)) == {}
    assert "held 30 of 60" in Rollout.objects.get().message
    assert tick(holder="web-1:1", now=start + timedelta(seconds=61)) == {rollout.pk: "advance"}
    assert _state() == ("canary", 5)
    step_start = Rollout.objects.get().step_started_at
    _traffic("web-2:1", new=12, legacy=100, at=step_start + timedelta(seconds=20))
    assert tick(holder="web-1:1", now=step_start + timedelta(seconds=61)) == {rollout.pk: "advance"}
    assert _state() == ("new", 0)
    step_start = Rollout.objects.get().step_started_at
    # In new, legacy answers nothing: its numbers since before the rollout are the baseline.
    _traffic("web-1:1", new=12, at=step_start + timedelta(seconds=20))
    assert tick(holder="web-1:1", now=step_start + timedelta(seconds=61)) == {rollout.pk: "done"}
    done = Rollout.objects.get()
    assert done.status == "done" and done.finished_at and len(done.decisions) == 3
    trail = list(RouteChange.objects.filter(name="api-tickets").order_by("id"))
    assert [(c.to_state, c.to_percent) for c in trail] == [("shadow", 0), ("canary", 5), ("new", 0)]
    assert all(c.changed_by == f"rollout #{rollout.pk}" for c in trail)
    assert "release 42" in trail[0].reason and "12 comparisons" in trail[1].reason and "12 requests" in trail[2].reason
    assert "done" in rollout_progress(done)


def test_in_new_legacy_s_earlier_numbers_are_the_baseline(routes: None) -> None:
    recorder = TrafficRecorder(source="web-1:1")
    for _ in range(50):
        recorder.request("api-tickets", "legacy", 200, 0.040)  # before the rollout: legacy's p99 is 40 ms
    recorder.flush(now=timezone.now() - timedelta(minutes=20))
    rollout = start_rollout("api-tickets", RolloutPlan(steps=parse_steps("new"), hold_seconds=60, min_requests=10))
    start = rollout.step_started_at
    recorder = TrafficRecorder(source="web-1:1")
    for _ in range(20):
        recorder.request("api-tickets", "new", 200, 0.030)  # 30 ms: above the 10 ms floor, under 1.5 x 40 ms
    recorder.flush(now=start + timedelta(seconds=15))
    assert tick(holder="web-1:1", now=start + timedelta(seconds=61)) == {rollout.pk: "done"}
    assert Rollout.objects.get().last_check["legacy"]["requests"] == 50


def test_a_failing_gate_sends_the_route_back_to_legacy_with_the_numbers(routes: None) -> None:
    rollout = start_rollout("api-tickets", RolloutPlan(steps=parse_steps("canary:50,new"), hold_seconds=60, min_requests=10))
    start = rollout.step_started_at
    _traffic("web-1:1", new=10, fallbacks=3, legacy=10, at=start + timedelta(seconds=12))
    assert tick(holder="web-1:1", now=start + timedelta(seconds=13)) == {rollout.pk: "rollback"}
    assert _state() == ("legacy", 0)
    rolled = Rollout.objects.get()
    assert rolled.status == "rolled_back" and "fallbacks 3/13" in rolled.message
    last = RouteChange.objects.filter(name="api-tickets").first()
    assert last is not None and last.to_state == "legacy" and "fallbacks 3/13" in last.reason
    assert rolled.decisions[-1]["new"]["fallbacks"] == 3


def test_numbers_from_before_the_step_in_its_first_bucket_do_not_count(routes: None) -> None:
    """The bucket a step starts in also holds what came before: another rollout's failures."""
    from fastapi_gateway.routing.traffic import BUCKET_SECONDS, bucket_start

    boundary = bucket_start(timezone.now()) + timedelta(seconds=BUCKET_SECONDS)
    _traffic("web-1:1", new=20, fallbacks=20, at=boundary + timedelta(seconds=1))  # a failed rollout's last numbers
    rollout = start_rollout("api-tickets", RolloutPlan(steps=parse_steps("canary:50,new"), hold_seconds=60, min_requests=10))
    Rollout.objects.filter(pk=rollout.pk).update(step_started_at=boundary + timedelta(seconds=2))
    assert tick(holder="web-1:1", now=boundary + timedelta(seconds=5)) == {}
    _traffic("web-1:1", new=20, legacy=20, at=boundary + timedelta(seconds=BUCKET_SECONDS + 1))
    assert tick(holder="web-1:1", now=boundary + timedelta(seconds=63)) == {rollout.pk: "advance"}


def test_one_decision_per_step_whoever_holds_the_lease(routes: None) -> None:
    rollout = start_rollout("api-tickets", PLAN)
    start = rollout.step_started_at
    _traffic("web-1:1", agree=20, at=start + timedelta(seconds=15))
    later = start + timedelta(seconds=61)
    # web-2 holds the lease: web-1's tick leaves the rollout alone.
    Rollout.objects.filter(pk=rollout.pk).update(lease_holder="web-2:1", lease_until=later + timedelta(seconds=10))
    assert tick(holder="web-1:1", now=later) == {}
    # Two processes that both read the rollout at step 1 (a lease that expired mid-decision):
    # the second finds the step moved and writes nothing.
    first, second = Rollout.objects.get(), Rollout.objects.get()
    assert _decide(first, later) == "advance"
    assert _decide(second, later) is None
    assert RouteChange.objects.filter(name="api-tickets", to_state="canary").count() == 1
    assert Rollout.objects.get().step == 1


def test_a_person_s_flip_pauses_the_rollout_and_is_never_overridden(routes: None) -> None:
    rollout = start_rollout("api-tickets", PLAN)
    set_route_state("api-tickets", "legacy", actor="alice", reason="looks wrong")
    _traffic("web-1:1", agree=50)
    assert tick(holder="web-1:1", now=timezone.now() + timedelta(seconds=120)) == {rollout.pk: "pause"}
    assert _state() == ("legacy", 0)
    paused = Rollout.objects.get()
    assert paused.status == "paused" and "moved to legacy" in paused.message
    assert tick(holder="web-1:1", now=timezone.now() + timedelta(seconds=240)) == {}
    assert _state() == ("legacy", 0)
    with pytest.raises(RoutingError, match="already has rollout"):
        start_rollout("api-tickets", PLAN)
    resumed = resume_rollout("api-tickets", actor="alice")
    assert resumed.status == "running" and _state() == ("shadow", 0)
    assert pause_rollout("api-tickets", actor="alice").status == "paused"
    assert stop_rollout("api-tickets", actor="alice", reason="enough").status == "stopped"
    with pytest.raises(RoutingError, match="no rollout running"):
        stop_rollout("api-tickets")
    assert start_rollout("api-tickets", PLAN).status == "running"  # a stopped rollout frees the route


def test_a_route_no_longer_declared_is_left_alone(routes: None, settings: Any) -> None:
    rollout = start_rollout("api-tickets", PLAN)
    settings.GATEWAY = {**settings.GATEWAY, "ROUTES": ROUTES[1:]}
    assert tick(holder="web-1:1", now=timezone.now() + timedelta(seconds=120)) == {}
    assert Rollout.objects.get(pk=rollout.pk).status == "running"
