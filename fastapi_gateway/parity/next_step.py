"""What to do next with a migrated route, in one line with the exact command.

Read from what the route table already knows: the route's state, its running rollout, its
last parity result (a stored ``ParityRun``, or the run the command has just made) and, in
shadow, the kinds of mismatch recorded. Shown after a clean ``manage.py parity``, beside
each route in the admin, and in the console.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import NoReverseMatch, reverse

from fastapi_gateway.exceptions import RoutingError
from fastapi_gateway.migrated_route import RouteState
from fastapi_gateway.parity.results import RouteSummary
from fastapi_gateway.routing.table import declared_routes

__all__ = ["RouteParity", "last_route_parity", "next_step_hint"]

_CANARY_STEPS = (5, 25, 50, 100)
_RUNS_SCANNED = 200


def _count(value: Any) -> int:
    """A number from a stored summary (JSON anyone with database access could have written)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


@dataclass(frozen=True)
class RouteParity:
    """A route's share of one parity run; ``run`` is the stored run's id (None: not stored)."""

    cases: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    run: int | None = None
    error: str = ""  # why the run as a whole could not be made

    @classmethod
    def of_summary(cls, summary: RouteSummary) -> RouteParity:
        return cls(cases=summary.cases, passed=summary.agree + summary.noise, failed=summary.differ, errors=summary.errors)

    @property
    def status(self) -> str:
        return "error" if self.error or self.errors else "failed" if self.failed else "passed"

    def describe(self) -> str:
        where = f" (run #{self.run})" if self.run is not None else ""
        if self.error:
            return f"error{where}: {self.error}"
        if self.errors:
            return f"error{where}: {self.errors} of {self.cases} cases could not be run"
        if self.failed:
            return f"failed{where}: {self.failed} of {self.cases} cases differ"
        return f"passed{where}: {self.passed} of {self.cases} cases agree"


def last_route_parity(name: str) -> RouteParity | None:
    """The route's result in the latest finished run that compared it (ORM: call from a thread)."""
    from fastapi_gateway.routing.models import ParityRun

    runs = ParityRun.objects.exclude(status="running").defer("report").order_by("-started_at", "-id")
    for run in runs[:_RUNS_SCANNED]:
        numbers = run.summary.get(name) if isinstance(run.summary, dict) else None
        if isinstance(numbers, dict):
            return RouteParity(
                cases=_count(numbers.get("cases")), passed=_count(numbers.get("passed")),
                failed=_count(numbers.get("failed")), errors=_count(numbers.get("errors")), run=run.pk,
            )
        if run.status == "error" and (not run.routes or name in run.routes):
            first_line = (run.output or "").strip().splitlines()[:1]
            return RouteParity(run=run.pk, error=first_line[0] if first_line else "the run could not be made")
    return None


def _admin_link(view: str, *args: Any) -> str:
    try:
        return f" ({reverse(view, args=args)})"
    except NoReverseMatch:  # a project without the admin
        return ""


def _running_parity(name: str) -> str | None:
    from fastapi_gateway.parity.runs import running_run

    run = running_run()
    if run is None or (run.routes and name not in run.routes):
        return None
    return f"parity run #{run.pk} running ({run.done}/{run.total or '?'} cases){_admin_link('admin:gateway_routing_parityrun_change', run.pk)}"


def _canary(name: str, percent: int, parity: RouteParity | None) -> str:
    if parity is not None and parity.status != "passed":
        return f"parity {parity.describe()}: fix the differences first, or go back: manage.py routes rollback {name}"
    following = next((step for step in _CANARY_STEPS if step > percent), None)
    finish = f"set new (manage.py routes set {name} new)"
    if following is None:
        return f"canary {percent}%: {finish}"
    return f"canary {percent}%: raise the percentage (manage.py routes set {name} canary --percent {following}) or {finish}"


def _shadow_mismatches(name: str) -> str | None:
    from django.db.models import Count, Sum

    from fastapi_gateway.routing.models import ShadowMismatch

    seen = ShadowMismatch.objects.filter(route=name).aggregate(kinds=Count("id"), requests=Sum("count"))
    if not seen["kinds"]:
        return None
    requests, kinds = seen["requests"] or 0, seen["kinds"]
    return (f"{requests} shadow mismatch{'es' * (requests != 1)} ({kinds} kind{'s' * (kinds != 1)}): see the shadow report"
            f"{_admin_link('admin:gateway_routing_shadowmismatch_report')}")


def next_step_hint(name: str, *, parity: RouteSummary | None = None) -> str:
    """One line: what to do next with route ``name``, with the command that does it.

    ``parity`` is the route's result of a run just made and not stored (the command's);
    without it, the latest stored run that compared the route counts. ORM: call from a thread.
    """
    from fastapi_gateway.routing.models import Rollout, RouteStateRecord
    from fastapi_gateway.routing.rollouts import ACTIVE, rollout_progress

    names = [route.name for route in declared_routes()]
    if name not in names:
        raise RoutingError(f"unknown route {name!r}; declared routes: {', '.join(names) or '(none)'}")
    record = RouteStateRecord.objects.filter(name=name).first()
    try:
        state = RouteState(record.state) if record is not None else RouteState.LEGACY
    except ValueError:  # a state no worker serves: they serve legacy
        state = RouteState.LEGACY
    rollout = Rollout.objects.filter(route=name, status__in=ACTIVE).first()
    if rollout is not None:
        return f"{rollout_progress(rollout)}; stop it: manage.py routes rollout {name} --stop"
    if state in (RouteState.NEW, RouteState.REDIRECT):
        return (f"{state.value}: remove the legacy view once manage.py routes coverage shows no legacy requests on it "
                f"(undo: manage.py routes rollback {name})")
    if parity is None:
        running = _running_parity(name)
        if running is not None:
            return running
    result = RouteParity.of_summary(parity) if parity is not None else last_route_parity(name)
    if state is RouteState.CANARY:
        return _canary(name, record.percent if record is not None else 0, result)
    if result is None:
        return f"run parity: manage.py parity {name}"
    report = _admin_link("admin:gateway_routing_parityrun_change", result.run) if result.run is not None else ""
    if result.status == "error":
        return f"parity {result.describe()}: see the report{report}, then manage.py parity {name}"
    if result.status == "failed":
        return f"parity {result.describe()}: fix the differences in the report{report} first, then manage.py parity {name}"
    if state is RouteState.SHADOW:
        mismatches = _shadow_mismatches(name)
        if mismatches is not None:
            return mismatches
    return f"parity clean: start a rollout (manage.py routes rollout {name}) or manage.py routes set {name} canary --percent 5"
