"""``INSTALLED_APPS += ["fastapi_gateway"]``: the route table (states, audit trail, shadow
diffs) with its admin and migrations, the ``routes``, ``parity`` and ``gateway`` commands, the
``GATEWAY`` setting's system checks, and secrets kept out of the request logs.

The label stays ``gateway_routing``, the route table's app label since its first migration,
so tables and admin URLs of existing installations do not move."""

from __future__ import annotations

from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "fastapi_gateway"
    label = "gateway_routing"
    verbose_name = "Gateway routes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from fastapi_gateway import checks  # noqa: F401  (registers the system checks)
        from fastapi_gateway.routing.log_redaction import redact_request_logs

        redact_request_logs()
