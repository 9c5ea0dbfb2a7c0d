"""Declared routes of the support desk's move (the names are the contract's).

``manage.py routes`` lists them with their states; ``manage.py routes set NAME STATE``
moves one, on every worker, without a restart.
"""

from __future__ import annotations

from fastapi_gateway.routing import MigratedRoute

ROUTES = (
    MigratedRoute(
        name="api-tickets",
        legacy="/api/tickets/",
        new="/api/v2/tickets",
        parity_ignore=("$[*].updated_at",),
    ),
    MigratedRoute(
        name="api-ticket-detail",
        legacy="/api/tickets/<int:pk>/",
        new="/api/v2/tickets/{pk}",
    ),
    MigratedRoute(
        name="tickets-page",
        legacy="/tickets/",
        new="/ui/tickets/",
        page=True,
    ),
)
