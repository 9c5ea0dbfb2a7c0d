"""Shared parity fixtures: the bundled routes plus test routes whose new side agrees, is
wrong on purpose, or varies by itself; a gateway built without its routing layer; runners."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from pytest_django import Settings

from fastapi_gateway import create_app
from fastapi_gateway.parity.runner import ParityRunner
from fastapi_gateway.routing import MigratedRoute
from migration_plan.routes import ROUTES

from .new_side import parity_router

TEST_ROUTES = (
    *ROUTES,
    MigratedRoute(name="wrong-tickets", legacy="/api/tickets/", new="/parity-v2/wrong-tickets"),
    MigratedRoute(name="clock", legacy="/parity-legacy/clock/", new="/parity-v2/clock"),
    MigratedRoute(
        name="items", legacy="/parity-legacy/items/", new="/parity-v2/items",
        parity_ignore=("$.version",), parity_unordered=("$.items",),
    ),
    MigratedRoute(name="secrets", legacy="/parity-legacy/secrets/", new="/parity-v2/secrets"),
    MigratedRoute(name="page", legacy="/parity-legacy/page/", new="/parity-v2/page"),
    MigratedRoute(name="broken", legacy="/parity-legacy/clock/", new="/parity-v2/raises"),
    MigratedRoute(
        name="create", legacy="/parity-legacy/tickets/", new="/parity-v2/tickets", methods=frozenset({"POST"}),
    ),
)
ROUTE = {route.name: route for route in TEST_ROUTES}


@pytest.fixture
def parity_routes(settings: Settings, demo_users: Any) -> tuple[MigratedRoute, ...]:
    """The test routes declared (``GATEWAY_MIGRATED_ROUTES``), their legacy views installed, demo data seeded."""
    settings.ROOT_URLCONF = "tests.parity.legacy_urls"
    settings.GATEWAY_MIGRATED_ROUTES = TEST_ROUTES
    return TEST_ROUTES


@pytest.fixture
def build_gateway() -> Callable[..., FastAPI]:
    """``build_gateway(**create_app_kwargs)``: the bundled API and the test router, no routing layer."""

    def build(**kwargs: Any) -> FastAPI:
        from api_v2 import router

        kwargs.setdefault("migrated_routes", ())
        return create_app(api_routers={"/api/v2": router, "/parity-v2": parity_router()}, **kwargs)

    return build


@pytest.fixture
def runner_with(parity_routes: tuple[MigratedRoute, ...], build_gateway: Callable[..., FastAPI]) -> Callable[..., Any]:
    """``async with runner_with(**ParityRunner_kwargs) as runner:`` on a fresh gateway."""

    @asynccontextmanager
    async def start(app: Any = None, **kwargs: Any) -> AsyncIterator[ParityRunner]:
        kwargs.setdefault("routes", parity_routes)
        async with ParityRunner(app if app is not None else build_gateway(), **kwargs) as runner:
            yield runner

    return start


@pytest.fixture
async def runner(runner_with: Callable[..., Any]) -> AsyncIterator[ParityRunner]:
    async with runner_with() as started:
        yield started


def _observed(body: Any, status: int = 200, latency_ms: float = 5.0) -> Any:
    import json

    from fastapi_gateway.parity.observation import observe
    from fastapi_gateway.parity.redaction import Redactor
    from fastapi_gateway.parity.reply import Reply

    reply = Reply.of(status, {"content-type": "application/json"}, json.dumps(body).encode())
    return observe(reply, latency_ms, Redactor())


@pytest.fixture
def sample_report() -> Any:
    """A run with one case of each outcome; the differing one has a title with markup in it."""
    from fastapi_gateway.parity.difference import Difference
    from fastapi_gateway.parity.results import CaseResult, RunReport

    tickets = [{"id": n, "title": f"Alice: ticket {n}", "updated_at": f"2024-01-0{n}T00:00:00Z"} for n in range(1, 8)]
    wrong = [dict(ticket) for ticket in tickets]
    wrong[0]["title"] = "<script>alert(1)</script>"
    wrong[0]["updated_at"] = "2024-02-01T00:00:00Z"
    common = {"kind": "http", "method": "GET", "legacy_target": "/api/tickets/", "new_target": "/api/v2/tickets"}
    return RunReport([
        CaseResult(route="api-tickets", name="list", user="bob", outcome="agree", legacy=_observed([]), new=_observed([]), **common),
        CaseResult(
            route="api-tickets", name="list", user="alice", outcome="differ",
            differences=[Difference("$[0].title", "Alice: ticket 1", "<script>alert(1)</script>")],
            noise=[Difference("$[0].updated_at", "2024-01-01T00:00:00Z", "2024-01-09T00:00:00Z")],
            legacy=_observed(tickets, latency_ms=4.0), new=_observed(wrong, latency_ms=6.0), **common,
        ),
        CaseResult(
            route="clock", name="clock", user="alice", outcome="noise", kind="http", method="GET",
            legacy_target="/clock/", new_target="/v2/clock", noise=[Difference("$.now", 1.0, 2.0)],
            legacy=_observed({"now": 1.0}), new=_observed({"now": 3.0}),
        ),
        CaseResult(
            route="broken", name="list", user=None, outcome="error", kind="http", method="GET", legacy_target="/x/",
            new_target="/v2/x", error="new side unreachable: GET /v2/x raised RuntimeError: boom",
        ),
    ], duration_s=1.5, determinism={"frozen_at": None, "seed": 3}, warnings=["lonely: no default cases"])
