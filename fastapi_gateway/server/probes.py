"""``ProbesMiddleware``: ``/healthz`` and ``/readyz``, answered before the Host check.

``/healthz`` is liveness: 200 while the process can run a coroutine, and nothing else is
asked (a liveness probe that fails on a database outage gets every process restarted at once,
which does not bring the database back). ``/readyz`` is readiness (``Readiness``): 200 when
this process should be sent requests, 503 with the failing check named otherwise.

Probes come from engines that know the process by its address: a kubelet sends ``Host:
<pod IP>:<port>``, a container healthcheck ``Host: 127.0.0.1``, and neither is in
``ALLOWED_HOSTS``. So both are answered here, inside the request-head limits and before the
Host and forwarded-header checks, for GET and HEAD (any other method: 405); they say nothing about the site
beyond the names of its checks. Neither needs a login, and neither is in the OpenAPI schema.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from fastapi_gateway.compat import get_route_path
from fastapi_gateway.server.readiness import Readiness

__all__ = ["ProbesMiddleware", "LIVENESS_PATH", "READINESS_PATH"]

LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
_NOT_CACHED = {"Cache-Control": "no-store"}


class ProbesMiddleware:
    def __init__(self, app: ASGIApp, *, readiness: Readiness) -> None:
        self.app = app
        self.readiness = readiness

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD"):
            if get_route_path(scope) in (LIVENESS_PATH, READINESS_PATH):  # the probes' URLs are the gateway's
                headers = {**_NOT_CACHED, "Allow": "GET, HEAD"}
                await JSONResponse({"detail": "Method Not Allowed"}, status_code=405, headers=headers)(scope, receive, send)
                return
        elif scope["type"] == "http":
            path = get_route_path(scope)
            if path == LIVENESS_PATH:
                await JSONResponse({"status": "ok"}, headers=_NOT_CACHED)(scope, receive, send)
                return
            if path == READINESS_PATH:
                report = await self.readiness.report()
                status = 200 if report.ready else 503
                await JSONResponse(report.as_json(), status_code=status, headers=_NOT_CACHED)(scope, receive, send)
                return
        await self.app(scope, receive, send)
