"""What a worker runs for the route table: the version poller and the shadow worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio

from fastapi_gateway.migrated_route import MigratedRoute
from fastapi_gateway.routing.live_table import LiveRouteTable
from fastapi_gateway.routing.shadow import ShadowRunner

__all__ = ["RoutingRuntime"]


class RoutingRuntime:
    def __init__(self, routes: Sequence[MigratedRoute], *, poll_seconds: float = 0.5, shadow_queue: int = 100) -> None:
        self.table = LiveRouteTable(routes, poll_seconds=poll_seconds)
        self.shadow = ShadowRunner(max_queue=shadow_queue)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Load the table before the first request, keep it fresh, drain shadow jobs."""
        if not self.table.routes:
            yield
            return
        try:
            await self.table.refresh()
        except Exception:  # noqa: BLE001 - start serving legacy rather than not at all
            pass
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self.table.poll_forever)
            tasks.start_soon(self.shadow.run_forever)
            yield
            tasks.cancel_scope.cancel()
