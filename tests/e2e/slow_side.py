"""A new-side router that takes its time (``/slow-api/?seconds=N``), for the graceful stop."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

router = APIRouter()


@router.get("/")
async def slow(seconds: float = 2.0) -> dict[str, str]:
    await asyncio.sleep(seconds)
    return {"answer": "slow new answer"}
