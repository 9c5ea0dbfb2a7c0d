"""What the migration console shows, as plain rows: every declared route with its state, last
change, numbers per side, parity and rollout, and one route's drill-down.

Functions of the database alone (no Gradio), run in a worker thread (``run_orm``) and called
by the tests directly; ``console.page`` turns them into tables and charts. Every declared route
is listed, touched or not: one never changed shows as legacy, with zero requests. What the
shadow store and parity reports hold is shown redacted again with today's rule, as the admin
shows it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from fastapi_gateway.migrated_route import RouteState
from fastapi_gateway.parity.difference import Difference
from fastapi_gateway.parity.redaction import Redactor
from fastapi_gateway.routing.rollouts import ACTIVE, Step, rollout_progress
from fastapi_gateway.routing.table import LEGACY, declared_routes, load_states
from fastapi_gateway.routing.traffic import BUCKET_SECONDS, SideNumbers, route_numbers, route_timeline

__all__ = [
    "ReportUrl",
    "audit_rows",
    "body_language",
    "chart_points",
    "coverage",
    "mismatch_detail",
    "mismatch_rows",
    "parity_rows",
    "rollout_rows",
    "route_names",
    "route_overview",
    "shown_time",
]

ReportUrl = Callable[[int], str]  # a parity run's id -> the URL of its HTML report
_PARITY_RUNS_READ = 200  # the latest runs looked through for each route's last result


def shown_time(moment: datetime | None) -> str:
    """A moment in the site's time zone, to the second ("" for never)."""
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S}" if moment else ""


def route_names() -> list[str]:
    """The declared routes' names: the only route names the console accepts."""
    return [route.name for route in declared_routes()]


def _state_text(state: str, percent: int) -> str:
    return f"canary {percent}%" if state == RouteState.CANARY.value else state


def route_overview(since: datetime, *, report_url: ReportUrl, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """One row per declared route (or per declared route among ``names``): state, last change,
    each side's numbers from ``since`` (summed over every process and host), last parity
    result, rollout and what to do next."""
    from fastapi_gateway.parity.runs import next_step_hint
    from fastapi_gateway.routing.models import RouteChange, Rollout

    only = None if names is None else set(names)
    routes = [route for route in declared_routes() if only is None or route.name in only]
    shown = [route.name for route in routes]
    states = load_states(shown, only=only is not None)
    numbers = route_numbers(since, names=shown)
    parity = _last_parity(shown, report_url)
    rows = []
    for route in routes:
        setting = states.get(route.name, LEGACY)
        change = RouteChange.objects.filter(name=route.name).first()
        rollout = Rollout.objects.filter(route=route.name).first()
        sides = numbers.get(route.name, {})
        legacy, new = sides.get("legacy", SideNumbers()), sides.get("new", SideNumbers())
        rows.append({
            "route": route.name,
            "legacy_url": route.legacy,
            "new_url": route.new,
            "state": setting.state.value,
            "percent": setting.percent,
            "state_text": _state_text(setting.state.value, setting.percent),
            "changed_at": shown_time(change.changed_at) if change else "",
            "changed_by": change.changed_by if change else "",
            "reason": change.reason if change else "",
            "legacy": legacy.as_dict(),
            "new": new.as_dict(),
            **parity.get(route.name, {"parity": "", "parity_run": None, "parity_report": None}),
            "rollout": rollout_progress(rollout) if rollout is not None else "",
            "rollout_active": rollout is not None and rollout.status in ACTIVE,
            "next_step": next_step_hint(route.name),
        })
    return rows


def _parity_text(run: Any, name: str) -> str:
    if run.status == "running":
        return f"#{run.pk} running {run.done}/{run.total or '?'}"
    mine = (run.summary or {}).get(name) if isinstance(run.summary, dict) else None
    if isinstance(mine, dict) and "cases" in mine:
        return f"#{run.pk} {run.status}: {mine.get('passed', 0)}/{mine.get('cases', 0)} cases passed"
    return f"#{run.pk} {run.status}"


def _last_parity(names: Iterable[str], report_url: ReportUrl) -> dict[str, dict[str, Any]]:
    """Each route's latest parity run (one naming it, or one of every route)."""
    from fastapi_gateway.routing.models import ParityRun

    wanted = set(names)
    found: dict[str, dict[str, Any]] = {}
    for run in ParityRun.objects.defer("report", "output")[:_PARITY_RUNS_READ]:
        covered = wanted if not run.routes else wanted.intersection(run.routes)
        for name in covered - found.keys():
            found[name] = {
                "parity": _parity_text(run, name),
                "parity_run": run.pk,
                "parity_report": report_url(run.pk) if run.status != "running" else None,
            }
        if found.keys() == wanted:
            break
    return found


def chart_points(name: str, since: datetime, *, now: datetime, step_seconds: int) -> dict[str, list[dict[str, Any]]]:
    """The route's numbers over time for the charts: ``requests`` and ``errors`` (5xx, percent)
    per side, a point each step (0 when nothing was answered, so a line is drawn), and
    ``latency`` (p50 and p99 per side, ms) where there were requests; ``minutes`` is negative,
    0 being now."""
    step = max(BUCKET_SECONDS, step_seconds // BUCKET_SECONDS * BUCKET_SECONDS)
    measured = {(point["time"].timestamp(), point["side"]): point
                for point in route_timeline(name, since, step_seconds=step)}
    requests: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    latency: list[dict[str, Any]] = []
    start = since.timestamp() // step * step
    for moment in sorted({start + step * index for index in range(int((now.timestamp() - start) // step) + 1)}
                         | {moment for moment, _ in measured}):
        minutes = round((moment - now.timestamp()) / 60, 2)
        for side in ("legacy", "new"):
            point = measured.get((moment, side))
            requests.append({"minutes": minutes, "side": side, "requests": point["requests"] if point else 0})
            errors.append({"minutes": minutes, "side": side, "errors_percent": round(point["error_rate"] * 100, 2) if point else 0.0})
            for quantile in ("p50", "p99"):
                if point is not None and point[f"{quantile}_ms"] is not None:
                    latency.append({"minutes": minutes, "series": f"{side} {quantile}", "ms": point[f"{quantile}_ms"]})
    return {"requests": requests, "errors": errors, "latency": latency}


def _fields(differences: Any) -> str:
    paths = [str(item.get("path", "?")) for item in differences if isinstance(item, dict)] if isinstance(differences, list) else []
    return ", ".join(paths[:4]) + (" …" if len(paths) > 4 else "")


def mismatch_rows(name: str, limit: int = 50) -> list[dict[str, Any]]:
    """The route's stored kinds of shadow mismatch, latest first (URLs redacted)."""
    from fastapi_gateway.routing.models import ShadowMismatch

    redactor = Redactor.from_settings()
    return [
        {
            "id": record.pk, "count": record.count, "first_seen": shown_time(record.first_seen),
            "last_seen": shown_time(record.last_seen), "method": record.method, "path": redactor.url(record.path),
            "fields": _fields(record.differences), "legacy_status": record.legacy_status,
            "new_status": record.new_status,
        }
        for record in ShadowMismatch.objects.filter(route=name).order_by("-last_seen", "-id")[:limit]
    ]


def mismatch_detail(name: str, mismatch_id: int) -> dict[str, Any] | None:
    """Both sides of one stored mismatch of route ``name``, redacted again; None when the route
    has no such mismatch (an id is never looked up outside the route it was asked under)."""
    from fastapi_gateway.routing.models import ShadowMismatch

    record = ShadowMismatch.objects.filter(route=name, pk=mismatch_id).first()
    if record is None:
        return None
    redactor = Redactor.from_settings()
    differences = [Difference.from_dict(item) for item in record.differences if isinstance(item, dict)]
    try:
        diff_url: str | None = reverse("admin:gateway_routing_shadowmismatch_diff", args=[record.pk])
    except NoReverseMatch:
        diff_url = None
    return {
        "id": record.pk, "method": record.method, "path": redactor.url(record.path), "count": record.count,
        "legacy_status": record.legacy_status, "new_status": record.new_status,
        "legacy_body": redactor.stored_text(record.legacy_body),
        "new_body": redactor.stored_text(record.new_body) if record.new_status is not None else "",
        "differences": [difference.as_dict() for difference in redactor.differences(differences)],
        "diff_url": diff_url,
    }


def body_language(text: str) -> str | None:
    """How to highlight a stored body: ``json``, ``html`` or plain (None)."""
    try:
        json.loads(text)
    except ValueError:
        return "html" if text.lstrip().startswith("<") else None
    return "json"


def audit_rows(name: str, limit: int = 50) -> list[dict[str, Any]]:
    """The route's audit trail, latest first: the same rows ``manage.py routes history`` prints."""
    from fastapi_gateway.routing.models import RouteChange

    return [
        {
            "id": change.pk, "at": shown_time(change.changed_at),
            "from": _state_text(change.from_state, change.from_percent), "to": _state_text(change.to_state, change.to_percent),
            "by": change.changed_by, "reason": change.reason, "undoes": change.undoes_id,
        }
        for change in RouteChange.objects.filter(name=name)[:limit]
    ]


def parity_rows(name: str | None, *, report_url: ReportUrl, limit: int = 20) -> list[dict[str, Any]]:
    """Parity runs, latest first: all of them, or those that compared route ``name``."""
    from fastapi_gateway.routing.models import ParityRun

    rows = []
    for run in ParityRun.objects.defer("report", "output")[:_PARITY_RUNS_READ]:
        if name is not None and run.routes and name not in run.routes:
            continue
        rows.append({
            "id": run.pk, "started_at": shown_time(run.started_at), "by": run.started_by, "reason": run.reason,
            "routes": ", ".join(run.routes) if run.routes else "all", "status": run.status,
            "progress": f"{run.done}/{run.total}" if run.total else str(run.done),
            "result": _parity_text(run, name) if name else f"#{run.pk} {run.status}",
            "finished_at": shown_time(run.finished_at),
            "report": report_url(run.pk) if run.status != "running" else None,
        })
        if len(rows) >= limit:
            break
    return rows


def rollout_rows(name: str, limit: int = 20) -> list[dict[str, Any]]:
    """The route's rollouts, latest first, each with its progress line."""
    from fastapi_gateway.routing.models import Rollout

    return [
        {
            "id": rollout.pk, "status": rollout.status, "started_at": shown_time(rollout.started_at),
            "by": rollout.started_by, "reason": rollout.reason,
            "steps": " → ".join(str(Step.of(step)) for step in rollout.steps),
            "progress": rollout_progress(rollout), "finished_at": shown_time(rollout.finished_at),
        }
        for rollout in Rollout.objects.filter(route=name)[:limit]
    ]


def coverage(since: datetime | None = None) -> list[dict[str, Any]]:
    """Every URL pattern of the URLconf with its requests, the route covering it and its state
    (``manage.py routes coverage``'s rows)."""
    from fastapi_gateway.routing.coverage import coverage_rows

    return coverage_rows(since=since)
