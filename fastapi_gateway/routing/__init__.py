"""Move legacy URLs one at a time: declared in code, state in the database, flipped live."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi_gateway.migrated_route import MigratedRoute, RouteState

if TYPE_CHECKING:
    from fastapi_gateway.routing.rollouts import RolloutPlan

__all__ = ["MigratedRoute", "RolloutPlan", "RouteState"]


def __getattr__(name: str) -> Any:
    # Imported on first use: this package is imported while Django loads its models.
    if name == "RolloutPlan":
        from fastapi_gateway.routing.rollouts import RolloutPlan

        return RolloutPlan
    raise AttributeError(f"module 'fastapi_gateway.routing' has no attribute {name!r}")
