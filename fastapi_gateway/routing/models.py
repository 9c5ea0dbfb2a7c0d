"""Route states in the database, so every worker on every host serves the same state.

``TableVersion`` is one row whose number goes up with every change: workers poll that one
number (an indexed single-row read) and reload the table only when it moved.
"""

from __future__ import annotations

from django.db import models

from fastapi_gateway.migrated_route import RouteState as State

__all__ = ["RouteStateRecord", "RouteChange", "TableVersion", "ShadowMismatch"]

STATE_CHOICES = [(state.value, state.value) for state in State]


class RouteStateRecord(models.Model):
    name = models.CharField(max_length=100, unique=True)
    state = models.CharField(max_length=10, choices=STATE_CHOICES, default=State.LEGACY.value)
    percent = models.PositiveSmallIntegerField(default=0, help_text="Share of users served by the new side in canary.")
    changed_at = models.DateTimeField(auto_now=True)
    changed_by = models.CharField(max_length=150, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "route state"

    def __str__(self) -> str:
        return f"{self.name}: {self.state}" + (f" {self.percent}%" if self.state == State.CANARY.value else "")


class RouteChange(models.Model):
    """The audit trail: who moved which route from what to what, when and why."""

    name = models.CharField(max_length=100, db_index=True)
    from_state = models.CharField(max_length=10, choices=STATE_CHOICES)
    from_percent = models.PositiveSmallIntegerField(default=0)
    to_state = models.CharField(max_length=10, choices=STATE_CHOICES)
    to_percent = models.PositiveSmallIntegerField(default=0)
    changed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    changed_by = models.CharField(max_length=150, blank=True)
    reason = models.TextField(blank=True)
    # A rollback names the change it undid, so the next rollback steps further back.
    undoes = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="undone_by")

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name}: {self.from_state} → {self.to_state} by {self.changed_by or '?'}"


class TableVersion(models.Model):
    version = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"route table v{self.version}"


class ShadowMismatch(models.Model):
    """A kind of difference seen in shadow mode: one row per route and diff signature."""

    route = models.CharField(max_length=100, db_index=True)
    signature = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=1)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)
    method = models.CharField(max_length=10)
    path = models.TextField()
    # Who made the first request with this signature: "" anonymous, None unknown (older rows).
    username = models.CharField(max_length=150, null=True, blank=True)
    differences = models.JSONField(default=list)
    legacy_status = models.PositiveSmallIntegerField()
    new_status = models.PositiveSmallIntegerField(null=True)
    legacy_body = models.TextField(blank=True)
    new_body = models.TextField(blank=True)

    class Meta:
        ordering = ["-last_seen"]
        verbose_name_plural = "shadow mismatches"
        constraints = [models.UniqueConstraint(fields=["route", "signature"], name="shadow_mismatch_unique_signature")]

    def __str__(self) -> str:
        return f"{self.route} ×{self.count}: {', '.join(d.get('path', '?') for d in self.differences[:3])}"
