"""The route table's admin, for ``admin.autodiscover()`` (defined in ``routing.admin``)."""

from __future__ import annotations

import fastapi_gateway.routing.admin  # noqa: F401  (registers the ModelAdmins)
