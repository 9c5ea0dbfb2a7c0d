"""``create_app``: one FastAPI app serving the legacy Django site, new routes and Gradio pages.

Routes are matched in order — health check, new API routers, Gradio pages — and the Django
WSGI app is mounted last at ``/`` as the catch-all, so every URL nobody has migrated keeps
being answered by Django exactly as before.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import django
from django.apps import apps
from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.middleware.cors import CORSMiddleware

from .body_limit import BodySizeLimitMiddleware
from .cpu_affinity import claim_cpu
from .django_mount import legacy_asgi_app
from .exceptions import GatewayConfigurationError
from .forwarded_headers import ForwardedHeadersMiddleware
from .gradio_guard import GradioGuardMiddleware
from .gradio_mount import GradioPage, mount_gradio_pages
from .http_limits import RequestHeadLimitMiddleware, RequestHeadLimits
from .http_limits.limits import DEFAULT_LIMIT_REQUEST_FIELD_SIZE, DEFAULT_LIMIT_REQUEST_FIELDS, DEFAULT_LIMIT_REQUEST_LINE
from .legacy_lane import LegacyLaneMiddleware
from .login_redirect import LoginRedirectMiddleware
from .metrics_endpoint import metrics_router
from .new_side import load_router
from .outage import OutageMiddleware
from .routing.declarations import MigratedRoute
from .routing.middleware import RoutingMiddleware
from .routing.runtime import RoutingRuntime
from .routing.table import declared_routes
from .trusted_host import DjangoAllowedHostsMiddleware
from .user_middleware import DjangoUserMiddleware
from .validation_errors import request_validation_error_handler

__all__ = ["create_app"]

logger = logging.getLogger("fastapi_gateway")


def _declared_routes() -> tuple[MigratedRoute, ...]:
    """The project's declared routes; a declaration that fails to load disables routing only."""
    try:
        routes = declared_routes()
    except Exception:  # noqa: BLE001 - the site must still serve its legacy URLs
        logger.exception("the migrated routes could not be loaded; every URL is served by legacy")
        return ()
    if routes and not apps.is_installed("fastapi_gateway.routing"):
        raise GatewayConfigurationError(
            "routes are declared but 'fastapi_gateway.routing' is not in INSTALLED_APPS (it stores their states)"
        )
    return routes


def _setup_django(settings_module: str | None) -> None:
    """``django.setup()`` once; refuse to silently serve another project than the one asked for."""
    if settings_module is not None:
        configured = os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
        if configured != settings_module:
            raise GatewayConfigurationError(
                f"DJANGO_SETTINGS_MODULE is {configured!r}, but create_app was asked for {settings_module!r}"
            )
    if not apps.ready:
        django.setup()


def create_app(
    *,
    settings_module: str | None = None,
    legacy_wsgi_app: Any | None = None,
    api_routers: Mapping[str, APIRouter | str] | None = None,
    migrated_routes: Sequence[MigratedRoute] | None = None,
    route_poll_seconds: float = 0.5,
    metrics_token: str | None = None,
    gradio_pages: Sequence[GradioPage] = (),
    legacy_threads: int = 4,
    legacy_concurrency: int = 1,
    legacy_overflow_ms: float = 20.0,
    legacy_body_timeout_seconds: float = 60.0,
    legacy_body_spool_kb: int = 256,
    max_upload_mb: int = 50,
    trusted_proxies: Sequence[str] = (),
    limit_request_line: int = DEFAULT_LIMIT_REQUEST_LINE,
    limit_request_fields: int = DEFAULT_LIMIT_REQUEST_FIELDS,
    limit_request_field_size: int = DEFAULT_LIMIT_REQUEST_FIELD_SIZE,
    docs_prefix: str = "/api/v2",
    stream_recheck_seconds: float = 2.0,
    cpu_affinity: bool = False,
    title: str = "Django gateway",
) -> FastAPI:
    """Build the gateway.

    ``api_routers`` maps a URL prefix (e.g. ``"/api/v2"``) to a FastAPI router or an import
    string (``"api_v2:router"``, loaded so that a broken router answers 503 alone);
    ``migrated_routes`` are the legacy URLs that may move (default: the
    ``GATEWAY_MIGRATED_ROUTES`` setting), their states read live from the database;
    ``metrics_token`` lets a scraper read ``/metrics`` (staff users always can);
    ``gradio_pages`` are objects with ``path`` and ``build()`` (see ``GradioPage``);
    ``legacy_wsgi_app`` defaults to the Django project named by ``settings_module`` or
    ``DJANGO_SETTINGS_MODULE``; ``stream_recheck_seconds`` is how often an open Gradio
    stream re-checks that its Django session still holds its user. Legacy views run in
    ``legacy_threads`` threads, ``legacy_concurrency`` at a time, one more each time the oldest
    running has taken ``legacy_overflow_ms`` (see ``fastapi_gateway.admission``). A legacy
    request's body is read before a thread is taken, in memory up to ``legacy_body_spool_kb``
    KiB and in a temporary file past that; one that stops arriving for
    ``legacy_body_timeout_seconds`` is answered 408.
    ``cpu_affinity`` pins the serving process to a CPU of its own when it starts (see
    ``fastapi_gateway.cpu_affinity``; the entrypoint turns it on).
    ``limit_request_line``, ``limit_request_fields`` and ``limit_request_field_size`` are
    gunicorn's limits on a request head, answered 414 and 431 (see ``fastapi_gateway.http_limits``).
    """
    if legacy_concurrency < 1 or legacy_threads < 1 or legacy_overflow_ms <= 0:
        raise GatewayConfigurationError(
            f"need legacy_threads >= 1, legacy_concurrency >= 1 and legacy_overflow_ms > 0, not "
            f"{legacy_threads}, {legacy_concurrency}, {legacy_overflow_ms}"
        )
    if legacy_body_timeout_seconds <= 0 or legacy_body_spool_kb <= 0:
        raise GatewayConfigurationError(
            f"need legacy_body_timeout_seconds > 0 and legacy_body_spool_kb > 0, not "
            f"{legacy_body_timeout_seconds}, {legacy_body_spool_kb}"
        )
    if max_upload_mb <= 0:
        raise GatewayConfigurationError(f"max_upload_mb must be positive, not {max_upload_mb}")
    head_limits = RequestHeadLimits(limit_request_line, limit_request_fields, limit_request_field_size)
    _setup_django(settings_module)
    routers = {prefix.rstrip("/"): load_router(prefix, router) for prefix, router in (api_routers or {}).items()}
    routes = _declared_routes() if migrated_routes is None else tuple(migrated_routes)
    routing = RoutingRuntime(routes, poll_seconds=route_poll_seconds)
    docs_prefix = docs_prefix.rstrip("/")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if cpu_affinity:
            claim_cpu()
        async with routing.running():
            yield

    app = FastAPI(
        title=title,
        docs_url=f"{docs_prefix}/docs",
        redoc_url=None,
        openapi_url=f"{docs_prefix}/openapi.json",
        lifespan=lifespan,
        exception_handlers={RequestValidationError: request_validation_error_handler},
    )

    app.state.route_table = routing.table  # for operators' introspection and the tests

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(metrics_router(metrics_token))
    for prefix, router in routers.items():
        if isinstance(router, APIRouter):
            app.include_router(router, prefix=prefix)
        else:
            app.mount(prefix, router)

    gradio_apps = mount_gradio_pages(app, gradio_pages, max_upload_mb=max_upload_mb)
    for gradio_app in gradio_apps.values():
        if isinstance(gradio_app, FastAPI):
            gradio_app.add_exception_handler(RequestValidationError, request_validation_error_handler)
    legacy = legacy_asgi_app(
        legacy_wsgi_app, threads=legacy_threads, concurrency=legacy_concurrency, overflow_after=legacy_overflow_ms / 1000,
        body_timeout=legacy_body_timeout_seconds, body_spool_limit=legacy_body_spool_kb * 1024,
    )
    app.mount("/", legacy)

    new_prefixes = [*routers, *gradio_apps]
    # Added innermost first: a request meets them in the reverse order.
    app.add_middleware(DjangoUserMiddleware, path_prefixes=new_prefixes)
    app.add_middleware(GradioGuardMiddleware, mounts=gradio_apps, recheck_seconds=stream_recheck_seconds)
    app.add_middleware(LoginRedirectMiddleware, page_paths=list(gradio_apps))
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_upload_mb * 1024 * 1024, path_prefixes=new_prefixes)
    if routes:
        app.add_middleware(RoutingMiddleware, table=routing.table, shadow=routing.shadow, legacy=legacy)
    # A CORS policy of our own (no foreign origin allowed) also switches off Gradio's, which
    # answers any localhost origin with credentials.
    app.add_middleware(CORSMiddleware, allow_origins=[], allow_credentials=False)
    app.add_middleware(OutageMiddleware)
    # A URL no route claims goes straight to Django from here (see ``legacy_lane``).
    app.add_middleware(
        LegacyLaneMiddleware, legacy=legacy, claimed_prefixes=new_prefixes, route_table=routing.table if routes else None
    )
    # A foreign Host never reaches the new side: Django answers it on its own URLs.
    app.add_middleware(DjangoAllowedHostsMiddleware, legacy=legacy, claimed_prefixes=new_prefixes)
    app.add_middleware(ForwardedHeadersMiddleware, trusted_proxies=trusted_proxies)
    # Outermost: nothing reads an oversized head (the launchers' protocol refuses it earlier).
    app.add_middleware(RequestHeadLimitMiddleware, limits=head_limits)
    return app
