"""The route table's models, for Django's app registry (defined in ``routing.models``)."""

from __future__ import annotations

from fastapi_gateway.routing.models import RouteChange, RouteStateRecord, ShadowMismatch, TableVersion

__all__ = ["RouteChange", "RouteStateRecord", "ShadowMismatch", "TableVersion"]
