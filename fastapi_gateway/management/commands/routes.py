"""``manage.py routes`` — list, flip and roll back migrated routes, live on every worker; start,
stop, pause and resume their self-driving rollouts; and see how much of the URLconf has moved."""

from __future__ import annotations

import dataclasses
import getpass
import json
from argparse import ArgumentParser
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from fastapi_gateway.exceptions import RoutingError
from fastapi_gateway.migrated_route import RouteState
from fastapi_gateway.routing.coverage import coverage_rows, coverage_summary
from fastapi_gateway.routing.rollouts import (
    DEFAULT_STEPS,
    Step,
    declared_plan,
    parse_steps,
    pause_rollout,
    resume_rollout,
    rollout_progress,
    start_rollout,
    stop_rollout,
)
from fastapi_gateway.routing.traffic import UNRESOLVED
from fastapi_gateway.routing.table import declared_routes, rollback_route, set_route_state

# ``routes rollout`` options and the ``RolloutPlan`` fields they override.
_PLAN_OPTIONS = {
    "hold": "hold_seconds",
    "min_requests": "min_requests",
    "max_5xx_increase": "max_error_rate_increase",
    "max_p99_ratio": "max_p99_ratio",
    "max_mismatch_rate": "max_mismatch_rate",
    "max_fallback_rate": "max_fallback_rate",
}


def _actor(explicit: str | None) -> str:
    if explicit:
        return explicit
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "cli"


class Command(BaseCommand):
    help = (
        "List migrated routes with their states; `set NAME STATE` or `rollback NAME` changes one; "
        "`rollout NAME` moves one step by step on its own numbers; `coverage` shows what has moved."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="print every route as a JSON list (same as `list --json`)")
        actions = parser.add_subparsers(dest="action")
        listing = actions.add_parser("list", help="the route table (the default)")
        listing.add_argument("--json", action="store_true", help="machine-readable output")
        setter = actions.add_parser("set", help="move a route to a state")
        setter.add_argument("name")
        setter.add_argument("state", help=", ".join(state.value for state in RouteState))
        setter.add_argument("--percent", type=int, default=None, help="share of users on the new side (canary)")
        setter.add_argument("--reason", default="", help="why, for the audit trail")
        setter.add_argument("--actor", default=None, help="who (default: cli:<login name>)")
        rollback = actions.add_parser("rollback", help="step a route back: undo its latest change not yet undone")
        rollback.add_argument("name")
        rollback.add_argument("--reason", default="")
        rollback.add_argument("--actor", default=None)
        history = actions.add_parser("history", help="the audit trail of a route (or all)")
        history.add_argument("name", nargs="?")
        history.add_argument("--limit", type=int, default=20)
        rollout = actions.add_parser(
            "rollout", help="start a self-driving rollout of a route (the serving processes advance it), or stop, pause or resume it",
        )
        rollout.add_argument("name")
        control = rollout.add_mutually_exclusive_group()
        control.add_argument("--stop", action="store_true", help="stop the route's rollout; the route keeps its state")
        control.add_argument("--pause", action="store_true", help="hold the rollout at its step")
        control.add_argument("--resume", action="store_true", help="go on from the step it was paused at")
        rollout.add_argument("--steps", default=None, help=f"comma-separated steps (default: the plan declared on the route, else {DEFAULT_STEPS})")
        rollout.add_argument("--hold", type=int, default=None, metavar="SECONDS", help="least time each step is held")
        rollout.add_argument("--min-requests", type=int, default=None, metavar="N", help="least requests (comparisons in shadow) per step")
        rollout.add_argument("--max-5xx-increase", type=float, default=None, metavar="F", help="new side's 5xx rate at most legacy's + F")
        rollout.add_argument("--max-p99-ratio", type=float, default=None, metavar="F", help="new side's p99 at most F × legacy's")
        rollout.add_argument("--max-mismatch-rate", type=float, default=None, metavar="F", help="share of shadow comparisons that may differ")
        rollout.add_argument("--max-fallback-rate", type=float, default=None, metavar="F", help="share of new-side requests that may fall back")
        rollout.add_argument("--reason", default="", help="why, for the audit trail")
        rollout.add_argument("--actor", default=None, help="who (default: cli:<login name>)")
        coverage = actions.add_parser("coverage", help="every URL pattern of the URLconf: requests, and the route covering it")
        coverage.add_argument("--json", action="store_true", help="machine-readable output: a JSON list of patterns")
        coverage.add_argument("--since", type=float, default=None, metavar="MINUTES", help="count only the last MINUTES (default: every kept sample)")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options.get("action") or "list"
        try:
            if action == "set":
                setting = set_route_state(
                    options["name"], options["state"], percent=options["percent"],
                    reason=options["reason"], actor=_actor(options["actor"]),
                )
                suffix = f" ({setting.percent}%)" if setting.state is RouteState.CANARY else ""
                self.stdout.write(self.style.SUCCESS(f"{options['name']} is now {setting.state.value}{suffix}"))
            elif action == "rollback":
                setting = rollback_route(options["name"], reason=options["reason"], actor=_actor(options["actor"]))
                suffix = f" ({setting.percent}%)" if setting.state is RouteState.CANARY else ""
                self.stdout.write(self.style.SUCCESS(f"{options['name']} rolled back to {setting.state.value}{suffix}"))
            elif action == "history":
                self._history(options.get("name"), options["limit"])
            elif action == "rollout":
                self._rollout(options)
            elif action == "coverage":
                self._coverage(as_json=options.get("json", False), since_minutes=options["since"])
            else:
                self._list(as_json=options.get("json", False))
        except RoutingError as exc:
            raise CommandError(str(exc)) from exc

    def _rows(self) -> list[dict[str, Any]]:
        from fastapi_gateway.routing.models import Rollout, RouteChange, RouteStateRecord

        records = {record.name: record for record in RouteStateRecord.objects.all()}
        rows = []
        for route in declared_routes():
            record = records.get(route.name)
            change = RouteChange.objects.filter(name=route.name).first()  # the last one
            rollout = Rollout.objects.filter(route=route.name).first()  # the latest one
            rows.append({
                "name": route.name,
                "legacy": route.legacy,
                "new": route.new,
                "state": record.state if record else RouteState.LEGACY.value,
                "percent": record.percent if record and record.state == RouteState.CANARY.value else 0,
                "changed_at": change.changed_at.isoformat() if change else None,
                "changed_by": change.changed_by if change else "",
                "reason": change.reason if change else "",
                "rollout": _rollout_row(rollout) if rollout else None,
            })
        return rows

    def _list(self, *, as_json: bool) -> None:
        rows = self._rows()
        if as_json:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write("No migrated routes are declared (GATEWAY['ROUTES'] in settings).")
            return
        header = ("NAME", "STATE", "PERCENT", "LEGACY URL", "NEW URL", "LAST CHANGE")
        lines = [header] + [
            (
                row["name"], row["state"], f"{row['percent']}%" if row["state"] == "canary" else "-",
                row["legacy"], row["new"],
                f"{timezone.localtime(datetime.fromisoformat(row['changed_at'])):%Y-%m-%d %H:%M:%S} by {row['changed_by'] or '?'}"
                if row["changed_at"] else "never",
            )
            for row in rows
        ]
        for line, row in zip(_table(lines), [None, *rows], strict=True):
            self.stdout.write(line)
            rollout = row["rollout"] if row else None
            if rollout and rollout["active"]:
                self.stdout.write(f"  {rollout['progress']}")

    def _history(self, name: str | None, limit: int) -> None:
        from fastapi_gateway.routing.models import RouteChange

        changes = RouteChange.objects.all()
        if name:
            changes = changes.filter(name=name)
        for change in changes[:limit]:
            percent = f" {change.to_percent}%" if change.to_state == "canary" else ""
            self.stdout.write(
                f"{change.changed_at:%Y-%m-%d %H:%M:%S}  {change.name}  {change.from_state} -> {change.to_state}{percent}"
                f"  by {change.changed_by or '?'}" + (f"  ({change.reason})" if change.reason else "")
            )

    # -- rollouts -------------------------------------------------------------------------------
    def _rollout(self, options: dict[str, Any]) -> None:
        name, actor, reason = options["name"], _actor(options["actor"]), options["reason"]
        names = [route.name for route in declared_routes()]
        if name not in names:
            raise RoutingError(f"unknown route {name!r}; declared routes: {', '.join(names) or '(none)'}")
        overrides = {field: options[option] for option, field in _PLAN_OPTIONS.items() if options.get(option) is not None}
        control = next((word for word in ("stop", "pause", "resume") if options.get(word)), None)
        if control is not None:
            if overrides or options.get("steps") is not None:
                raise RoutingError(f"--steps, --hold and the gates are for starting a rollout, not with --{control}")
            change = {"stop": stop_rollout, "pause": pause_rollout, "resume": resume_rollout}[control]
            rollout = change(name, actor=actor, reason=reason)
            self.stdout.write(self.style.SUCCESS(_controlled(rollout, control)))
            return
        if options.get("steps") is not None:
            overrides["steps"] = parse_steps(options["steps"])
        plan = dataclasses.replace(declared_plan(name), **overrides)
        rollout = start_rollout(name, plan, actor=actor, reason=reason)
        self.stdout.write(self.style.SUCCESS(
            f"rollout #{rollout.pk} of {name} started: {' → '.join(map(str, plan.steps))}; each step held at least "
            f"{plan.hold_seconds} s and {plan.min_requests} requests while its gates hold. The serving processes "
            f"advance it; `manage.py routes` shows where it is."
        ))

    # -- coverage -------------------------------------------------------------------------------
    def _coverage(self, *, as_json: bool, since_minutes: float | None) -> None:
        if since_minutes is not None and not 0 < since_minutes <= 10 * 365 * 24 * 60:
            raise CommandError(f"--since is a number of minutes above 0 (at most ten years), not {since_minutes:g}")
        since = timezone.now() - timedelta(minutes=since_minutes) if since_minutes is not None else None
        rows = coverage_rows(since)
        if as_json:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        header = ("PATTERN", "NAME", "REQUESTS", "NEW", "ROUTE", "STATE", "VIEW")
        lines = [header] + [
            (
                _pattern_label(row),
                row["name"] or "-", f"{row['requests']:,}", _share(row["new_share"]) if row["requests"] else "-",
                row["route"] or "-",
                (f"canary {row['percent']}%" if row["state"] == RouteState.CANARY.value else row["state"]) if row["route"] else "-",
                row["view"] or "-",
            )
            for row in rows
        ]
        for line in _table(lines):
            self.stdout.write(line)
        summary = coverage_summary(rows)
        window = f" in the last {since_minutes:g} minutes" if since_minutes is not None else ""
        verb = "has" if summary["covered"] == 1 else "have"
        served = (
            f"the new side served {_share(summary['new_share'])} of {summary['requests']:,} requests{window}"
            if summary["requests"] else f"no requests recorded{window}"
        )
        self.stdout.write(f"\n{summary['covered']} of {summary['patterns']} URL patterns {verb} a declared route; {served}")


def _pattern_label(row: dict[str, Any]) -> str:
    if row["pattern"] is None:
        return "(no pattern: 404)"
    if row["pattern"] == UNRESOLVED:
        return "(paths past a process's cap)"
    return (row["pattern"] or "''") + ("" if row["in_urlconf"] else " (gone)")


def _table(lines: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(str(line[index])) for line in lines) for index in range(len(lines[0]))]
    return ["  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines]


def _share(share: float) -> str:
    """A share as a whole percentage, never rounded to 0 % or 100 % when it is not."""
    if 0 < share < 0.005:
        return "<1%"
    if 0.995 <= share < 1:
        return ">99%"
    return f"{share:.0%}"


def _rollout_row(rollout: Any) -> dict[str, Any]:
    """A rollout in ``routes --json``: ``step`` indexes ``steps``."""
    return {
        "id": rollout.pk,
        "status": rollout.status,
        "active": rollout.status in ("running", "paused"),
        "step": rollout.step,
        "steps": [Step.of(step).as_dict() for step in rollout.steps],
        "message": rollout.message,
        "progress": rollout_progress(rollout),
        "started_at": rollout.started_at.isoformat(),
        "started_by": rollout.started_by,
        "finished_at": rollout.finished_at.isoformat() if rollout.finished_at else None,
    }


def _controlled(rollout: Any, action: str) -> str:
    step = Step.of(rollout.steps[rollout.step])
    where = f"step {rollout.step + 1}/{len(rollout.steps)} ({step})"
    if action == "stop":
        return (f"rollout #{rollout.pk} of {rollout.route} stopped at {where}; the route keeps its state "
                f"(`manage.py routes rollback {rollout.route}` steps it back)")
    if action == "pause":
        return f"rollout #{rollout.pk} of {rollout.route} paused at {where}"
    return f"rollout #{rollout.pk} of {rollout.route} resumed at {where}"
