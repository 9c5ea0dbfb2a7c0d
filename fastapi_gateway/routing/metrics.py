"""Prometheus metrics of the route table, through ``prometheus_client``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = ["REQUESTS", "LATENCY", "FALLBACKS", "SHADOW_RESULTS", "SHADOW_DROPPED", "TABLE_VERSION", "ROUTE_STATE"]

REQUESTS = Counter(
    "gateway_route_requests_total", "Requests to migrated routes, by route, serving side and status class.",
    ["route", "side", "status"],
)
LATENCY = Histogram(
    "gateway_route_latency_seconds", "Latency of migrated routes, by route and serving side.", ["route", "side"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
FALLBACKS = Counter(
    "gateway_route_fallbacks_total", "New-side failures answered by the legacy side instead.", ["route", "reason"],
)
SHADOW_RESULTS = Counter(
    "gateway_shadow_comparisons_total", "Shadow comparisons, by route and result (agree, differ, error, timeout).",
    ["route", "result"],
)
SHADOW_DROPPED = Counter(
    "gateway_shadow_dropped_total",
    "Shadow calls dropped: the queue was full (queue_full), the worker never went quiet enough to run them (busy), "
    "or not again after a page stopped them (preempted).",
    ["route", "reason"],
)
SHADOW_PREEMPTED = Counter(
    "gateway_shadow_preempted_total",
    "Shadow comparisons stopped for a page that arrived while they ran: each is done again in the next quiet "
    "moment, and its third try runs to its end (none in time: gateway_shadow_dropped_total, reason preempted).",
    ["route"],
)
TABLE_VERSION = Gauge("gateway_route_table_version", "Version of the route table this worker serves.")
ROUTE_STATE = Gauge("gateway_route_state", "1 for the state each route is in on this worker.", ["route", "state"])
