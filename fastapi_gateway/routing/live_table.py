"""Each worker's copy of the route table, kept current by polling one number.

Why polling a version row rather than Redis pub/sub or PostgreSQL LISTEN/NOTIFY: it works
on every database Django supports (the embedded default is SQLite), needs no extra service,
costs one indexed single-row read per worker per ``poll_seconds`` whatever the traffic, and
bounds propagation by that interval (0.5 s by default, well inside the 2 s promise). A
missed notification cannot leave a worker stale; a database outage keeps the last table.
The reads run on a thread of the table's own that keeps its connection (``orm``): a new
connection per poll was most of the poll's cost, and on PostgreSQL a backend forked twice a
second per process.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi_gateway.orm import KeptConnectionThread
from fastapi_gateway.migrated_route import MigratedRoute, RouteIndex, RouteState
from fastapi_gateway.routing.periodic import every
from fastapi_gateway.routing.metrics import ROUTE_STATE, TABLE_VERSION
from fastapi_gateway.routing.table import LEGACY, RouteSetting, current_version, load_states

__all__ = ["LiveRouteTable"]

logger = logging.getLogger("fastapi_gateway.routing")


class LiveRouteTable:
    def __init__(self, routes: Sequence[MigratedRoute], *, poll_seconds: float = 0.5) -> None:
        self.routes = RouteIndex(routes)  # iterable in declaration order; match_route uses its index
        self.poll_seconds = poll_seconds
        self.version = -1
        self._states: dict[str, RouteSetting] = {}
        self.orm = KeptConnectionThread("gateway-route-table")  # closed by the routing runtime

    def setting(self, name: str) -> RouteSetting:
        return self._states.get(name, LEGACY)

    async def refresh(self) -> bool:
        """Reload if the version moved; True when the table changed."""
        version = await self.orm.run(current_version)
        if version == self.version:
            return False
        states = await self.orm.run(load_states, [route.name for route in self.routes])
        self._states, self.version = states, version
        TABLE_VERSION.set(version)
        for route in self.routes:
            current = self.setting(route.name).state
            for state in RouteState:
                ROUTE_STATE.labels(route.name, state.value).set(1 if state is current else 0)
        logger.info("route table v%d loaded: %s", version, {name: s.state.value for name, s in states.items()})
        return True

    async def poll_forever(self) -> None:
        # An outage keeps the last known table.
        await every(self.poll_seconds, self.refresh, logger=logger, first_wait=False,
                    failing="route table refresh failed (%s); serving the last known states until it answers",
                    recovered="route table refreshed again")
