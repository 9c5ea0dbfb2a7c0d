"""How a migration engineer declares, in code, which legacy URL has a new implementation.

A declaration names the legacy URL with a Django ``path()`` pattern (matched by Django's own
``RoutePattern``, so ``<int:pk>`` means what it means in ``urls.py``), the new URL that
answers it — a gateway route (``/api/v2/tickets/{pk}``) or a page (``/ui/tickets/``) — and
the options of the move. Where it *is* on the way (legacy, shadow, canary…) lives in the
database, so every worker on every host agrees.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi_gateway.compat import RoutePattern

if TYPE_CHECKING:
    from fastapi_gateway.routing.rollouts import RolloutPlan

__all__ = ["MigratedRoute", "RouteIndex", "RouteState", "RouteMatch", "SAFE_METHODS", "match_route"]

SAFE_METHODS = frozenset({"GET", "HEAD"})


class RouteState(str, enum.Enum):
    LEGACY = "legacy"  # Django answers (the default)
    SHADOW = "shadow"  # Django answers; the new side is called in the background and compared
    CANARY = "canary"  # a sticky percentage of users get the new side
    NEW = "new"  # the new side answers; safe methods fall back to Django on 5xx or timeout
    REDIRECT = "redirect"  # the client is sent to the new URL


@dataclass(frozen=True)
class MigratedRoute:
    """One legacy URL and its replacement.

    ``page=True`` means the new side is a page of its own (a Gradio page): it is reached by
    redirecting the browser there, in ``canary`` and ``new`` as in ``redirect``. ``rollout``
    is a ``RolloutPlan``: the steps and gates a rollout of this route follows.
    """

    name: str
    legacy: str
    new: str
    methods: frozenset[str] = SAFE_METHODS
    page: bool = False
    shadow_unsafe: bool = False
    redirect_status: int = 302
    keep_query: bool = True
    new_timeout: float = 2.0
    parity_ignore: tuple[str, ...] = ()
    parity_unordered: tuple[str, ...] = ()
    # The self-driving plan ``manage.py routes rollout NAME`` and the console start (default steps otherwise).
    rollout: RolloutPlan | None = None
    _pattern: RoutePattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"a route name is letters, digits, '-' and '_', not {self.name!r}")
        if self.redirect_status not in (301, 302, 303, 307, 308):
            raise ValueError(f"{self.name}: redirect_status must be a redirect, not {self.redirect_status}")
        object.__setattr__(self, "methods", frozenset(method.upper() for method in self.methods))
        object.__setattr__(self, "_pattern", RoutePattern(self.legacy.lstrip("/"), is_endpoint=True))

    def match(self, path: str) -> dict[str, Any] | None:
        """The URL's parameters if ``path`` is this route's legacy URL, else ``None``."""
        matched = self._pattern.match(path.lstrip("/"))
        if matched is None or matched[0]:
            return None
        return dict(matched[2])

    def new_url(self, params: Mapping[str, Any], query_string: bytes = b"") -> str:
        url = self.new.format(**params)
        if self.keep_query and query_string:
            url += "?" + query_string.decode("latin-1")
        return url

    def may_move(self, method: str) -> bool:
        return method.upper() in self.methods

    def may_shadow(self, method: str) -> bool:
        return self.may_move(method) and (method.upper() in SAFE_METHODS or self.shadow_unsafe)


@dataclass(frozen=True)
class RouteMatch:
    route: MigratedRoute
    params: dict[str, Any]


def match_route(routes: Iterable[MigratedRoute], path: str) -> RouteMatch | None:
    """The first of ``routes``, in their order, whose legacy URL ``path`` is (a ``RouteIndex``
    answers from its index; any other iterable is tried route by route)."""
    if isinstance(routes, RouteIndex):
        return routes.match(path)
    for route in routes:
        params = route.match(path)
        if params is not None:
            return RouteMatch(route, params)
    return None


class RouteIndex:
    """Routes indexed by the literal part of their legacy URL, so a request is matched against
    the few routes it could be, not every declared one: the cost stays flat from 3 routes to
    thousands (``bench/route_count.py``), where trying each pattern grew by about a microsecond
    a route, three times a request.

    A route without parameters is one dictionary lookup. A route with parameters is filed
    under its leading whole literal segments (``api/tickets/`` for
    ``/api/tickets/<int:pk>/``); a path looks up each of its own leading segment runs (a
    handful) and tries only the routes filed there, in declaration order, so the first
    declared route to match still wins, as with ``match_route`` over the sequence.
    """

    def __init__(self, routes: Iterable[MigratedRoute]) -> None:
        self.routes = tuple(routes)
        self._literal: dict[str, int] = {}
        self._by_prefix: dict[str, list[int]] = {}
        for position, route in enumerate(self.routes):
            pattern = route.legacy.lstrip("/")
            if "<" not in pattern:
                self._literal.setdefault(pattern, position)
                continue
            segments = pattern.split("/")
            literal = next(i for i, segment in enumerate(segments) if "<" in segment)
            prefix = "".join(segment + "/" for segment in segments[:literal])
            self._by_prefix.setdefault(prefix, []).append(position)

    def __iter__(self) -> Iterator[MigratedRoute]:
        return iter(self.routes)

    def __len__(self) -> int:
        return len(self.routes)

    def match(self, path: str) -> RouteMatch | None:
        path = path.lstrip("/")
        first = self._literal.get(path)
        candidates: list[int] = [] if first is None else [first]
        by_prefix = self._by_prefix
        if by_prefix:
            found = by_prefix.get("")
            if found:
                candidates += found
            end = path.find("/")
            while end != -1:
                found = by_prefix.get(path[:end + 1])
                if found:
                    candidates += found
                end = path.find("/", end + 1)
        if len(candidates) > 1:
            candidates.sort()
        for position in candidates:
            route = self.routes[position]
            if position == first:
                return RouteMatch(route, {})
            params = route.match(path)
            if params is not None:
                return RouteMatch(route, params)
        return None
