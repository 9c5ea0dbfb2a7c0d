"""``/metrics`` in Prometheus text format, for staff users or a scraper holding the token."""

from __future__ import annotations

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from django.utils.crypto import constant_time_compare

from fastapi_gateway.identity.session import user_for_scope

__all__ = ["metrics_router"]


def metrics_router(token: str | None) -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request, authorization: str | None = Header(default=None)) -> Response:
        bearer = (authorization or "").removeprefix("Bearer ").strip()
        if not (token and bearer and constant_time_compare(bearer, token)):
            user = await user_for_scope(request.scope)
            if not (user.is_authenticated and user.is_staff):
                raise HTTPException(status_code=403, detail="Metrics are for staff or the metrics token.")
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
