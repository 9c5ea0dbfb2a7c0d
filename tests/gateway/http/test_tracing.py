"""GATEWAY["TRACING"]: a SERVER span per request, named by route or mount, never by the raw
path; it carries the side, route, request id and user pk, never the query, a cookie, a
session id, a username or an exception's message. Spans are read from the real SDK."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from django.conf import settings as django_settings
from fastapi import APIRouter, HTTPException
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from fastapi_gateway import GatewayConfigurationError, create_app
from fastapi_gateway.conf import gateway_settings, problems
from fastapi_gateway.http.tracing import TracingMiddleware
from fastapi_gateway.orm import run_orm
from fastapi_gateway.routing.table import set_route_state
from migration_plan.routes import ROUTES
from tests.gateway.conftest import client_for, login, running

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_MESSAGE = "card 4111-1111-1111-1111 of alice@example.com"
TRACEPARENT_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def _boom_router() -> APIRouter:
    router = APIRouter()

    @router.get("/raises/{ticket_id}")
    async def raises(ticket_id: int) -> None:
        raise RuntimeError(SECRET_MESSAGE)

    @router.get("/bad-gateway")
    async def bad_gateway() -> None:
        raise HTTPException(status_code=502, detail="upstream down")

    return router


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """The application's SDK set up as usual, as the global provider for this test only
    (``set_tracer_provider`` may be called once per process)."""
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    yield exported
    provider.shutdown()


class _Traced:
    def __init__(self, app: Any, exporter: InMemorySpanExporter) -> None:
        self.app = app
        self.exporter = exporter

    def client(self) -> httpx.AsyncClient:
        return client_for(self.app)

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    async def flip(self, name: str, state: str) -> None:
        table = self.app.state.route_table
        version = table.version
        await run_orm(set_route_state, name, state, reason="test", actor="pytest")
        started = time.perf_counter()
        while table.version == version:
            await asyncio.sleep(0.01)
            assert time.perf_counter() - started < 5, "the flip never reached the worker"


@pytest.fixture
async def traced(demo_users: Any, settings: Any, exporter: InMemorySpanExporter) -> AsyncIterator[_Traced]:
    from api_v2 import router

    settings.GATEWAY = {**settings.GATEWAY, "ROUTES": ROUTES}
    app = create_app(api_routers={"/api/v2": router, "/boom": _boom_router()}, migrated_routes=ROUTES,
                     route_poll_seconds=0.05, tracing=True)
    async with running(app):
        yield _Traced(app, exporter)


def _only(spans: list[ReadableSpan]) -> ReadableSpan:
    assert len(spans) == 1, [(s.name, s.instrumentation_scope, dict(s.attributes or {})) for s in spans]
    (span,) = spans
    assert span.kind is SpanKind.SERVER and span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "fastapi_gateway"
    return span


def _carried(spans: list[ReadableSpan]) -> str:
    """Everything the spans would export: names, attributes, status descriptions, events."""
    return json.dumps([
        [span.name, dict(span.attributes or {}), span.status.description, [(e.name, dict(e.attributes or {})) for e in span.events]]
        for span in spans
    ])


async def test_a_legacy_page_is_named_legacy_and_joins_the_callers_trace(traced: _Traced) -> None:
    async with traced.client() as client:
        client.cookies.set("sessionid", "s3ss10nid-from-the-browser")
        response = await client.get(
            "/accounts/login/?next=/tickets/&password=hunter2",
            headers={"traceparent": f"00-{TRACEPARENT_TRACE_ID}-00f067aa0ba902b7-01", "X-Api-Key": "k3y-value"},
        )
    assert response.status_code == 200
    span = _only(traced.spans())
    assert span.name == "GET legacy"
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET", "http.response.status_code": 200, "url.scheme": "http",
        "gateway.side": "legacy", "gateway.request_id": response.headers["x-request-id"],
    }
    assert span.status.status_code is StatusCode.UNSET
    assert format(span.context.trace_id, "032x") == TRACEPARENT_TRACE_ID
    assert span.parent is not None and span.parent.is_remote and format(span.parent.span_id, "016x") == "00f067aa0ba902b7"
    carried = _carried(traced.spans())
    for secret in ("hunter2", "next=", "/accounts/login", "s3ss10nid-from-the-browser", "k3y-value"):
        assert secret not in carried


async def test_a_routed_request_served_new_names_its_route_side_and_user_by_pk(
    traced: _Traced, alice: Any, demo_password: str,
) -> None:
    await traced.flip("api-tickets", "new")
    async with traced.client() as client:
        await login(client, "alice", demo_password)
        traced.exporter.clear()
        response = await client.get("/api/tickets/?search=private-words")
        session_id = client.cookies[django_settings.SESSION_COOKIE_NAME]
        csrf = client.cookies[django_settings.CSRF_COOKIE_NAME]
    assert (response.status_code, response.headers["x-served-by"]) == (200, "new")
    span = _only(traced.spans())
    assert span.name == "GET api-tickets"
    attributes = dict(span.attributes or {})
    assert attributes["gateway.side"] == "new" and attributes["gateway.route"] == "api-tickets"
    assert attributes["enduser.id"] == str(alice.pk)
    assert attributes["http.response.status_code"] == 200
    assert attributes["gateway.request_id"] == response.headers["x-request-id"]
    carried = _carried(traced.spans())
    for secret in ("private-words", "search=", session_id, csrf, alice.username):
        assert secret not in carried


async def test_a_routed_request_still_on_legacy_says_so(traced: _Traced) -> None:
    async with traced.client() as client:
        response = await client.get("/api/tickets/7/")
    span = _only(traced.spans())
    assert span.name == "GET api-ticket-detail"  # the route's name, never /api/tickets/7/
    assert (span.attributes or {})["gateway.side"] == response.headers["x-served-by"] == "legacy"
    assert "/7" not in _carried(traced.spans())


async def test_an_anonymous_request_to_the_new_side_has_no_user(traced: _Traced) -> None:
    async with traced.client() as client:
        response = await client.get("/api/v2/me?token=abc123")
    span = _only(traced.spans())
    assert span.name == "GET /api/v2"
    attributes = dict(span.attributes or {})
    assert attributes["gateway.side"] == "new" and "gateway.route" not in attributes
    assert "enduser.id" not in attributes
    assert attributes["http.response.status_code"] == response.status_code < 500
    assert "abc123" not in _carried(traced.spans()) and "/me" not in _carried(traced.spans())


async def test_a_5xx_answer_is_an_error(traced: _Traced) -> None:
    async with traced.client() as client:
        response = await client.get("/boom/bad-gateway")
    assert response.status_code == 502
    span = _only(traced.spans())
    assert span.name == "GET /boom" and span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["http.response.status_code"] == 502


async def test_an_exception_is_recorded_by_its_type_never_its_message(traced: _Traced) -> None:
    async with traced.client() as client:
        with pytest.raises(RuntimeError):
            await client.get("/boom/raises/4111")
    span = _only(traced.spans())
    assert span.name == "GET /boom" and span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "RuntimeError"
    carried = _carried(traced.spans())
    assert SECRET_MESSAGE not in carried and "4111" not in carried and "alice@example.com" not in carried


async def test_probes_make_no_span(traced: _Traced) -> None:
    async with traced.client() as client:
        assert (await client.get("/healthz")).status_code == 200
    assert traced.spans() == []


def test_tracing_is_off_by_default_and_then_no_middleware_is_installed(exporter: InMemorySpanExporter, db: None) -> None:
    assert gateway_settings({})["TRACING"] is False
    app = create_app()
    assert not any(middleware.cls is TracingMiddleware for middleware in app.user_middleware)
    assert any(middleware.cls is TracingMiddleware for middleware in create_app(tracing=True).user_middleware)


@pytest.mark.parametrize(("raw", "expected"), [("on", True), ("1", True), ("off", False), ("no", False)])
def test_the_environment_switches_tracing(raw: str, expected: bool) -> None:
    assert gateway_settings({"GATEWAY_TRACING": raw})["TRACING"] is expected


@pytest.mark.parametrize("raw", ["auto", "maybe"])
def test_the_environment_takes_only_on_or_off(raw: str) -> None:
    with pytest.raises(GatewayConfigurationError, match="GATEWAY_TRACING"):
        gateway_settings({"GATEWAY_TRACING": raw})


def test_a_value_that_is_not_a_bool_is_refused(settings: Any) -> None:
    settings.GATEWAY = {"TRACING": "yes"}
    assert [problem.id for problem in problems({})] == ["fastapi_gateway.E004"]
    with pytest.raises(GatewayConfigurationError, match="TRACING"):
        create_app(tracing="yes")


def test_tracing_without_opentelemetry_asks_for_the_extra(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)  # as if it were not installed
    settings.GATEWAY = {"TRACING": True}
    (problem,) = problems({})
    assert problem.id == "fastapi_gateway.E007" and problem.hint is not None and "[otel]" in problem.hint
    with pytest.raises(GatewayConfigurationError, match="OpenTelemetry is not installed"):
        create_app(tracing=True)


async def test_with_tracing_off_an_sdk_the_application_configured_gets_no_span_of_ours_or_fastapis(
    gateway: httpx.AsyncClient, exporter: InMemorySpanExporter,
) -> None:
    """FastAPI's own spans carry the raw path, the query and exception messages: kept out."""
    assert (await gateway.get("/api/v2/me?token=abc123")).status_code < 500
    assert (await gateway.get("/accounts/login/?password=hunter2")).status_code == 200
    assert exporter.get_finished_spans() == ()
