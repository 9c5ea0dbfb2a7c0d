"""The short way to Django for a URL nothing new has claimed.

Most requests a gateway serves during a migration are legacy pages. In the full stack each of
them still passes a CORS policy, the route table, the upload limit, the login redirect, the
Gradio guard, the user lookup, FastAPI's exception layers and the router before it reaches the
catch-all mount, and every one of those layers only looks at the path to decide it has
nothing to do: about 230 function calls of event-loop time per page, while the Django thread
waits for the GIL.

``LegacyLaneMiddleware`` sits inside the host and forwarded-header checks, which every
request needs, and sends an HTTP request straight to the legacy app when the router would
have given it to the legacy mount anyway: it is under no new-side prefix, no migrated route
matches it, and no route before the catch-all mount matches it fully (one that matches the
path but not the method is passed over by the router too). A migrated route whose state
sends it to Django whoever asks (``legacy``, or a method that does not move) goes the same way,
tagged and counted as the route table does it (``serve_routed_legacy``); in any other state
the route table decides, in the full stack. The routes are read from the app
itself while serving, so a route inserted before the catch-all is seen at its next request
(one added to a router already included, within a second).

What a legacy URL no longer passes is what Django does itself: an ``OPTIONS`` preflight to an
old URL is answered by Django as it was before the gateway, not by the gateway's CORS policy
for the new routes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from fastapi_gateway.compat import get_route_path
from starlette.routing import BaseRoute, Host, Match, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from fastapi_gateway.migrated_route import match_route
from fastapi_gateway.routing.live_table import LiveRouteTable
from fastapi_gateway.routing.middleware import serve_routed_legacy, settled_on_legacy

__all__ = ["LegacyLaneMiddleware"]

_DECISIONS_TTL = 1.0  # seconds
_DECISIONS_MAX = 4096  # distinct paths remembered at once


class LegacyLaneMiddleware:
    """Send requests for unclaimed paths to ``legacy``; the rest to the app's full stack.

    Claimed are: paths under ``claimed_prefixes`` (the new side's mounts, matched as the
    new side's middlewares match them), the ``route_table``'s routes unless their state
    settles on legacy, and any request the app's router would give to a route before it
    reaches the ``legacy`` mount.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        legacy: ASGIApp,
        claimed_prefixes: Sequence[str] = (),
        route_table: LiveRouteTable | None = None,
    ) -> None:
        self.app = app
        self.legacy = legacy
        self.claimed_prefixes = tuple(claimed_prefixes)
        self.route_table = route_table
        # Decisions per path, for the routes FastAPI can only answer by walking an included
        # router. Forgotten every second and whenever the app's own route list changes, so a
        # route added while serving is honoured within a second at worst.
        self._decided: dict[tuple[str, str, str], bool] = {}
        self._decided_since = 0.0
        self._decided_routes = 0

    def _is_legacy(self, scope: Scope) -> bool:
        path: str = scope["path"]
        if self.claimed_prefixes and get_route_path(scope).startswith(self.claimed_prefixes):
            return False
        router = getattr(scope.get("app"), "router", None)
        if router is None:
            return False
        routes = router.routes
        key = (scope["method"], scope.get("root_path", ""), path)
        now = time.monotonic()
        if now - self._decided_since > _DECISIONS_TTL or len(routes) != self._decided_routes or len(self._decided) >= _DECISIONS_MAX:
            self._decided.clear()
            self._decided_since, self._decided_routes = now, len(routes)
        decided = self._decided.get(key)
        if decided is None:
            decided, by_path_alone = self._router_would_serve_legacy(routes, scope)
            if by_path_alone:
                self._decided[key] = decided
        return decided

    def _router_would_serve_legacy(self, routes: Sequence[BaseRoute], scope: Scope) -> tuple[bool, bool]:
        """Whether the router's choice, the first route to match fully, is the legacy mount;
        and whether that follows from the method and path alone (no ``Host`` route asked).

        (A route that matches the path but not the method is passed over by the router too:
        the catch-all mount matches fully after it.)
        """
        route_path = get_route_path(scope)  # what the router itself matches against
        method = scope["method"]
        by_path_alone = True
        for route in routes:
            if isinstance(route, Mount):
                if route.path_regex.match(route_path):
                    return route.app is self.legacy, by_path_alone
            elif isinstance(route, Route):
                if route.path_regex.match(route_path) and (route.methods is None or method in route.methods):
                    return False, by_path_alone
            else:  # FastAPI's included routers, Host routes: ask the route, on a scope of our own
                by_path_alone = by_path_alone and not isinstance(route, Host)
                probe = {"type": "http", "path": scope["path"], "root_path": scope.get("root_path", ""),
                         "method": method, "headers": scope.get("headers", [])}
                if route.matches(probe)[0] is Match.FULL:
                    return False, by_path_alone
        return False, by_path_alone

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        table = self.route_table
        matched = match_route(table.routes, get_route_path(scope)) if table is not None else None
        if table is not None and matched is not None:
            if settled_on_legacy(table, matched.route, scope["method"]):
                await serve_routed_legacy(self.legacy, matched.route, scope, receive, send)
            else:
                await self.app(scope, receive, send)  # canary, shadow, new, redirect: the route table's call
        elif self._is_legacy(scope):
            await self.legacy(scope, receive, send)
        else:
            await self.app(scope, receive, send)
