"""The small Django app the gateway ships: route states, their audit trail, shadow diffs."""

from __future__ import annotations

from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "fastapi_gateway.routing"
    label = "gateway_routing"
    verbose_name = "Gateway routes"
    default_auto_field = "django.db.models.BigAutoField"
