"""The route table: declarations from code, states from the database, changes audited.

Reading is for the gateway's workers (a snapshot, refreshed when ``TableVersion`` moves);
changing is for the CLI and the admin, and validates against the declarations so a typo
cannot create a state nobody serves.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils.module_loading import import_string

from fastapi_gateway.conf import setting
from fastapi_gateway.exceptions import RoutingError
from fastapi_gateway.migrated_route import MigratedRoute, RouteState

__all__ = ["RouteSetting", "validate_state", "declared_routes", "load_states", "current_version", "set_route_state", "rollback_route"]

logger = logging.getLogger("fastapi_gateway.routing")


@dataclass(frozen=True)
class RouteSetting:
    state: RouteState = RouteState.LEGACY
    percent: int = 0


LEGACY = RouteSetting()


def load_routes(declared: Any) -> tuple[MigratedRoute, ...]:
    """A sequence of ``MigratedRoute``, or an import string naming one; no name twice."""
    if not declared:
        return ()
    routes = tuple(import_string(declared.replace(":", ".")) if isinstance(declared, str) else declared)
    # Counted once each: ``names.count`` per name was quadratic, 17 ms at 1,000 routes on every
    # rollout tick and console page, in a thread holding the GIL.
    duplicates = sorted(name for name, seen in Counter(route.name for route in routes).items() if seen > 1)
    if duplicates:
        raise RoutingError(f"route names declared twice: {', '.join(duplicates)}")
    return routes


def declared_routes() -> tuple[MigratedRoute, ...]:
    """The routes named by ``GATEWAY["ROUTES"]``."""
    return load_routes(setting("ROUTES"))


def current_version() -> int:
    from fastapi_gateway.routing.models import TableVersion

    row = TableVersion.objects.filter(pk=1).values_list("version", flat=True).first()
    return int(row or 0)


def load_states(declared: Iterable[str], *, only: bool = False) -> dict[str, RouteSetting]:
    """States of the declared routes; rows naming undeclared routes are ignored with a warning.
    ``only``: ``declared`` is some of the declared routes, whose rows alone are read."""
    from fastapi_gateway.routing.models import RouteStateRecord

    known = set(declared)
    states: dict[str, RouteSetting] = {}
    rows = RouteStateRecord.objects.filter(name__in=known) if only else RouteStateRecord.objects.all()
    for name, state, percent in rows.values_list("name", "state", "percent"):
        if name not in known:
            logger.warning("route table: ignoring state %r of undeclared route %r", state, name)
            continue
        try:
            states[name] = RouteSetting(RouteState(state), int(percent))
        except ValueError:
            logger.warning("route table: ignoring unknown state %r of route %r", state, name)
    return states


def validate_state(state: str, percent: int | None) -> tuple[RouteState, int]:
    """The one rule for a state and its percent (model, admin, CLI, console and rollout steps):
    a known state; a canary names its percent, 0 to 100; other states carry 0."""
    try:
        route_state = RouteState(state)
    except ValueError:
        raise RoutingError(f"unknown state {state!r}; states: {', '.join(s.value for s in RouteState)}") from None
    if percent is not None and (isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100):
        raise RoutingError(f"percent must be a whole number between 0 and 100, not {percent!r}")
    if route_state is RouteState.CANARY and percent is None:
        raise RoutingError("a canary needs a percentage (--percent N, 0-100)")
    return route_state, (percent or 0) if route_state is RouteState.CANARY else 0


def _validate(name: str, state: str, percent: int | None, declared: Sequence[MigratedRoute]) -> tuple[RouteState, int]:
    names = [route.name for route in declared]
    if name not in names:
        raise RoutingError(f"unknown route {name!r}; declared routes: {', '.join(names) or '(none)'}")
    return validate_state(state, percent)


def set_route_state(
    name: str, state: str, *, percent: int | None = None, reason: str = "", actor: str = "", undoes: Any = None
) -> RouteSetting:
    """Change one route's state for every worker: row, audit entry and version bump, atomically.

    ``undoes`` is the ``RouteChange`` a rollback reverses (see ``rollback_route``)."""
    from fastapi_gateway.routing.models import RouteChange, RouteStateRecord, TableVersion

    route_state, route_percent = _validate(name, state, percent, declared_routes())
    with transaction.atomic():
        record, _ = RouteStateRecord.objects.select_for_update().get_or_create(name=name)
        previous = record.state
        RouteChange.objects.create(
            name=name,
            from_state=record.state,
            from_percent=record.percent,
            to_state=route_state.value,
            to_percent=route_percent,
            changed_by=actor,
            reason=reason,
            undoes=undoes,
        )
        record.state, record.percent, record.changed_by, record.reason = route_state.value, route_percent, actor, reason
        record.save()
        TableVersion.objects.get_or_create(pk=1)
        TableVersion.objects.filter(pk=1).update(version=F("version") + 1)
    logger.info(
        "route %s: %s -> %s", name, previous, route_state.value,
        extra={"event": "route_flip", "route": name, "from_state": previous, "to_state": route_state.value,
               "percent": route_percent, "actor": actor, "reason": reason},
    )
    return RouteSetting(route_state, route_percent)


def rollback_route(name: str, *, reason: str = "", actor: str = "") -> RouteSetting:
    """Step a route back through its history: undo its latest change that has not been undone.

    A rollback is not itself undone by the next rollback: shadow → new → canary 50, then two
    rollbacks, goes to new and then to shadow (one step further back each time).
    """
    from fastapi_gateway.routing.models import RouteChange

    _validate(name, RouteState.LEGACY.value, None, declared_routes())
    with transaction.atomic():
        last = (
            # of=self: the undone_by filter is an outer join, which PostgreSQL will not lock.
            RouteChange.objects.select_for_update(of=("self",))
            .filter(name=name, undoes__isnull=True, undone_by__isnull=True)
            .order_by("-changed_at", "-id")
            .first()
        )
        if last is None:
            changed = RouteChange.objects.filter(name=name).exists()
            raise RoutingError(
                f"route {name!r} has no change left to roll back" if changed
                else f"route {name!r} has never been changed: nothing to roll back"
            )
        return set_route_state(
            name,
            last.from_state,
            percent=last.from_percent if last.from_state == RouteState.CANARY.value else None,
            reason=reason or f"rollback of change #{last.pk} ({last.from_state} -> {last.to_state})",
            actor=actor,
            undoes=last,
        )
