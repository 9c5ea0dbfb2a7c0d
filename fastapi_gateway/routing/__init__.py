"""Move legacy URLs one at a time: declared in code, state in the database, flipped live."""

from __future__ import annotations

from fastapi_gateway.migrated_route import MigratedRoute, RouteState

__all__ = ["MigratedRoute", "RouteState"]
