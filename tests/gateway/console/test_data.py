"""What the console shows, read from a real database: every route, its numbers, its drill-down."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from fastapi_gateway.console import data
from fastapi_gateway.routing.models import ParityRun, ShadowMismatch, TrafficSample
from fastapi_gateway.routing.rollouts import start_rollout
from fastapi_gateway.routing.table import set_route_state
from fastapi_gateway.routing.traffic import BUCKET_SECONDS, bucket_start, latency_index

pytestmark = pytest.mark.django_db


def _url(run_id: int) -> str:
    return f"/ui/migration/parity/{run_id}/"


def _overview(**kwargs: Any) -> dict[str, dict[str, Any]]:
    rows = data.route_overview(timezone.now() - timedelta(minutes=5), report_url=_url, **kwargs)
    return {row["route"]: row for row in rows}


def _sample(route: str, side: str, source: str, *, ago: float = 0.0, milliseconds: float = 5.0, **numbers: int) -> None:
    requests = numbers.pop("requests", 0)
    TrafficSample.objects.create(
        bucket=bucket_start(timezone.now() - timedelta(seconds=ago)), source=source, route=route, side=side,
        requests=requests, latency={str(latency_index(milliseconds / 1000)): requests} if requests else {}, **numbers,
    )


def test_every_declared_route_is_listed_touched_or_not() -> None:
    rows = data.route_overview(timezone.now() - timedelta(minutes=5), report_url=_url)
    assert [row["route"] for row in rows] == ["api-tickets", "api-ticket-detail", "tickets-page"]
    untouched = rows[0]
    assert (untouched["state_text"], untouched["changed_at"], untouched["rollout"], untouched["parity"]) == ("legacy", "", "", "")
    assert untouched["legacy"]["requests"] == untouched["new"]["requests"] == 0
    assert "manage.py parity api-tickets" in untouched["next_step"]


def test_the_last_change_says_who_when_and_why() -> None:
    set_route_state("api-tickets", "canary", percent=5, reason="first users", actor="console:admin")
    row = _overview()["api-tickets"]
    assert (row["state"], row["percent"], row["state_text"]) == ("canary", 5, "canary 5%")
    assert (row["changed_by"], row["reason"]) == ("console:admin", "first users")
    assert row["changed_at"].startswith(f"{timezone.localtime():%Y-%m-%d}")


def test_numbers_are_summed_over_every_process_within_the_window() -> None:
    _sample("api-tickets", "legacy", "host-a:1", requests=40, errors=0, milliseconds=8)
    _sample("api-tickets", "new", "host-a:1", requests=6, errors=1, fallbacks=1, shadow_agree=5, milliseconds=3)
    _sample("api-tickets", "new", "host-b:7", requests=4, errors=0, shadow_differ=2, shadow_dropped=1, milliseconds=3)
    _sample("api-tickets", "new", "host-b:7", ago=3600, requests=1000, errors=1000)  # outside the window
    row = _overview()["api-tickets"]
    legacy, new = row["legacy"], row["new"]
    assert (legacy["requests"], legacy["errors"]) == (40, 0)
    assert (new["requests"], new["errors"], new["error_rate"], new["fallbacks"]) == (10, 1, 0.1, 1)
    assert (new["shadow_agree"], new["shadow_differ"], new["shadow_dropped"]) == (5, 2, 1)
    assert 3 <= new["p50_ms"] < 4 and 3 <= new["p99_ms"] < 4
    assert 8 <= legacy["p99_ms"] < 10
    assert _overview()["api-ticket-detail"]["new"]["requests"] == 0


def test_chart_points_per_side_and_over_time() -> None:
    _sample("api-tickets", "legacy", "host-a:1", ago=2 * BUCKET_SECONDS, requests=10, milliseconds=8)
    _sample("api-tickets", "new", "host-a:1", requests=4, errors=1, milliseconds=3)
    _sample("api-tickets", "new", "host-b:2", requests=4, errors=0, milliseconds=3)
    now = timezone.now()
    charts = data.chart_points("api-tickets", now - timedelta(minutes=5), now=now, step_seconds=5)
    assert all(-5.2 <= point["minutes"] <= 0 for point in charts["requests"])
    counted = [(point["side"], point["requests"]) for point in charts["requests"] if point["requests"]]
    assert sorted(counted) == [("legacy", 10), ("new", 8)]
    # A point every 10 s bucket for each side, 0 when nothing was answered: the lines are drawn.
    assert len(charts["requests"]) in (2 * 31, 2 * 32)
    assert {point["side"]: point["errors_percent"] for point in charts["errors"] if point["errors_percent"]} == {"new": 12.5}
    assert {point["series"] for point in charts["latency"]} == {"legacy p50", "legacy p99", "new p50", "new p99"}


def test_shadow_mismatches_are_shown_redacted_and_only_under_their_route() -> None:
    record = ShadowMismatch.objects.create(
        route="api-tickets", signature="abc", method="GET", path="/api/tickets/?token=s3cr3t-token&page=2",
        differences=[{"path": "$[0].title", "legacy": "Printer", "new": "printer", "kind": "changed"},
                     {"path": "$[0].api_key", "legacy": "k-legacy-secret", "new": "k-new-secret", "kind": "changed"}],
        legacy_status=200, new_status=200,
        legacy_body=json.dumps([{"title": "Printer", "api_key": "k-legacy-secret"}]),
        new_body=json.dumps([{"title": "printer", "api_key": "k-new-secret"}]),
    )
    (row,) = data.mismatch_rows("api-tickets")
    assert row["id"] == record.pk and "s3cr3t-token" not in row["path"] and "page=2" in row["path"]
    assert row["fields"] == "$[0].title, $[0].api_key"
    detail = data.mismatch_detail("api-tickets", record.pk)
    assert detail is not None
    shown = json.dumps(detail)
    assert "secret" not in shown
    assert '"Printer"' in detail["legacy_body"] and '"printer"' in detail["new_body"]
    assert detail["differences"][0] == {"path": "$[0].title", "legacy": "Printer", "new": "printer", "kind": "changed"}
    assert data.body_language(detail["legacy_body"]) == "json"
    assert data.mismatch_detail("api-ticket-detail", record.pk) is None
    assert data.mismatch_rows("api-ticket-detail") == []


def test_the_audit_trail_latest_first() -> None:
    set_route_state("api-tickets", "shadow", reason="compare", actor="cli:ops")
    set_route_state("api-tickets", "canary", percent=25, reason="more", actor="console:admin")
    rows = data.audit_rows("api-tickets")
    assert [(row["from"], row["to"], row["by"], row["reason"]) for row in rows] == [
        ("shadow", "canary 25%", "console:admin", "more"), ("legacy", "shadow", "cli:ops", "compare")]
    assert data.audit_rows("tickets-page") == []


def test_parity_results_with_their_report_links() -> None:
    passed = ParityRun.objects.create(
        routes=["api-tickets"], status="passed", done=3, total=3, started_by="console:admin", reason="before canary",
        summary={"api-tickets": {"cases": 3, "passed": 3, "failed": 0, "errors": 0}}, report="<html>report</html>",
    )
    running = ParityRun.objects.create(routes=[], status="running", done=1, total=9)
    overview = _overview()
    assert overview["api-tickets"]["parity"] == f"#{running.pk} running 1/9", "the latest run that compares the route"
    assert overview["api-tickets"]["parity_report"] is None
    running.delete()
    row = _overview()["api-tickets"]
    assert (row["parity"], row["parity_report"]) == (f"#{passed.pk} passed: 3/3 cases passed", _url(passed.pk))
    assert _overview()["tickets-page"]["parity"] == ""
    (history,) = data.parity_rows("api-tickets", report_url=_url)
    assert (history["by"], history["status"], history["progress"], history["report"]) == ("console:admin", "passed", "3/3", _url(passed.pk))
    assert data.parity_rows("tickets-page", report_url=_url) == []


def test_a_rollout_shows_its_progress() -> None:
    rollout = start_rollout("api-tickets", actor="console:admin", reason="go")
    row = _overview()["api-tickets"]
    assert row["rollout_active"] is True
    assert row["rollout"].startswith(f"rollout #{rollout.pk} step 1/5 shadow")
    assert row["state"] == "shadow"
    (history,) = data.rollout_rows("api-tickets")
    assert history["steps"] == "shadow → canary 5% → canary 25% → canary 50% → new"
    assert (history["status"], history["by"]) == ("running", "console:admin")


def test_coverage_names_the_route_of_each_url_pattern() -> None:
    set_route_state("api-tickets", "new", reason="done", actor="test")
    rows = {row["pattern"]: row for row in data.coverage()}
    assert (rows["api/tickets/"]["route"], rows["api/tickets/"]["state"]) == ("api-tickets", "new")
    assert rows["tickets/new/"]["route"] is None
