"""Uploads to the new routes are limited (413 Content Too Large); legacy keeps Django's limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Request

pytestmark = pytest.mark.django_db(transaction=True)


def _sink_router() -> APIRouter:
    router = APIRouter()

    @router.post("/sink")
    async def sink(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    return router


@pytest.fixture
async def limited(gateway_factory: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_factory(api_routers={"/api/v2": _sink_router()}, max_upload_mb=1) as client:
        yield client


async def test_body_under_the_limit_passes(limited: httpx.AsyncClient) -> None:
    response = await limited.post("/api/v2/sink", content=b"x" * 1024 * 1024)
    assert response.json() == {"received": 1024 * 1024}


async def test_declared_oversize_body_is_413(limited: httpx.AsyncClient) -> None:
    response = await limited.post("/api/v2/sink", content=b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.text == "Content Too Large"  # Starlette's own answer


async def test_chunked_oversize_body_is_413(limited: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 100_000

    response = await limited.post("/api/v2/sink", content=chunks())
    assert response.status_code == 413


async def test_legacy_urls_keep_djangos_own_limits(limited: httpx.AsyncClient) -> None:
    # 2 MB to a legacy URL is not cut by the gateway's 1 MB limit: Django decides (here 302
    # to login, because the request is anonymous).
    response = await limited.post("/tickets/new/", content=b"x" * (2 * 1024 * 1024))
    assert response.status_code in (302, 403)
