"""The bundled project's new JSON API, served by the gateway at ``/api/v2``.

It shares the ticket queries and permission rules of the legacy views
(``legacy_django.tickets.queries``): one function decides who sees what, for both sides.
"""

from __future__ import annotations

from .routes import router

__all__ = ["router"]
