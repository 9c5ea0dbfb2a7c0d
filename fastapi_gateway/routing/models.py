"""Route states in the database, so every worker on every host serves the same state.

``TableVersion`` is one row whose number goes up with every change: workers poll that one
number (an indexed single-row read) and reload the table only when it moved.
"""

from __future__ import annotations

from django.db import models

from fastapi_gateway.migrated_route import RouteState as State

__all__ = ["RouteStateRecord", "RouteChange", "TableVersion", "ShadowMismatch", "TrafficSample", "Rollout", "ParityRun"]

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

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from fastapi_gateway.exceptions import RoutingError
        from fastapi_gateway.routing.table import validate_state

        try:
            validate_state(self.state, self.percent if self.state == State.CANARY.value else None)
        except RoutingError as error:
            raise ValidationError({"percent": str(error)}) from error


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


class TrafficSample(models.Model):
    """What one serving process saw in one time bucket: the numbers the console shows and the
    rollout gates read, summed over every process and host (``source`` is host:pid).

    A route's row (``route`` set, ``pattern`` empty) per side counts its requests, 5xx, latency
    and, on the ``new`` side, fallbacks and shadow results. A coverage row (``route`` empty,
    ``pattern`` the Django URL pattern) counts the requests each side answered on that pattern.
    """

    bucket = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=100)
    route = models.CharField(max_length=100, blank=True)
    side = models.CharField(max_length=10)
    pattern = models.CharField(max_length=255, blank=True)
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    latency_sum = models.FloatField(default=0.0)
    # Log-spaced latency histogram: bucket index -> count (see ``routing.traffic``).
    latency = models.JSONField(default=dict)
    fallbacks = models.PositiveIntegerField(default=0)
    shadow_agree = models.PositiveIntegerField(default=0)
    shadow_differ = models.PositiveIntegerField(default=0)
    shadow_error = models.PositiveIntegerField(default=0)
    shadow_dropped = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bucket", "source", "route", "side", "pattern"], name="traffic_sample_unique")
        ]
        indexes = [models.Index(fields=["route", "bucket"], name="traffic_route_bucket")]

    def __str__(self) -> str:
        return f"{self.route or self.pattern} {self.side} @ {self.bucket:%H:%M:%S}: {self.requests}"


ROLLOUT_STATUSES = [(status, status) for status in ("running", "paused", "done", "rolled_back", "stopped")]


class Rollout(models.Model):
    """A route's self-driving plan: steps held for a time and a number of requests, advanced
    while the gates hold, sent back to legacy the moment one fails. One decision per step
    across every process: the one holding the lease decides, inside a row lock."""

    route = models.CharField(max_length=100, db_index=True)
    steps = models.JSONField()  # [{"state": "shadow"}, {"state": "canary", "percent": 5}, ...]
    hold_seconds = models.PositiveIntegerField(default=300)
    min_requests = models.PositiveIntegerField(default=100)
    gates = models.JSONField(default=dict)
    step = models.PositiveSmallIntegerField(default=0)
    step_started_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=ROLLOUT_STATUSES, default="running")
    message = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    started_by = models.CharField(max_length=150, blank=True)
    reason = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_check = models.JSONField(default=dict, blank=True)  # the numbers of the latest evaluation
    decisions = models.JSONField(default=list, blank=True)  # every step's decision and its numbers
    lease_holder = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["route"], condition=models.Q(status__in=["running", "paused"]), name="rollout_one_active_per_route"
            )
        ]

    def __str__(self) -> str:
        return f"rollout #{self.pk} of {self.route}: {self.status}, step {self.step + 1}/{len(self.steps)}"


PARITY_STATUSES = [(status, status) for status in ("running", "passed", "failed", "error")]


class ParityRun(models.Model):
    """A parity run started from the admin or the console: its progress, verdict and report."""

    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_by = models.CharField(max_length=150, blank=True)
    reason = models.TextField(blank=True)
    routes = models.JSONField(default=list)  # the route names it compared; empty: every declared route
    status = models.CharField(max_length=10, choices=PARITY_STATUSES, default="running")
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)  # per route: cases, passed, failed
    report = models.TextField(blank=True)  # the HTML report
    output = models.TextField(blank=True)  # the text report, or the error
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=models.Q(status="running"), name="one_running_parity_run")
        ]

    def __str__(self) -> str:
        return f"parity run #{self.pk}: {self.status}"
