"""Uploads to the new routes are limited (413 Content Too Large); legacy URLs keep Django's own
limits unless ``LEGACY_MAX_BODY_MB`` sets one before Django runs."""

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


async def test_legacy_urls_have_their_own_limit_under_which_django_decides(gateway_factory: Any) -> None:
    async with gateway_factory(api_routers={"/api/v2": _sink_router()}, max_upload_mb=1, legacy_max_body_mb=3) as client:
        # 2 MB to a legacy URL is not cut by the new side's 1 MB limit: Django decides (here 302
        # to login, because the request is anonymous).
        response = await client.post("/tickets/new/", content=b"x" * (2 * 1024 * 1024))
        assert response.status_code in (302, 403)
        over = await client.post("/tickets/new/", content=b"x" * (3 * 1024 * 1024 + 1))
        assert over.status_code == 413 and "over this site's limit" in over.text
    # By default Django's own limits alone.
    async with gateway_factory(api_routers={"/api/v2": _sink_router()}, max_upload_mb=1) as client:
        assert (await client.post("/tickets/new/", content=b"x" * (4 * 1024 * 1024))).status_code in (302, 403)
