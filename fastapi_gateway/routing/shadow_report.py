"""Recorded shadow mismatches shown in the parity report format, one case per stored kind.

The store keeps redacted, capped bodies, the redacted differing fields and the request's URL
with its secrets masked; what is shown is redacted again with today's rule (a row written by
an older worker during a rolling deploy, or restored from a backup). Nothing is re-fetched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fastapi_gateway.migrated_route import MigratedRoute
from fastapi_gateway.parity.difference import Difference
from fastapi_gateway.parity.observation import observation_from_text
from fastapi_gateway.parity.redaction import Redactor
from fastapi_gateway.parity.results import DIFFER, CaseResult, RunReport

if TYPE_CHECKING:
    from fastapi_gateway.routing.models import ShadowMismatch

__all__ = ["mismatch_result", "shadow_report", "latest_mismatches"]


def _new_target(record: ShadowMismatch, routes: dict[str, MigratedRoute]) -> str:
    route = routes.get(record.route)
    url = urlsplit(record.path)
    params = route.match(url.path) if route else None
    if route is None or params is None:
        return "(new side)"
    return route.new_url(params, url.query.encode())


def mismatch_result(record: ShadowMismatch, routes: Sequence[MigratedRoute] = (), redactor: Redactor | None = None) -> CaseResult:
    by_name = {route.name: route for route in routes}
    secrets = redactor or Redactor.from_settings()
    differences = [Difference.from_dict(item) for item in record.differences if isinstance(item, dict)]
    return CaseResult(
        route=record.route,
        name=f"shadow #{record.pk}: seen {record.count}×, last {record.last_seen:%Y-%m-%d %H:%M:%S}",
        kind="http",
        method=record.method,
        legacy_target=secrets.url(record.path),
        new_target=secrets.url(_new_target(record, by_name)),
        source=f"first seen {record.first_seen:%Y-%m-%d %H:%M:%S}",
        outcome=DIFFER,
        differences=secrets.differences(differences),
        legacy=observation_from_text(record.legacy_status, secrets.stored_text(record.legacy_body)),
        new=observation_from_text(record.new_status, secrets.stored_text(record.new_body)) if record.new_status is not None else None,
        anchor=f"mismatch-{record.pk}",
    )


def latest_mismatches(per_route: int = 10) -> list[ShadowMismatch]:
    """The latest ``per_route`` kinds of mismatch of each route, routes by name."""
    from fastapi_gateway.routing.models import ShadowMismatch

    records: list[ShadowMismatch] = []
    for route in ShadowMismatch.objects.order_by("route").values_list("route", flat=True).distinct():
        records += list(ShadowMismatch.objects.filter(route=route).order_by("-last_seen")[:per_route])
    return records


def shadow_report(records: Iterable[ShadowMismatch], routes: Sequence[MigratedRoute] = ()) -> RunReport:
    secrets = Redactor.from_settings()
    return RunReport([mismatch_result(record, routes, secrets) for record in records], title="Shadow mismatches")
