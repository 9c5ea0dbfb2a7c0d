"""App config, so the app keeps the short label ``tickets`` despite living inside the project package."""

from __future__ import annotations

from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "legacy_django.tickets"
    label = "tickets"
    verbose_name = "Support tickets"
