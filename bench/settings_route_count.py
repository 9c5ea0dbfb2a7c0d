"""The bundled project's settings with ``BENCH_ROUTE_COUNT`` declared routes (section i).

The three real routes come last, after synthetic ones (half without parameters,
``/area7/``, half with, ``/area7/items/<int:pk>/``), so a request for a real route is
matched after every synthetic declaration, the worst place for it. ``BENCH_ROUTE_MATCHING=linear``
makes the route table try every declared route in order, as it did before ``RouteIndex``:
the chart's "before" line.
"""

import os

from legacy_django.settings import *  # noqa: F403
from legacy_django.settings import GATEWAY as _EXAMPLE
from fastapi_gateway.routing import MigratedRoute
from migration_plan.routes import ROUTES as _REAL

_COUNT = int(os.environ.get("BENCH_ROUTE_COUNT", "3"))
_SYNTHETIC = tuple(
    MigratedRoute(name=f"area{n}", legacy=f"/area{n}/", new="/api/v2/tickets") if n % 2 else
    MigratedRoute(name=f"area{n}-item", legacy=f"/area{n}/items/<int:pk>/", new="/api/v2/tickets/{pk}")
    for n in range(max(0, _COUNT - len(_REAL)))
)
ROUTES = _SYNTHETIC + tuple(_REAL)
GATEWAY = {**_EXAMPLE, "ROUTES": "bench.settings_route_count:ROUTES"}

if os.environ.get("BENCH_ROUTE_MATCHING") == "linear":
    from fastapi_gateway.routing import live_table

    live_table.RouteIndex = tuple  # type: ignore[misc, assignment]
