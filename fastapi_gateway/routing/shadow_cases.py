"""Replay what shadow mode recorded: each stored mismatch becomes cases again.

The shadow store keeps the method, URL and user of a mismatch (the first request seen with
that signature), never a request body. A recorded request is replayed as the user who made it
(anonymous if they were); rows recorded before the user was kept, and rows whose user no
longer exists, are replayed as each sample user and anonymous. Unsafe requests are not
replayed: their bodies were never stored, and should not be. Nor were the secrets of a URL:
a replay sends the placeholder where the user sent a token (``?access_token=*****``).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from fastapi_gateway.migrated_route import SAFE_METHODS, MigratedRoute
from fastapi_gateway.parity.cases import HttpCase

__all__ = ["shadow_cases"]


def shadow_cases(routes: Sequence[MigratedRoute], users: Sequence[str], *, per_route: int = 20) -> tuple[list[HttpCase], list[str]]:
    """Cases from the latest ``per_route`` mismatches of each route (ORM: call from a thread)."""
    from django.contrib.auth import get_user_model

    from fastapi_gateway.routing.models import ShadowMismatch

    known = get_user_model()._default_manager.all()
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
            replay_as: list[str | None] = [*users, None]
            if record.username == "":
                replay_as = [None]
            elif record.username is not None:
                if known.filter(**{known.model.USERNAME_FIELD: record.username}).exists():
                    replay_as = [record.username]
                else:
                    warnings.append(f"{route.name}: {label} was seen as {record.username!r}, who no longer exists; "
                                    "replayed as the sample users")
            for user in replay_as:
                cases.append(HttpCase(
                    name=label, legacy=record.path, new=new, route=route.name, method=record.method,
                    user=user, source=f"shadow #{record.pk}",
                ))
    return cases, warnings
