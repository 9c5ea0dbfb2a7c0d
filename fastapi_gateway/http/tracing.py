"""``TracingMiddleware``: one OpenTelemetry SERVER span per HTTP request (the "otel" extra).

Installed by ``create_app`` when ``GATEWAY["TRACING"]`` is true. The span comes from
``opentelemetry.trace.get_tracer("fastapi_gateway")``, so the application configures the SDK,
its exporter and sampler as for any instrumented library; a caller's ``traceparent`` is read
only through OpenTelemetry's propagator API (``opentelemetry.propagate.extract``). A span is
named after what was asked, never the raw path (ids) or query: ``GET api-tickets`` (the
migrated route), ``GET /api/v2`` (the new side's mount), else ``GET legacy``. It carries the
method, status, scheme, side, route, request id and the Django user's primary key; never the
query string, a cookie, a header's value, a body, a username or an exception's message
(messages can quote user data: only the exception's type is recorded).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastapi_gateway.http.request_id import current_request_id
from fastapi_gateway.compat import get_route_path
from fastapi_gateway.migrated_route import match_route

if TYPE_CHECKING:
    from fastapi_gateway.routing.live_table import LiveRouteTable

__all__ = ["TracingMiddleware", "TRACER_NAME"]

TRACER_NAME = "fastapi_gateway"
_SERVED_BY = b"x-served-by"


class TracingMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        new_prefixes: Sequence[str] = (),
        route_table: LiveRouteTable | None = None,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self.app = app
        # Longest first, so /api/v2 names a request to /api/v2/x rather than /api.
        self.new_prefixes = sorted((prefix.rstrip("/") for prefix in new_prefixes if prefix.rstrip("/")), key=len, reverse=True)
        self.route_table = route_table
        self.tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)

    def _new_prefix(self, path: str) -> str | None:
        return next((prefix for prefix in self.new_prefixes if path == prefix or path.startswith(prefix + "/")), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], get_route_path(scope)  # below the root path, as the router
        matched = match_route(self.route_table.routes, path) if self.route_table is not None else None
        prefix = self._new_prefix(path)
        route = matched.route.name if matched is not None else None
        side = "legacy" if prefix is None else "new"
        attributes: dict[str, Any] = {"http.request.method": method, "url.scheme": scope.get("scheme", "http"), "gateway.side": side}
        if route is not None:
            attributes["gateway.route"] = route
        request_id = current_request_id()
        if request_id is not None:
            attributes["gateway.request_id"] = request_id
        carrier = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope.get("headers", ())}
        with self.tracer.start_as_current_span(
            f"{method} {route or prefix or 'legacy'}", context=propagate.extract(carrier), kind=SpanKind.SERVER,
            attributes=attributes, record_exception=False, set_status_on_exception=False,
        ) as span:

            async def traced_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = message["status"]
                    span.set_attribute("http.response.status_code", status)
                    served_by = next((value for name, value in message.get("headers", ()) if name == _SERVED_BY), None)
                    if served_by in (b"legacy", b"new"):
                        span.set_attribute("gateway.side", served_by.decode())
                    if status >= 500:
                        span.set_attribute("error.type", str(status))
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, traced_send)
            except Exception as exc:
                span.set_attribute("error.type", type(exc).__qualname__)
                span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
                raise
            finally:
                user_id = _user_id(scope)
                if user_id is not None:
                    span.set_attribute("enduser.id", user_id)


def _user_id(scope: Scope) -> str | None:
    """The primary key of the user the new side resolved (legacy pages leave it to Django)."""
    user = scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return str(getattr(user, "pk", "")) or None
