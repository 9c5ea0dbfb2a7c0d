"""The route table's models, for Django's app registry (defined in ``routing.models``)."""

from __future__ import annotations

from fastapi_gateway.routing.models import (
    ParityRun, Rollout, RouteChange, RouteStateRecord, ShadowMismatch, TableVersion, TrafficSample,
)

__all__ = ["ParityRun", "Rollout", "RouteChange", "RouteStateRecord", "ShadowMismatch", "TableVersion", "TrafficSample"]
