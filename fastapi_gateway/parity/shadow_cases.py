"""Replay what shadow mode recorded: each stored mismatch becomes cases again.

The shadow store keeps the method and URL of a mismatch, not who made the request (nor a
request body), so a recorded request is replayed as each sample user and anonymous. Unsafe
requests are not replayed: their bodies were never stored, and should not be.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from ..routing.declarations import SAFE_METHODS, MigratedRoute
from .cases import HttpCase

__all__ = ["shadow_cases"]


def shadow_cases(routes: Sequence[MigratedRoute], users: Sequence[str], *, per_route: int = 20) -> tuple[list[HttpCase], list[str]]:
    """Cases from the latest ``per_route`` mismatches of each route (ORM: call from a thread)."""
    from ..routing.models import ShadowMismatch

    cases: list[HttpCase] = []
    warnings: list[str] = []
    for route in routes:
        for record in ShadowMismatch.objects.filter(route=route.name).order_by("-last_seen")[:per_route]:
            label = f"shadow #{record.pk} (seen {record.count}×)"
            if record.method.upper() not in SAFE_METHODS:
                warnings.append(f"{route.name}: {label} is a {record.method}; unsafe requests are not replayed")
                continue
            url = urlsplit(record.path)
            params = route.match(url.path)
            if params is None:
                warnings.append(f"{route.name}: {label} ({record.path}) no longer matches the route's legacy URL")
                continue
            new = route.new_url(params, url.query.encode())
            for user in [*users, None]:
                cases.append(HttpCase(
                    name=label, legacy=record.path, new=new, route=route.name, method=record.method,
                    user=user, source=f"shadow #{record.pk}",
                ))
    return cases, warnings
