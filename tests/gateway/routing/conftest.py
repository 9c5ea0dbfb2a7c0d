"""A gateway with the bundled routes plus deliberately faulty ones, and a way to flip them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, HTTPException

from fastapi_gateway import create_app
from fastapi_gateway.orm import run_orm
from fastapi_gateway.routing import MigratedRoute
from fastapi_gateway.routing.table import set_route_state
from migration_plan.routes import ROUTES
from tests.gateway.conftest import client_for, login, running

CALLS: dict[str, int] = {}


def faulty_router() -> APIRouter:
    """New-side handlers that fail in every way a new handler can."""
    router = APIRouter()

    @router.api_route("/raises", methods=["GET", "POST"])
    async def raises() -> None:
        CALLS["raises"] = CALLS.get("raises", 0) + 1
        raise RuntimeError("the new handler is broken")

    @router.get("/five-hundred")
    async def five_hundred() -> None:
        raise HTTPException(status_code=502, detail="upstream down")

    @router.get("/hangs")
    async def hangs() -> None:
        await asyncio.sleep(30)

    @router.api_route("/wrong-tickets", methods=["GET", "POST"])
    async def wrong_tickets() -> list[dict[str, Any]]:
        CALLS["wrong-tickets"] = CALLS.get("wrong-tickets", 0) + 1
        return [{"id": 0, "title": "not the same", "status": "open"}]

    return router


FAULTY_ROUTES = (
    MigratedRoute(name="raises", legacy="/api/tickets/", new="/faulty/raises", methods=frozenset({"GET", "HEAD", "POST"})),
    MigratedRoute(name="five-hundred", legacy="/api/tickets/", new="/faulty/five-hundred"),
    MigratedRoute(name="hangs", legacy="/api/tickets/", new="/faulty/hangs", new_timeout=0.3),
    MigratedRoute(
        name="wrong", legacy="/api/tickets/", new="/faulty/wrong-tickets", methods=frozenset({"GET", "HEAD", "POST"})
    ),
)


class Gateway:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.table = app.state.route_table

    def client(self) -> httpx.AsyncClient:
        return client_for(self.app)

    async def flip(self, name: str, state: str, percent: int | None = None) -> float:
        """Change a route's state through the audited path; returns seconds until this worker serves it."""
        version = self.table.version
        await run_orm(set_route_state, name, state, percent=percent, reason="test", actor="pytest")
        started = time.perf_counter()
        while self.table.version == version:
            await asyncio.sleep(0.01)
            assert time.perf_counter() - started < 5, "the flip never reached the worker"
        return time.perf_counter() - started


def _gateway_app(routes: tuple[MigratedRoute, ...], **kwargs: Any) -> Any:
    from api_v2 import router

    return create_app(
        api_routers={"/api/v2": router, "/faulty": faulty_router(), **kwargs.pop("api_routers", {})},
        migrated_routes=routes,
        route_poll_seconds=0.05,
        **kwargs,
    )


@pytest.fixture
async def gateway(demo_users: Any, settings: Any) -> AsyncIterator[Gateway]:
    settings.GATEWAY = {**settings.GATEWAY, "ROUTES": ROUTES}
    async with running(_gateway_app(ROUTES)) as app:
        yield Gateway(app)


@pytest.fixture
def gateway_with(demo_users: Any, settings: Any) -> Any:
    """``async with gateway_with(route, ...) as gateway:`` — a gateway declaring just these routes."""

    @asynccontextmanager
    async def start(*routes: MigratedRoute, **kwargs: Any) -> AsyncIterator[Gateway]:
        settings.GATEWAY = {**settings.GATEWAY, "ROUTES": routes}
        async with running(_gateway_app(routes, **kwargs)) as app:
            yield Gateway(app)

    return start


@pytest.fixture
async def alice_on(gateway: Gateway, demo_password: str) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway.client() as client:
        await login(client, "alice", demo_password)
        yield client
