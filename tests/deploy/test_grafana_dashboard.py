"""deploy/grafana/gateway.json queries only what the gateway really exports.

A real app (the example's routes, the metrics token) answers requests on a migrated route,
then its ``/metrics`` is scraped and parsed with ``prometheus_client``'s own parser: every
metric name a panel or a variable queries must be a series it exposes, and every label a
panel groups or filters by must be on that series.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pytest_django import Settings

from fastapi_gateway import create_app
from tests.gateway.conftest import client_for, login, running

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "gateway.json"
TOKEN = "dashboard-test-scrape-token"

pytestmark = pytest.mark.django_db(transaction=True)

_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
             "gauge": ("",), "summary": ("_sum", "_count", "_created")}  # fmt: skip
_NOT_METRICS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
                "offset", "le", "inf", "nan"}  # fmt: skip


def _queries(dashboard: dict[str, Any]) -> list[str]:
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if variable["type"] == "query":
            exprs.append(query["query"] if isinstance(query, dict) else query)
    return exprs


def metric_names(expr: str) -> set[str]:
    """The series a PromQL expression reads: identifiers that are neither functions, keywords,
    label names (inside braces or by/without), strings nor durations."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\blabel_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*\w+\s*\)", r"\1", expr)
    names = set(re.findall(r"[a-zA-Z_:][\w:]*(?!\w|\s*\()", expr))
    return {name for name in names if name not in _NOT_METRICS and not name.startswith("$")}


def grouping_labels(expr: str) -> set[str]:
    labels: set[str] = set()
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        labels.update(label.strip() for label in group.split(",") if label.strip())
    for matchers in re.findall(r"\{([^}]*)\}", expr):
        labels.update(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", matchers))
    return labels - {"le", "job", "instance"}  # the histogram's own, and the ones Prometheus adds


@pytest.fixture
async def scraped(demo_users: Any, settings: Settings, demo_password: str) -> dict[str, set[str]]:
    """Each series name the gateway exposes, with the labels its samples carry."""
    from api_v2 import router
    from migration_plan.routes import ROUTES

    settings.GATEWAY = {**settings.GATEWAY, "ROUTES": ROUTES, "PAGES": [], "MIGRATION_CONSOLE": None}
    app = create_app(api_routers={"/api/v2": router}, migrated_routes=ROUTES, metrics_token=TOKEN,
                     route_poll_seconds=0.05)  # fmt: skip
    async with running(app), client_for(app) as client:
        await login(client, "alice", demo_password)
        assert (await client.get("/api/tickets/")).status_code == 200  # a migrated route, legacy side
        response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    series: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(response.text):
        for suffix in _SUFFIXES.get(family.type, ("",)):
            series.setdefault(family.name + suffix, set())
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return series


def test_metric_name_extraction_reads_promql_as_prometheus_does() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, route, side) '
            '(rate(gateway_route_latency_seconds_bucket{route=~"$route", side="new"}[$__rate_interval])))')
    assert metric_names(expr) == {"gateway_route_latency_seconds_bucket"}
    assert grouping_labels(expr) == {"route", "side"}
    assert metric_names("max by (route, state) (gateway_route_state) == 1") == {"gateway_route_state"}
    assert metric_names("label_values(gateway_route_requests_total, route)") == {"gateway_route_requests_total"}


async def test_every_metric_the_dashboard_queries_is_one_the_gateway_exports(scraped: dict[str, set[str]]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {name for expr in _queries(dashboard) for name in metric_names(expr)}
    assert {"gateway_route_requests_total", "gateway_route_latency_seconds_bucket"} <= queried
    missing = sorted(queried - scraped.keys())
    assert not missing, f"the dashboard queries series the gateway does not export: {missing}"


async def test_every_label_the_dashboard_groups_by_is_on_the_series(scraped: dict[str, set[str]]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert scraped["gateway_route_requests_total"] >= {"route", "side", "status"}, "no request was counted"
    for expr in _queries(dashboard):
        for name in metric_names(expr):
            if scraped[name]:  # a labelled family with no sample yet has nothing to compare
                wrong = grouping_labels(expr) - scraped[name]
                assert not wrong, f"{name} has no label {sorted(wrong)} (query: {expr})"


def test_dashboard_is_importable_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    for expr in _queries(dashboard):
        for used in re.findall(r"\$(\w+)", expr):
            assert used in variables or used.startswith("__"), f"${used} is not a dashboard variable"
