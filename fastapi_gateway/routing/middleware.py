"""Pure ASGI routing of migrated URLs to the legacy or the new side, per the live route table.

Unmatched paths pass straight through at the cost of a few compiled-regex checks. A matched
path is served according to its route's state; every routed answer says who served it in
``X-Served-By``. The new side is this same app at the route's new URL, so its handlers keep
their login, CSRF and upload rules.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

import anyio
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastapi_gateway.compat import get_route_path
from fastapi_gateway.http.channels import ResponseTracker, read_body, replay_body
from fastapi_gateway.routing.canary import in_canary
from fastapi_gateway.routing.classic import classic_choice, remember_choice
from fastapi_gateway.migrated_route import SAFE_METHODS, MigratedRoute, RouteMatch, RouteState, match_route
from fastapi_gateway.routing.identity import verified_identity
from fastapi_gateway.routing.live_table import LiveRouteTable
from fastapi_gateway.routing.metrics import FALLBACKS, LATENCY, REQUESTS
from fastapi_gateway.routing.replay import Answer, call_in_process, rewrite_scope, root_prefix
from fastapi_gateway.routing.traffic import RECORDER, UNVERIFIED
from fastapi_gateway.routing.shadow import ShadowJob, ShadowRunner

__all__ = ["RoutingMiddleware", "serve_routed_legacy", "settled_on_legacy"]

logger = logging.getLogger("fastapi_gateway.routing")

_SHADOW_CAPTURE_LIMIT = 1024 * 1024


def _with_served_by(send: Send, side: str) -> Send:
    async def tagged(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"x-served-by", side.encode())]}
        await send(message)

    return tagged


def settled_on_legacy(table: LiveRouteTable, route: MigratedRoute, method: str) -> bool:
    """Whether the table sends this request to Django whoever asks: the route's state is
    ``legacy``, or the method is not one that moves. (Canary and shadow need more than the
    path to decide.)"""
    return not route.may_move(method) or table.setting(route.name).state is RouteState.LEGACY


async def serve_routed_legacy(legacy: ASGIApp, route: MigratedRoute, scope: Scope, receive: Receive, send: Send) -> None:
    """Django's answer to a migrated URL, tagged ``X-Served-By: legacy`` and counted for its route."""
    started = time.perf_counter()
    tracker = ResponseTracker(send)
    try:
        await legacy(scope, receive, _with_served_by(tracker, "legacy"))
    except BaseException:
        _count(route, "legacy", tracker.status or 500, started, scope)
        raise
    # No answer without an error: the client left before Django answered. Not the side's fault.
    if tracker.status is not None:
        _count(route, "legacy", tracker.status, started, scope)


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0")):
            return True
    return False


@functools.lru_cache(maxsize=4096)
def _series(route: str, side: str, status_class: int) -> tuple[Any, Any]:
    """The Prometheus series one answer counts in, found once: ``labels()`` validates and
    locks on every call, a third of counting's cost. Routes, sides and classes are few."""
    return REQUESTS.labels(route, side, f"{status_class}xx"), LATENCY.labels(route, side)


def _count(route: MigratedRoute, side: str, status: int, started: float, scope: Scope, *, gated: bool = True) -> None:
    """Prometheus' counters, and the route numbers the console and the rollout gates read.

    Those numbers leave out what a client could use to steer a rollout: the new side's
    answers to no verified identity (``gated``), and the latency of a request that had a body
    (its upload time is the client's, not the side's)."""
    elapsed = time.perf_counter() - started
    requests, latency = _series(route.name, side, status // 100)
    requests.inc()
    latency.observe(elapsed)
    if gated:
        RECORDER.request(route.name, side, status, None if _has_body(scope) else elapsed)
    else:  # counted apart (requests only), for the coverage of the move, never for the gates
        RECORDER.request(route.name, UNVERIFIED, status, None)
    if side == "new":  # Django's answers are counted where Django is called
        RECORDER.path(get_route_path(scope), "new")


class RoutingMiddleware:
    routes_requests = True  # how parity finds this layer to reach both sides below it

    def __init__(
        self, app: ASGIApp, *, table: LiveRouteTable, shadow: ShadowRunner, legacy: ASGIApp | None = None, max_body: int | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body  # the body of a safe request tried on the new side, read whole first
        # The legacy side, called directly: the layers between here and the router are for the new side.
        self.legacy = legacy if legacy is not None else app
        self.table = table
        self.shadow = shadow

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = match_route(self.table.routes, get_route_path(scope)) if scope["type"] == "http" else None
        if matched is None:
            await self.app(scope, receive, send)
            return
        route, method = matched.route, scope["method"]
        setting = self.table.setting(route.name)
        state = setting.state if route.may_move(method) else RouteState.LEGACY
        if route.page and state in (RouteState.CANARY, RouteState.REDIRECT):
            wants_classic, remembered = classic_choice(scope, route.name)
            if wants_classic:
                await serve_routed_legacy(self.legacy, route, scope, receive, remember_choice(send, remembered))
                return
            send = remember_choice(send, remembered)
        identity: str | None = None
        if state in (RouteState.CANARY, RouteState.NEW, RouteState.REDIRECT):
            identity = await verified_identity(scope)  # who the canary and the gates may count on
        if state is RouteState.CANARY:
            state = RouteState.NEW if in_canary(route.name, identity, setting.percent) else RouteState.LEGACY
        if state is RouteState.LEGACY or (state is RouteState.SHADOW and not route.may_shadow(method)):
            await serve_routed_legacy(self.legacy, route, scope, receive, send)
            return
        started = time.perf_counter()
        side = "legacy"
        tracker = ResponseTracker(send)
        send = tracker
        try:
            if state is RouteState.REDIRECT or (state is RouteState.NEW and route.page):
                side = "new"
                await self._redirect(matched, scope, receive, send)
            elif state is RouteState.NEW:
                side = await self._serve_new(matched, scope, receive, send)
            else:
                await self._serve_with_shadow(matched, scope, receive, send)
        except ConnectionAbortedError:
            if tracker.started:
                raise
            return  # the client left half-way through its body: nobody's answer to count or send
        except BaseException:
            _count(route, side, tracker.status or 500, started, scope, gated=side == "legacy" or identity is not None)
            raise
        if tracker.status is not None:
            _count(route, side, tracker.status, started, scope, gated=side == "legacy" or identity is not None)

    async def _redirect(self, matched: RouteMatch, scope: Scope, receive: Receive, send: Send) -> None:
        route = matched.route
        location = route.new_url(matched.params, scope.get("query_string", b""))
        if location.startswith("/") and not location.startswith("//"):
            location = root_prefix(scope) + location  # a path of this site, below its root path
        await RedirectResponse(location, status_code=route.redirect_status)(scope, receive, _with_served_by(send, "new"))

    async def _serve_new(self, matched: RouteMatch, scope: Scope, receive: Receive, send: Send) -> str:
        route = matched.route
        path = route.new.format(**matched.params)
        new_scope = rewrite_scope(scope, path, scope.get("query_string", b""))
        if scope["method"] not in SAFE_METHODS:
            # An unsafe request's body is consumed by the new side: no second try on legacy.
            tracker = ResponseTracker(_with_served_by(send, "new"))
            try:
                await self.app(new_scope, receive, tracker)
            except Exception:
                logger.exception("new side of %s raised on %s", route.name, scope["method"])
                if tracker.started:
                    raise
                await JSONResponse({"detail": "Internal Server Error"}, status_code=500)(scope, receive, tracker)
            return "new"
        try:
            body = await read_body(receive, limit=self.max_body)  # the new side's limit: it is the new side's request
        except OverflowError:
            await PlainTextResponse("Content Too Large", status_code=413, headers={"Connection": "close"})(scope, receive, send)
            return "new"
        answer: Answer | None = None
        reason = "timeout"
        with anyio.move_on_after(route.new_timeout):
            try:
                answer = await call_in_process(self.app, new_scope, body)
                reason = f"status {answer.status}"
            except Exception:  # noqa: BLE001 - the user gets the legacy answer instead
                logger.warning("new side of %s raised; serving legacy", route.name, exc_info=True)
                answer, reason = None, "exception"
        if answer is not None and answer.status < 500:
            await _send_answer(answer, _with_served_by(send, "new"))
            return "new"
        FALLBACKS.labels(route.name, reason.split()[0]).inc()
        RECORDER.fallback(route.name)
        logger.warning(
            "new side of %s failed (%s): served by legacy", route.name, reason,
            extra={"event": "route_fallback", "route": route.name, "reason": reason},
        )
        await self.legacy(scope, replay_body(body, receive), _with_served_by(send, "legacy"))
        return "legacy"

    async def _serve_with_shadow(self, matched: RouteMatch, scope: Scope, receive: Receive, send: Send) -> None:
        route = matched.route
        keep = self.shadow.has_room()  # a saturated process shadows nothing, and copies nothing for it
        legacy = Answer()
        captured: list[bytes] = []
        captured_size = 0
        request_body: list[bytes] = []
        request_size = 0

        async def teeing_receive() -> Message:
            nonlocal request_size
            message = await receive()
            if message["type"] == "http.request" and request_size <= _SHADOW_CAPTURE_LIMIT:
                chunk = message.get("body", b"")
                if keep:
                    request_body.append(chunk)
                request_size += len(chunk)  # past the limit nothing more is kept: no comparison
            return message

        async def capturing_send(message: Message) -> None:
            nonlocal captured_size
            if message["type"] == "http.response.start":
                legacy.status = message["status"]
                if keep:
                    legacy.raw_headers = list(message.get("headers", []))
                    legacy.headers = {n.decode("latin-1").lower(): v.decode("latin-1") for n, v in legacy.raw_headers}
            elif message["type"] == "http.response.body" and captured_size <= _SHADOW_CAPTURE_LIMIT:
                chunk = message.get("body", b"")
                if keep:
                    captured.append(chunk)
                captured_size += len(chunk)
            await send(message)

        await self.legacy(scope, teeing_receive, _with_served_by(capturing_send, "legacy"))
        if captured_size > _SHADOW_CAPTURE_LIMIT or request_size > _SHADOW_CAPTURE_LIMIT or not legacy.status:
            return
        if not keep:  # counted where a comparison would have been queued, as one with no room is
            self.shadow.drop(route)
            return
        legacy.body = b"".join(captured)
        path = route.new.format(**matched.params)
        self.shadow.submit(ShadowJob(self.app, route, rewrite_scope(scope, path, scope.get("query_string", b"")), b"".join(request_body), legacy))


async def _send_answer(answer: Answer, send: Send) -> None:
    await send({"type": "http.response.start", "status": answer.status, "headers": answer.raw_headers})
    await send({"type": "http.response.body", "body": answer.body, "more_body": False})
