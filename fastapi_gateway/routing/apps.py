"""The small Django app the gateway ships: route states, their audit trail, shadow diffs;
and, when Django starts, secrets kept out of the request logs (``log_redaction``)."""

from __future__ import annotations

from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "fastapi_gateway.routing"
    label = "gateway_routing"
    verbose_name = "Gateway routes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .log_redaction import redact_request_logs

        redact_request_logs()
