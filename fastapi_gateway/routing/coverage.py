"""How far the move has come: every URL pattern of the project's URLconf, the requests each
side answered there, and the declared route that covers it (``manage.py routes coverage``).

A pattern is named as Django names it in ``ResolverMatch.route``, the name ``traffic`` keeps
its counts under, so the URLconf's tree and the counts meet without resolving a path again.
A route covers a pattern when its legacy pattern is that pattern (converters compared, not
parameter names), when Django resolves a URL the route answers to that pattern, or, for a
route no URL can be made up for (a custom converter), when the new side's requests there were
counted by the same processes in the same buckets as that route's, and no other route's.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.urls import URLResolver

from fastapi_gateway.compat import join_route, url_entries, url_resolver, view_path
from fastapi_gateway.migrated_route import MigratedRoute, RouteState
from fastapi_gateway.routing.table import RouteSetting, declared_routes, load_states
from fastapi_gateway.routing.traffic import UNMATCHED, UNRESOLVED, UNVERIFIED, bucket_start, pattern_counts, url_pattern

__all__ = ["UNMATCHED", "UrlPattern", "coverage_rows", "coverage_summary", "url_patterns"]

_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<parameter>[^>]+)>")  # path() syntax
# A made-up value per parameter: one of these fits each of Django's own converters.
_SAMPLES = ("1", "a", "00000000-0000-0000-0000-000000000000")
_MAX_PROBES = 81


@dataclass(frozen=True)
class UrlPattern:
    """One endpoint of the URLconf."""

    route: str  # as ``ResolverMatch.route`` has it: the includes' routes joined
    name: str | None  # namespaced, ``admin:index``; None for a pattern without a name
    view: str  # dotted path


def url_patterns() -> list[UrlPattern]:
    """Every endpoint of the URLconf ``resolve()`` uses, includes walked, in the order Django tries them."""
    return list(_walk(url_resolver()))


def _walk(resolver: URLResolver) -> Iterator[UrlPattern]:
    for entry in url_entries(resolver):
        if isinstance(entry, URLResolver):
            prefix, namespace = str(entry.pattern), entry.namespace
            for inner in _walk(entry):
                name = f"{namespace}:{inner.name}" if namespace and inner.name else inner.name
                yield UrlPattern(join_route(prefix, inner.route), name, inner.view)
        else:
            yield UrlPattern(str(entry.pattern), entry.name or None, view_path(entry))


def _shape(route: str) -> str:
    """A ``path()`` pattern without its parameters' names: ``tickets/<int:pk>/`` and
    ``/tickets/<int:id>/`` answer the same URLs; ``<pk>`` is ``<str:pk>``."""
    return _PARAMETER.sub(lambda match: f"<{match['converter'] or 'str'}>", route.lstrip("/"))


def _probe(route: MigratedRoute) -> str | None:
    """A URL the route answers: its legacy URL, or that with values made up for its parameters."""
    parameters = len(_PARAMETER.findall(route.legacy))
    if not parameters:
        return route.legacy
    for values in itertools.islice(itertools.product(_SAMPLES, repeat=parameters), _MAX_PROBES):
        made_up = iter(values)
        url = _PARAMETER.sub(lambda _: next(made_up), route.legacy)
        if route.match(url) is not None:
            return url
    return None


def _covered_by(routes: Sequence[MigratedRoute], patterns: Iterable[str]) -> dict[str, list[str]]:
    """Per pattern, the routes covering it by their declarations, in declaration order."""
    by_shape: dict[str, list[str]] = {}
    for pattern in patterns:
        by_shape.setdefault(_shape(pattern), []).append(pattern)
    covered: dict[str, list[str]] = {}
    for route in routes:
        found = list(by_shape.get(_shape(route.legacy), ()))
        probe = _probe(route)
        resolved = url_pattern(probe) if probe is not None else None
        if resolved is not None and resolved not in found:
            found.append(resolved)
        for pattern in found:
            covered.setdefault(pattern, []).append(route.name)
    return covered


def _recorded(patterns: set[str], routes: list[str], since: datetime | None) -> dict[str, str]:
    """For patterns the new side answered on that no declaration places: the one route among
    ``routes`` whose own new-side requests were counted in the same buckets by the same processes."""
    from django.db.models import Q

    from fastapi_gateway.routing.models import TrafficSample

    if not patterns or not routes:
        return {}
    samples = TrafficSample.objects.filter(side__in=["new", UNVERIFIED], requests__gt=0).filter(
        Q(route="", pattern__in=patterns) | Q(route__in=routes, pattern="")
    )
    if since is not None:
        samples = samples.filter(bucket__gte=bucket_start(since))
    on_pattern: dict[str, set[tuple[datetime, str]]] = {}
    on_route: dict[str, set[tuple[datetime, str]]] = {}
    for bucket, source, route, pattern in samples.values_list("bucket", "source", "route", "pattern"):
        (on_route.setdefault(route, set()) if route else on_pattern.setdefault(pattern, set())).add((bucket, source))
    found: dict[str, str] = {}
    for pattern, moments in on_pattern.items():
        candidates = [name for name in routes if on_route.get(name, set()) & moments]
        if len(candidates) == 1:
            found[pattern] = candidates[0]
    return found


def coverage_rows(since: datetime | None = None) -> list[dict[str, Any]]:
    """One row per URL pattern (and for patterns counted but gone from the URLconf, and for the
    requests no pattern answered, ``pattern`` None), most requested first."""
    patterns = url_patterns()
    counts = pattern_counts(since)
    routes = declared_routes()
    states = load_states(route.name for route in routes)
    in_urlconf = {pattern.route for pattern in patterns}
    gone = sorted(set(counts) - in_urlconf - {UNMATCHED, UNRESOLVED})
    covered = {pattern: names[0] for pattern, names in _covered_by(routes, [*in_urlconf, *gone]).items()}
    placed = set(covered.values())
    answered_new = {
        pattern for pattern, sides in counts.items()
        if sides.get("new") and pattern not in covered and pattern not in (UNMATCHED, UNRESOLVED)
    }
    covered.update(_recorded(answered_new, [route.name for route in routes if route.name not in placed], since))

    def row(pattern: str | None, name: str | None, view: str | None, sides: dict[str, int], known: bool) -> dict[str, Any]:
        legacy, new = int(sides.get("legacy", 0)), int(sides.get("new", 0))
        route = covered.get(pattern) if pattern is not None else None
        setting = states.get(route, RouteSetting()) if route else None
        return {
            "pattern": pattern, "name": name, "view": view,
            "requests": legacy + new, "legacy_requests": legacy, "new_requests": new,
            "new_share": round(new / (legacy + new), 4) if legacy + new else 0.0,
            "route": route, "state": setting.state.value if setting else None,
            "percent": (setting.percent if setting.state is RouteState.CANARY else 0) if setting else None,
            "in_urlconf": known,
        }

    rows, counted = [], set()
    for pattern in patterns:
        # A route string twice in the URLconf: Django answers with the first, which gets the counts.
        sides = counts.get(pattern.route, {}) if pattern.route not in counted else {}
        counted.add(pattern.route)
        rows.append(row(pattern.route, pattern.name, pattern.view, sides, True))
    rows.extend(row(pattern, None, None, counts[pattern], False) for pattern in gone)
    for marker in (UNMATCHED, UNRESOLVED):  # requests no pattern answered; paths past a process's cap
        if any(counts.get(marker, {}).values()):
            rows.append(row(None if marker == UNMATCHED else marker, None, None, counts[marker], False))
    rows.sort(key=lambda item: (-item["requests"], item["pattern"] is None, item["pattern"] or ""))
    return rows


def coverage_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The move in numbers: patterns with a declared route, and the new side's share of requests."""
    patterns = [row for row in rows if row["in_urlconf"]]
    requests = sum(row["requests"] for row in rows)
    new = sum(row["new_requests"] for row in rows)
    return {
        "patterns": len(patterns),
        "covered": sum(1 for row in patterns if row["route"]),
        "requests": requests,
        "new_requests": new,
        "new_share": round(new / requests, 4) if requests else 0.0,
        "unmatched_requests": sum(row["requests"] for row in rows if row["pattern"] is None),
    }
