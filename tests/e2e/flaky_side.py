"""A new side the test can break while the gateway serves it: healthy, 5xx, slow or different.

The mode is read from the file ``FLAKY_MODE_FILE`` names on every request, so the test turns a
healthy new side into a failing one under load, in every worker at once.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from api_v2.routes import list_tickets
from fastapi_gateway import DjangoUser, require_user
from fastapi_gateway.routing import MigratedRoute

router = APIRouter()


def _mode() -> str:
    path = os.environ.get("FLAKY_MODE_FILE")
    try:
        return Path(path).read_text().strip() if path else "ok"
    except FileNotFoundError:
        return "ok"


@router.get("/tickets")
async def tickets(request: Request, status: str | None = None, user: DjangoUser = Depends(require_user)) -> JSONResponse:
    mode = _mode()
    if mode == "500":
        raise HTTPException(status_code=500, detail="the new side broke")
    if mode == "slow":
        await asyncio.sleep(0.6)
    if mode == "differ":
        return JSONResponse([{"id": 0, "title": "not what legacy says"}])
    return await list_tickets(request, status=status, user=user)


ROUTES = (
    MigratedRoute(name="api-tickets", legacy="/api/tickets/", new="/flaky/tickets", parity_ignore=("$[*].updated_at",)),
)
