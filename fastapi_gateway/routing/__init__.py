"""Move legacy URLs one at a time: declared in code, state in the database, flipped live."""

from __future__ import annotations

from .declarations import MigratedRoute, RouteState

__all__ = ["MigratedRoute", "RouteState"]
