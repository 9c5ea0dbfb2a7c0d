"""Shared parity fixtures: the bundled routes plus test routes whose new side agrees, is
wrong on purpose, or varies by itself; a gateway built without its routing layer; runners;
shadow mismatches recorded from requests full of secrets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from pytest_django import Settings

from fastapi_gateway import create_app
from fastapi_gateway.orm import run_orm
from fastapi_gateway.parity.runner import ParityRunner
from fastapi_gateway.routing import MigratedRoute
from fastapi_gateway.routing.middleware import RoutingMiddleware
from fastapi_gateway.routing.table import set_route_state
from legacy_django.tickets.models import Ticket
from migration_plan.routes import ROUTES
from tests.gateway.conftest import client_for, login, running

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

# The route, ``/api/tickets/<pk>/``, with a v2 that echoes what it was sent (wrong on
# purpose, so every request is a mismatch), and one whose error message names its URL.
ECHO_DETAIL = MigratedRoute(
    name="api-ticket-detail", legacy="/api/tickets/<int:pk>/", new="/parity-v2/ticket-echo/{pk}",
    methods=frozenset({"GET", "HEAD", "POST"}), shadow_unsafe=True,
)
RAISES_LIST = MigratedRoute(name="api-tickets", legacy="/api/tickets/", new="/parity-v2/ticket-raises/0")
ECHO_ROUTES = (ECHO_DETAIL, RAISES_LIST)


@dataclass
class SentSecrets:
    """What the shadowed requests carried: secret values (none may be stored or shown) and
    the names they came under (which must stay readable)."""

    values: list[str]
    names: list[str]
    ticket: int
    logged: list[str]  # every record logged meanwhile, formatted with its traceback


class _Collected(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def parity_routes(settings: Settings, demo_users: Any) -> tuple[MigratedRoute, ...]:
    """The test routes declared (``GATEWAY["ROUTES"]``), their legacy views installed, demo data seeded."""
    settings.ROOT_URLCONF = "tests.parity.legacy_urls"
    settings.GATEWAY = {**settings.GATEWAY, "ROUTES": TEST_ROUTES}
    return TEST_ROUTES


@pytest.fixture
def build_gateway() -> Callable[..., FastAPI]:
    """``build_gateway(**create_app_kwargs)``: the bundled API and the test router, no routing layer."""

    def build(**kwargs: Any) -> FastAPI:
        from api_v2 import router

        kwargs.setdefault("migrated_routes", ())
        kwargs.setdefault("gradio_pages", ())
        kwargs.setdefault("migration_console", None)  # declared routes would mount it: Gradio, not parity
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


@pytest.fixture
async def shadowed_secrets(
    parity_routes: Any, build_gateway: Callable[..., FastAPI], settings: Settings, demo_password: str
) -> SentSecrets:
    """alice's requests to ``api-ticket-detail`` and ``api-tickets`` in shadow, through the real
    gateway, with secrets in the query (repeated, percent-encoded names, mixed case, inside
    ``next``), headers, cookies and a form body; returns once every comparison has been stored."""
    settings.GATEWAY = {**settings.GATEWAY, "ROUTES": ECHO_ROUTES}
    for route in ECHO_ROUTES:
        await run_orm(set_route_state, route.name, "shadow", reason="test")
    ticket = await Ticket.objects.filter(owner__username="alice").values_list("pk", flat=True).afirst()
    assert ticket is not None
    sent = SentSecrets(
        values=["qs-access-7Hc2", "qs-pass-Q81x", "qs-token-Zt40", "qs-again-Lm33", "next-key-Rp9d", "hdr-key-Uv52",
                "hdr-bearer-Ks18", "referer-pw-Wq07", "cookie-key-Jy64", "form-pass-Bn26", "form-key-Dc91"],
        names=["access_token", "pass%77ord", "Token", "x-api-key", "authorization", "api_key", "password"],
        ticket=ticket, logged=[],
    )
    app = build_gateway(migrated_routes=ECHO_ROUTES, route_poll_seconds=0.05)
    # After the app is built: building it configures Django's logging, which replaces root's handlers.
    collected = _Collected(sent.logged)
    logging.getLogger().addHandler(collected)
    try:
        await _send_secrets(app, sent, demo_password)
    finally:
        logging.getLogger().removeHandler(collected)
    return sent


async def _send_secrets(app: FastAPI, sent: SentSecrets, demo_password: str) -> None:
    ticket = sent.ticket
    query = ("?status=open&access_token=qs-access-7Hc2&pass%77ord=qs-pass-Q81x&Token=qs-token-Zt40"
             "&access_token=qs-again-Lm33&next=/tickets/%3Fapi_key%3Dnext-key-Rp9d")
    headers = {"X-Api-Key": "hdr-key-Uv52", "Authorization": "Bearer hdr-bearer-Ks18",
               "Referer": "http://testserver/tickets/?password=referer-pw-Wq07"}
    async with running(app), client_for(app) as client:
        await login(client, "alice", demo_password)
        sent.values += [client.cookies["sessionid"], client.cookies["csrftoken"]]
        client.cookies.set("api_key", "cookie-key-Jy64")
        for response in (
            await client.get(f"/api/tickets/{ticket}/{query}", headers=headers),
            await client.post(f"/api/tickets/{ticket}/{query}", headers=headers, data={
                "title": "Printer", "password": "form-pass-Bn26", "api_key": "form-key-Dc91",
                "csrfmiddlewaretoken": client.cookies["csrftoken"],
            }),
            await client.get(f"/api/tickets/{query}", headers=headers),
        ):
            assert response.headers["x-served-by"] == "legacy"
        node: Any = app.middleware_stack
        while not isinstance(node, RoutingMiddleware):
            node = node.app
        for _ in range(300):
            if node.shadow.completed >= 3:
                return
            await asyncio.sleep(0.02)
    raise AssertionError("the shadow comparisons never ran")
