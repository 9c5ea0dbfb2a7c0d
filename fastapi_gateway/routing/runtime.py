"""What a worker runs for the route table: the version poller, the shadow worker, the writer of
its numbers and its share of the rollout controller. The poller reads on the table's own
thread, the writer and the controller share another: each keeps its database connection
while the runtime runs (``orm.KeptConnectionThread``), and the runtime closes both as it ends.
The poller's thread is its own so that a slow write never delays the table's propagation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import functools

import anyio

from fastapi_gateway.migrated_route import MigratedRoute
from fastapi_gateway.routing.live_table import LiveRouteTable
from fastapi_gateway.orm import KeptConnectionThread
from fastapi_gateway.routing.rollouts import RolloutController
from fastapi_gateway.routing.shadow import ShadowRunner
from fastapi_gateway.routing.traffic import RECORDER

__all__ = ["RoutingRuntime"]


class RoutingRuntime:
    def __init__(
        self,
        routes: Sequence[MigratedRoute],
        *,
        poll_seconds: float = 0.5,
        shadow_queue: int = 100,
        traffic_seconds: float | None = None,
        keep_hours: float = 48.0,
    ) -> None:
        self.table = LiveRouteTable(routes, poll_seconds=poll_seconds)
        self.shadow = ShadowRunner(max_queue=shadow_queue)
        # None: this process keeps no numbers (the gateway's models are not installed).
        self.traffic_seconds = traffic_seconds
        self.keep_hours = keep_hours
        self.numbers = KeptConnectionThread("gateway-route-numbers")

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Load the table before the first request, keep it fresh, drain shadow jobs, write
        this process's numbers and take part in the rollouts' decisions."""
        routes, interval = self.table.routes, self.traffic_seconds
        if not routes and interval is None:
            yield
            return
        try:
            if routes:
                try:
                    await self.table.refresh()
                except Exception:  # noqa: BLE001 - start serving legacy rather than not at all
                    pass
            async with anyio.create_task_group() as tasks:
                if routes:
                    tasks.start_soon(self.table.poll_forever)
                    tasks.start_soon(self.shadow.run_forever)
                if interval is not None:
                    tasks.start_soon(functools.partial(RECORDER.flush_forever, interval, keep_hours=self.keep_hours,
                                                       orm=self.numbers))
                    if routes:
                        tasks.start_soon(RolloutController(interval, orm=self.numbers).run_forever)
                try:
                    yield
                finally:
                    tasks.cancel_scope.cancel()
            if interval is not None:
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    try:  # what was counted since the last write, so a restart loses no numbers
                        await self.numbers.run(RECORDER.flush, keep_hours=self.keep_hours)
                    except Exception:  # noqa: BLE001 - at shutdown, during an outage: the numbers are lost, not the exit
                        pass
        finally:
            try:
                await self.table.orm.close()
            finally:
                await self.numbers.close()
