"""Rollouts that drive themselves: a route's steps, held and gated on its own numbers.

What Flagger and Argo Rollouts do for whole services, done per URL inside the app. A plan is
a list of steps (``shadow``, ``canary:5``, ``canary:25``, ``new``), each held for at least
``hold_seconds`` and ``min_requests`` requests the new side answered (comparisons, in
``shadow``), with gates on the new side's numbers against legacy's over the same window (the
last ``hold_seconds`` of the step, summed over every process and host, see ``traffic``):

- 5xx rate: the new side's at most ``max_error_rate_increase`` above legacy's;
- p99 latency: at most ``max_p99_ratio`` times legacy's (never held to less than ``p99_floor_ms``);
- shadow mismatches (differences, errors and timeouts) at most ``max_mismatch_rate`` of comparisons;
- fallbacks (new-side failures legacy answered instead) at most ``max_fallback_rate``.

When every gate holds over a full step the route advances; the moment one fails over a
window of ``min_requests`` it goes back to ``legacy`` (the window is made of whole
``traffic.BUCKET_SECONDS`` buckets, from the first one that starts inside the step: a
decision comes at most a bucket, 10 s, after the window's numbers are in), and the audit trail records the
numbers that decided. Every worker runs the controller; the one holding the rollout's lease
(a row in the database, renewed each tick) evaluates it, and a decision is written only if
the rollout is still at the step it evaluated (a conditional update), so each step gets
exactly one decision even when a lease changes hands mid-decision. A route whose state is no
longer the step's (someone flipped it) pauses its rollout: nothing overrides a person.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import socket
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from fastapi_gateway.exceptions import RoutingError
from fastapi_gateway.migrated_route import RouteState
from fastapi_gateway.routing.periodic import every
from fastapi_gateway.routing.traffic import BUCKET_SECONDS, SideNumbers, bucket_start, route_numbers

if TYPE_CHECKING:
    from fastapi_gateway.orm import KeptConnectionThread

__all__ = [
    "DEFAULT_STEPS",
    "RolloutController",
    "RolloutPlan",
    "Step",
    "Verdict",
    "evaluate",
    "parse_steps",
    "pause_rollout",
    "resume_rollout",
    "rollout_progress",
    "start_rollout",
    "stop_rollout",
    "tick",
]

logger = logging.getLogger("fastapi_gateway.routing")

DEFAULT_STEPS = "shadow,canary:5,canary:25,canary:50,new"
ACTIVE = ("running", "paused")


@dataclass(frozen=True)
class Step:
    state: RouteState
    percent: int = 0

    def __str__(self) -> str:
        return f"canary {self.percent}%" if self.state is RouteState.CANARY else self.state.value

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state.value, "percent": self.percent}

    @classmethod
    def of(cls, value: dict[str, Any]) -> Step:
        return cls(RouteState(value["state"]), int(value.get("percent") or 0))


def parse_steps(spec: str | Sequence[str]) -> tuple[Step, ...]:
    """``"shadow,canary:5,canary:25,new"`` (or its items) as steps; every state but legacy."""
    from fastapi_gateway.routing.table import validate_state

    items = [item.strip() for item in (spec.split(",") if isinstance(spec, str) else spec) if item.strip()]
    if not items:
        raise RoutingError("a rollout needs at least one step, for example shadow,canary:5,new")
    steps = []
    for item in items:
        state, _, percent = item.partition(":")
        if percent and state.strip() != RouteState.CANARY.value:
            raise RoutingError(f"only a canary step takes a percentage, not {item!r}")
        try:
            number = int(percent) if percent else None
        except ValueError:
            raise RoutingError(f"a canary step is canary:N with N from 0 to 100, not {item!r}") from None
        route_state, route_percent = validate_state(state.strip(), number)
        if route_state is RouteState.LEGACY:
            raise RoutingError("legacy is where a rollout starts and falls back to, not a step")
        steps.append(Step(route_state, route_percent))
    return tuple(steps)


@dataclass(frozen=True)
class RolloutPlan:
    """A rollout's steps and gates; declare one next to a route (``MigratedRoute(rollout=...)``)."""

    steps: tuple[Step, ...] = field(default_factory=lambda: parse_steps(DEFAULT_STEPS))
    hold_seconds: int = 300
    min_requests: int = 100
    max_error_rate_increase: float = 0.01
    max_p99_ratio: float = 1.5
    p99_floor_ms: float = 10.0
    max_mismatch_rate: float = 0.01
    max_fallback_rate: float = 0.01

    def __post_init__(self) -> None:
        given: Any = self.steps
        steps = tuple(given) if not isinstance(given, str) and all(isinstance(step, Step) for step in given) else parse_steps(given)
        object.__setattr__(self, "steps", steps)
        if not steps:
            raise RoutingError("a rollout needs at least one step")
        for name, most in (("hold_seconds", 7 * 24 * 3600), ("min_requests", 10**9)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
                raise RoutingError(f"{name} is a whole number from 1 to {most}, not {value!r}")
        for name in ("max_error_rate_increase", "max_mismatch_rate", "max_fallback_rate", "max_p99_ratio", "p99_floor_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise RoutingError(f"{name} is a finite number, not {value!r}")
        for name in ("max_error_rate_increase", "max_mismatch_rate", "max_fallback_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise RoutingError(f"{name} is a share between 0 and 1, not {getattr(self, name)!r}")
        if self.max_p99_ratio < 1:
            raise RoutingError(f"max_p99_ratio is at least 1, not {self.max_p99_ratio!r}")
        if self.p99_floor_ms < 0:
            raise RoutingError(f"p99_floor_ms is at least 0, not {self.p99_floor_ms!r}")

    def gates(self) -> dict[str, float]:
        return {name: value for name, value in asdict(self).items() if name.startswith(("max_", "p99_"))}


@dataclass
class Verdict:
    action: str  # "wait", "advance" or "rollback"
    summary: str
    failed: list[str]
    numbers: dict[str, Any]


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def evaluate(plan: RolloutPlan, step: Step, legacy: SideNumbers, new: SideNumbers, held_seconds: float) -> Verdict:
    """The decision on one step from its window's numbers (pure: the controller's and the tests')."""
    shadow = step.state is RouteState.SHADOW
    samples = new.compared if shadow else new.attempts
    failed: list[str] = []
    if shadow:
        if new.compared and new.mismatch_rate > plan.max_mismatch_rate:
            failed.append(f"shadow mismatches {new.shadow_differ + new.shadow_error}/{new.compared} "
                          f"({_percent(new.mismatch_rate)} > {_percent(plan.max_mismatch_rate)})")
    else:
        allowed = legacy.error_rate + plan.max_error_rate_increase
        if new.requests and new.error_rate > allowed:
            failed.append(f"new 5xx {_percent(new.error_rate)} > legacy {_percent(legacy.error_rate)} "
                          f"+ {_percent(plan.max_error_rate_increase)}")
        new_p99, legacy_p99 = new.p99, legacy.p99
        if new_p99 is not None:
            limit = max(plan.p99_floor_ms, (legacy_p99 or 0) * plan.max_p99_ratio)
            if new_p99 > limit:
                failed.append(f"new p99 {new_p99:.1f} ms > {limit:.1f} ms "
                              f"(legacy p99 {legacy_p99 or 0:.1f} ms × {plan.max_p99_ratio})")
        if new.fallback_rate > plan.max_fallback_rate:
            failed.append(f"fallbacks {new.fallbacks}/{new.attempts} ({_percent(new.fallback_rate)} "
                          f"> {_percent(plan.max_fallback_rate)})")
        if new.compared and new.mismatch_rate > plan.max_mismatch_rate:
            failed.append(f"shadow mismatches {new.shadow_differ + new.shadow_error}/{new.compared} "
                          f"({_percent(new.mismatch_rate)} > {_percent(plan.max_mismatch_rate)})")
    numbers = {
        "step": str(step), "held_seconds": round(held_seconds, 1), "samples": samples,
        "legacy": legacy.as_dict(), "new": new.as_dict(),
    }
    if samples < plan.min_requests:
        return Verdict("wait", f"{samples}/{plan.min_requests} {'comparisons' if shadow else 'requests'} so far", failed, numbers)
    if failed:
        return Verdict("rollback", "; ".join(failed), failed, numbers)
    if held_seconds < plan.hold_seconds:
        return Verdict("wait", f"gates hold; held {held_seconds:.0f} of {plan.hold_seconds} s", failed, numbers)
    if shadow:
        detail = f"{new.compared} comparisons, {_percent(new.mismatch_rate)} mismatched"
    else:
        detail = (f"{new.attempts} requests, 5xx {_percent(new.error_rate)} (legacy {_percent(legacy.error_rate)}), "
                  f"p99 {new.p99 or 0:.1f} ms (legacy {legacy.p99 or 0:.1f} ms), {new.fallbacks} fallbacks")
    return Verdict("advance", f"gates held for {held_seconds:.0f} s: {detail}", failed, numbers)


def _source() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def _plan_of(rollout: Any) -> RolloutPlan:
    gates = {key: value for key, value in (rollout.gates or {}).items() if key in RolloutPlan.__dataclass_fields__}
    return RolloutPlan(
        steps=tuple(Step.of(step) for step in rollout.steps),
        hold_seconds=rollout.hold_seconds, min_requests=rollout.min_requests, **gates,
    )


def declared_plan(name: str) -> RolloutPlan:
    """The plan declared next to the route, or the default one."""
    from fastapi_gateway.routing.table import declared_routes

    for route in declared_routes():
        if route.name == name:
            plan = getattr(route, "rollout", None)
            return plan if isinstance(plan, RolloutPlan) else RolloutPlan()
    raise RoutingError(f"unknown route {name!r}")


def start_rollout(name: str, plan: RolloutPlan | None = None, *, actor: str = "", reason: str = "") -> Any:
    """Start a rollout of route ``name``: it moves to the first step now."""
    from fastapi_gateway.routing.models import Rollout
    from fastapi_gateway.routing.table import set_route_state

    plan = plan or declared_plan(name)
    with transaction.atomic():
        active = Rollout.objects.select_for_update().filter(route=name, status__in=ACTIVE).first()
        if active is not None:
            raise RoutingError(f"route {name!r} already has rollout #{active.pk} ({active.status}); stop it first")
        first = plan.steps[0]
        rollout = Rollout.objects.create(
            route=name, steps=[step.as_dict() for step in plan.steps], hold_seconds=plan.hold_seconds,
            min_requests=plan.min_requests, gates=plan.gates(), step=0, step_started_at=timezone.now(),
            started_by=actor, reason=reason, message=f"step 1/{len(plan.steps)}: {first}",
        )
        set_route_state(name, first.state.value, percent=first.percent if first.state is RouteState.CANARY else None,
                        actor=_rollout_actor(rollout), reason=f"rollout #{rollout.pk} started by {actor or '?'}: step 1/"
                        f"{len(plan.steps)} {first}" + (f" ({reason})" if reason else ""))
    logger.info("rollout #%d of %s started by %s: %s", rollout.pk, name, actor or "?", ", ".join(map(str, plan.steps)))
    return rollout


def _rollout_actor(rollout: Any) -> str:
    return f"rollout #{rollout.pk}"


def _active(name: str) -> Any:
    from fastapi_gateway.routing.models import Rollout

    rollout = Rollout.objects.filter(route=name, status__in=ACTIVE).first()
    if rollout is None:
        raise RoutingError(f"route {name!r} has no rollout running")
    return rollout


def _finish(rollout: Any, status: str, message: str, *, decision: dict[str, Any] | None = None) -> bool:
    """Move ``rollout`` from the step and status it was read at; False if another process did first."""
    from fastapi_gateway.routing.models import Rollout

    now = timezone.now()
    decisions = [*rollout.decisions, decision] if decision else rollout.decisions
    return bool(Rollout.objects.filter(pk=rollout.pk, step=rollout.step, status=rollout.status).update(
        status=status, message=message, finished_at=now if status not in ACTIVE else None, decisions=decisions,
        lease_holder="", lease_until=None,
    ))


def stop_rollout(name: str, *, actor: str = "", reason: str = "") -> Any:
    """Stop a route's rollout where it is; the route keeps its state (roll it back if needed)."""
    rollout = _active(name)
    if not _finish(rollout, "stopped", f"stopped by {actor or '?'}" + (f": {reason}" if reason else ""),
                   decision={"at": timezone.now().isoformat(), "action": "stop", "by": actor, "reason": reason}):
        raise RoutingError(f"rollout #{rollout.pk} changed meanwhile; try again")
    rollout.refresh_from_db()
    return rollout


def pause_rollout(name: str, *, actor: str = "", reason: str = "") -> Any:
    rollout = _active(name)
    if rollout.status == "paused":
        return rollout
    _finish(rollout, "paused", f"paused by {actor or '?'}" + (f": {reason}" if reason else ""),
            decision={"at": timezone.now().isoformat(), "action": "pause", "by": actor, "reason": reason})
    rollout.refresh_from_db()
    return rollout


def resume_rollout(name: str, *, actor: str = "", reason: str = "") -> Any:
    """Resume a paused rollout at its step, from the route's current state if it is that step's."""
    from fastapi_gateway.routing.models import Rollout
    from fastapi_gateway.routing.table import set_route_state

    rollout = _active(name)
    if rollout.status != "paused":
        raise RoutingError(f"rollout #{rollout.pk} is {rollout.status}, not paused")
    step = Step.of(rollout.steps[rollout.step])
    with transaction.atomic():
        updated = Rollout.objects.filter(pk=rollout.pk, status="paused", step=rollout.step).update(
            status="running", step_started_at=timezone.now(), message=f"resumed by {actor or '?'} at step "
            f"{rollout.step + 1}/{len(rollout.steps)}: {step}",
            decisions=[*rollout.decisions, {"at": timezone.now().isoformat(), "action": "resume", "by": actor, "reason": reason}],
        )
        if not updated:
            raise RoutingError(f"rollout #{rollout.pk} changed meanwhile; try again")
        if _current_step(name) != step:
            set_route_state(name, step.state.value, percent=step.percent if step.state is RouteState.CANARY else None,
                            actor=_rollout_actor(rollout), reason=f"rollout #{rollout.pk} resumed by {actor or '?'}: step "
                            f"{rollout.step + 1}/{len(rollout.steps)} {step}")
    rollout.refresh_from_db()
    return rollout


def _current_step(name: str) -> Step:
    from fastapi_gateway.routing.models import RouteStateRecord

    record = RouteStateRecord.objects.filter(name=name).first()
    if record is None:
        return Step(RouteState.LEGACY)
    state = RouteState(record.state)
    return Step(state, record.percent if state is RouteState.CANARY else 0)


def _decide(rollout: Any, now: datetime) -> str | None:
    """Evaluate one running rollout this process holds the lease of; the action taken, if any."""
    from fastapi_gateway.routing.models import Rollout
    from fastapi_gateway.routing.table import set_route_state

    plan = _plan_of(rollout)
    step = plan.steps[rollout.step]
    position = f"step {rollout.step + 1}/{len(plan.steps)} {step}"
    current = _current_step(rollout.route)
    if current != step:
        # Someone moved the route: the rollout stands aside until a person resumes it.
        if not _finish(rollout, "paused", f"paused: the route was moved to {current} outside the rollout (at {position})",
                       decision={"at": now.isoformat(), "action": "pause", "reason": f"route moved to {current}"}):
            return None  # another process moved the rollout on meanwhile: the route is its step
        logger.warning("rollout #%d of %s paused: the route was moved to %s", rollout.pk, rollout.route, current)
        return "pause"
    started = rollout.step_started_at or now
    held = (now - started).total_seconds()
    # Whole buckets only: the bucket the step started in also holds the step before's numbers
    # (another rollout's failures, say), so the window starts at the first bucket after it.
    first = bucket_start(started)
    if first < started:
        first += timedelta(seconds=BUCKET_SECONDS)
    since = max(first, bucket_start(now - timedelta(seconds=plan.hold_seconds)))
    sides = route_numbers(since, names=[rollout.route]).get(rollout.route, {})
    legacy = sides.get("legacy", SideNumbers())
    if legacy.requests < plan.min_requests:
        # Legacy answers too little in this window to compare with (``new`` sends it nothing):
        # its numbers from the hour before the rollout to now stand in.
        baseline = route_numbers(rollout.started_at - timedelta(hours=1), names=[rollout.route]).get(rollout.route, {})
        legacy = baseline.get("legacy", legacy)
    verdict = evaluate(plan, step, legacy, sides.get("new", SideNumbers()), held)
    check = {"at": now.isoformat(), "action": verdict.action, "summary": verdict.summary, **verdict.numbers}
    if verdict.action == "wait":
        Rollout.objects.filter(pk=rollout.pk, step=rollout.step, status="running").update(
            last_check=check, message=f"{position}: {verdict.summary}")
        return None
    decision = {**check, "step_index": rollout.step}
    with transaction.atomic():
        if verdict.action == "rollback":
            message = f"rolled back to legacy at {position}: {verdict.summary}"
            if not _finish(rollout, "rolled_back", message, decision=decision):
                return None
            set_route_state(rollout.route, RouteState.LEGACY.value, actor=_rollout_actor(rollout),
                            reason=f"rollout #{rollout.pk} gate failed at {position}: {verdict.summary}")
            Rollout.objects.filter(pk=rollout.pk).update(last_check=check)
            logger.warning("rollout #%d of %s rolled back to legacy: %s", rollout.pk, rollout.route, verdict.summary,
                           extra={"event": "rollout_rollback", "route": rollout.route})
            return "rollback"
        if rollout.step + 1 >= len(plan.steps):
            message = f"done: {step} held ({verdict.summary})"
            if not _finish(rollout, "done", message, decision=decision):
                return None
            Rollout.objects.filter(pk=rollout.pk).update(last_check=check)
            logger.info("rollout #%d of %s done at %s", rollout.pk, rollout.route, step)
            return "done"
        following = plan.steps[rollout.step + 1]
        updated = Rollout.objects.filter(pk=rollout.pk, step=rollout.step, status="running").update(
            step=rollout.step + 1, step_started_at=now, last_check=check, decisions=[*rollout.decisions, decision],
            message=f"step {rollout.step + 2}/{len(plan.steps)}: {following} (after {step}: {verdict.summary})",
        )
        if not updated:
            return None
        set_route_state(rollout.route, following.state.value,
                        percent=following.percent if following.state is RouteState.CANARY else None,
                        actor=_rollout_actor(rollout),
                        reason=f"rollout #{rollout.pk} {position} -> {following}: {verdict.summary}")
    logger.info("rollout #%d of %s: %s -> %s (%s)", rollout.pk, rollout.route, step, following, verdict.summary)
    return "advance"


def tick(*, holder: str | None = None, lease_seconds: float = 10.0, now: datetime | None = None) -> dict[int, str]:
    """One round of the controller in this process: each running rollout whose lease it gets."""
    from fastapi_gateway.routing.models import Rollout
    from fastapi_gateway.routing.table import declared_routes

    holder = holder or _source()
    now = now or timezone.now()
    declared = {route.name for route in declared_routes()}
    actions: dict[int, str] = {}
    for rollout in Rollout.objects.filter(status="running"):
        if rollout.route not in declared:
            continue
        got = Rollout.objects.filter(pk=rollout.pk, status="running").filter(
            Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_holder=holder)
        ).update(lease_holder=holder, lease_until=now + timedelta(seconds=lease_seconds))
        if not got:
            continue
        rollout.refresh_from_db()
        action = _decide(rollout, now)
        if action:
            actions[rollout.pk] = action
    return actions


class RolloutController:
    """Runs ``tick`` every ``interval`` seconds in each serving process, on ``orm``'s kept
    connection if given."""

    def __init__(self, interval: float, *, orm: KeptConnectionThread | None = None) -> None:
        self.interval = interval
        self.holder = _source()
        self.orm = orm

    async def run_forever(self) -> None:
        from fastapi_gateway.orm import run_orm

        runner = self.orm.run if self.orm is not None else run_orm
        lease = max(10.0, self.interval * 4)
        # A process that cannot reach the database lets its leases expire: another decides.
        await every(self.interval, functools.partial(runner, tick, holder=self.holder, lease_seconds=lease), logger=logger,
                    failing="rollout controller could not run (%s)", recovered="rollout controller running again")


def rollout_progress(rollout: Any, now: datetime | None = None) -> str:
    """One line for ``manage.py routes`` and the console."""
    now = now or timezone.now()
    steps = [str(Step.of(step)) for step in rollout.steps]
    if rollout.status not in ACTIVE:
        return f"rollout #{rollout.pk} {rollout.status.replace('_', ' ')}: {rollout.message}"
    held = (now - rollout.step_started_at).total_seconds() if rollout.step_started_at else 0
    check = rollout.last_check or {}
    samples = check.get("samples", 0) if check.get("step") == steps[rollout.step] else 0
    plan = " → ".join(f"[{step}]" if index == rollout.step else step for index, step in enumerate(steps))
    if rollout.status == "paused":
        return f"rollout #{rollout.pk} paused at step {rollout.step + 1}/{len(steps)}: {rollout.message} ({plan})"
    return (f"rollout #{rollout.pk} step {rollout.step + 1}/{len(steps)} {steps[rollout.step]}: held {held:.0f}/"
            f"{rollout.hold_seconds} s, {samples}/{rollout.min_requests} requests ({plan})")
