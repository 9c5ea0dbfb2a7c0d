"""``create_app``: one FastAPI app serving the legacy Django site, new routes and Gradio pages.

Routes are matched in order — new API routers, Gradio pages — and the Django
WSGI app is mounted last at ``/`` as the catch-all, so every URL nobody has migrated keeps
being answered by Django exactly as before.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
import django
from django.apps import apps
from django.conf import settings as django_settings
from django.utils.module_loading import import_string
from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.middleware.cors import CORSMiddleware

from fastapi_gateway.http.access_log import AccessLogMiddleware
from fastapi_gateway.http.body_limit import BodySizeLimitMiddleware
from fastapi_gateway.http.request_id import RequestIdMiddleware
from fastapi_gateway.compat import gradio_stop_event
from fastapi_gateway.server.cpu_affinity import claim_cpu
from fastapi_gateway.legacy.mount import legacy_asgi_app
from fastapi_gateway.conf import DEFAULTS, gateway_settings, validate
from fastapi_gateway.docs import swagger_ui_router
from fastapi_gateway.exceptions import GatewayConfigurationError
from fastapi_gateway.http.forwarded import ForwardedHeadersMiddleware
from fastapi_gateway.pages.page import GradioPage
from fastapi_gateway.server.head_limits import RequestHeadLimitMiddleware, RequestHeadLimits
from fastapi_gateway.legacy.lane import LegacyLaneMiddleware
from fastapi_gateway.identity.login_redirect import LoginRedirectMiddleware
from fastapi_gateway.metrics import metrics_router
from fastapi_gateway.routers import load_router
from fastapi_gateway.http.outage import OutageMiddleware
from fastapi_gateway.migrated_route import MigratedRoute
from fastapi_gateway.routing.middleware import RoutingMiddleware
from fastapi_gateway.routing.runtime import RoutingRuntime
from fastapi_gateway.routing.table import load_routes
from fastapi_gateway.routing.traffic import CountingLegacy
from fastapi_gateway.server.probes import ProbesMiddleware
from fastapi_gateway.server.readiness import Readiness
from fastapi_gateway.identity import lookup_threads
from fastapi_gateway.server.shutdown import ShutdownWatch
from fastapi_gateway.http.trusted_host import DjangoAllowedHostsMiddleware
from fastapi_gateway.identity.user_middleware import DjangoUserMiddleware
from fastapi_gateway.http.validation_errors import request_validation_error_handler

__all__ = ["create_app"]

logger = logging.getLogger("fastapi_gateway")


def _declared_routes(declared: Any) -> tuple[MigratedRoute, ...]:
    """The project's declared routes; a declaration that fails to load disables routing only."""
    try:
        routes = load_routes(declared)
    except Exception:  # noqa: BLE001 - the site must still serve its legacy URLs
        logger.exception("the migrated routes could not be loaded; every URL is served by legacy")
        return ()
    if routes and not apps.is_installed("fastapi_gateway"):
        raise GatewayConfigurationError(
            "routes are declared but 'fastapi_gateway' is not in INSTALLED_APPS (it stores their states)"
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
    elif not os.environ.get("DJANGO_SETTINGS_MODULE") and not django_settings.configured:
        raise GatewayConfigurationError(
            "DJANGO_SETTINGS_MODULE is not set: run the gateway in your project with it set "
            "(for example DJANGO_SETTINGS_MODULE=mysite.settings python -m fastapi_gateway)"
        )
    if not apps.ready:
        django.setup()


def _pages(targets: Sequence[Any]) -> tuple[GradioPage, ...]:
    """Each entry a page, a sequence of pages, or an import string naming either."""
    pages: list[GradioPage] = []
    for target in targets:
        value = import_string(target.replace(":", ".")) if isinstance(target, str) else target
        pages.extend(value if isinstance(value, (list, tuple)) else [value])
    return tuple(pages)


def _with_console(pages: tuple[GradioPage, ...], console_path: str | None, routes: Sequence[MigratedRoute]) -> tuple[GradioPage, ...]:
    """The pages plus the staff's migration console (``GATEWAY["MIGRATION_CONSOLE"]``), when
    routes are declared and Gradio is installed (the "gradio" extra)."""
    if not console_path or not routes or importlib.util.find_spec("gradio") is None:
        return pages
    from fastapi_gateway.console import console_page

    console = console_page(console_path)
    if any("/" + str(page.path).strip("/") == console.path for page in pages):
        raise GatewayConfigurationError(
            f"a page of GATEWAY['PAGES'] is at {console.path}, where the migration console goes: "
            "move one (GATEWAY['MIGRATION_CONSOLE'] = another path, or None for no console)"
        )
    return (*pages, console)


def _framework_telemetry_off() -> dict[str, Any]:
    """FastAPI (0.165+) spans every request by itself once an OpenTelemetry SDK is configured,
    with the raw path, the query and exception messages; its ``exclude`` keeps it and every
    mounted FastAPI app (Gradio's) out, so the gateway's own span (``GATEWAY["TRACING"]``) is
    the only one and carries no user data."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    # Switched off, not only excluded: asking whether it is on reads OpenTelemetry's global
    # providers (and the environment) on every request, about 6 us of the event loop's time.
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False, "exclude": lambda scope: True}}


def create_app(
    *,
    settings_module: str | None = None,
    legacy_wsgi_app: Any | None = None,
    api_routers: Mapping[str, APIRouter | str] | None = None,
    migrated_routes: Sequence[MigratedRoute] | None = None,
    gradio_pages: Sequence[GradioPage | str] | None = None,
    **options: Any,
) -> FastAPI:
    """Build the gateway from the project's ``GATEWAY`` setting (see ``fastapi_gateway.conf``).

    Keyword arguments override it: ``api_routers`` (``GATEWAY["API_ROUTERS"]``: a URL prefix
    to a FastAPI router or an import string, loaded so that a broken router answers 503
    alone), ``migrated_routes`` (``ROUTES``), ``gradio_pages`` (``PAGES``), and any other key
    in lower case (``max_upload_mb=10``, ``trusted_proxies=[...]``). ``legacy_wsgi_app``
    defaults to the Django project named by ``settings_module`` or ``DJANGO_SETTINGS_MODULE``.
    """
    _setup_django(settings_module)
    unknown = sorted(key for key in options if key.upper() not in DEFAULTS)
    if unknown:
        raise GatewayConfigurationError(f"create_app got unknown options: {', '.join(unknown)}")
    config = gateway_settings()
    config.update({key.upper(): value for key, value in options.items()})
    problems = [problem for problem in validate(config) if problem.error]
    if problems:
        raise GatewayConfigurationError("; ".join(problem.msg for problem in problems))
    legacy_threads, legacy_concurrency = config["LEGACY_THREADS"], config["LEGACY_CONCURRENCY"]
    max_upload_mb = config["MAX_UPLOAD_MB"]
    head_limits = RequestHeadLimits(config["LIMIT_REQUEST_LINE"], config["LIMIT_REQUEST_FIELDS"], config["LIMIT_REQUEST_FIELD_SIZE"])
    router_targets = config["API_ROUTERS"] if api_routers is None else api_routers
    routers = {prefix.rstrip("/"): load_router(prefix, router) for prefix, router in router_targets.items()}
    routes = _declared_routes(config["ROUTES"]) if migrated_routes is None else tuple(migrated_routes)
    pages = _with_console(_pages(config["PAGES"] if gradio_pages is None else gradio_pages), config["MIGRATION_CONSOLE"], routes)
    keeps_numbers = apps.is_installed("fastapi_gateway")
    routing = RoutingRuntime(
        routes, poll_seconds=config["ROUTE_POLL_SECONDS"],
        traffic_seconds=config["TRAFFIC_FLUSH_SECONDS"] if keeps_numbers else None, keep_hours=config["TRAFFIC_KEEP_HOURS"],
    )
    docs_prefix = (config["DOCS_PREFIX"] or next(iter(routers), "")).rstrip("/")
    cpu_affinity = config["CPU_AFFINITY"]
    shutdown = ShutdownWatch()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if cpu_affinity:
            claim_cpu()
        try:
            with shutdown.watching_signals():  # /readyz turns 503 when a stop signal arrives
                async with routing.running():
                    yield
        finally:
            await anyio.to_thread.run_sync(lookup_threads.close_connections)

    docs_url = f"{docs_prefix}/docs" if docs_prefix else None
    app = FastAPI(
        title=config["TITLE"],
        docs_url=None,  # swagger_ui_router serves the page with Swagger UI's own files, no CDN
        redoc_url=None,
        openapi_url=f"{docs_prefix}/openapi.json" if docs_prefix else None,
        swagger_ui_oauth2_redirect_url=f"{docs_url}/oauth2-redirect" if docs_url else None,
        lifespan=lifespan,
        exception_handlers={RequestValidationError: request_validation_error_handler},
        **_framework_telemetry_off(),
    )
    if docs_url:
        app.include_router(swagger_ui_router(app, docs_url=docs_url))

    app.state.route_table = routing.table  # for operators' introspection and the tests
    app.state.readiness = Readiness(shutdown=shutdown, route_table=routing.table)

    app.include_router(metrics_router(config["METRICS_TOKEN"]))
    for prefix, router in routers.items():
        if isinstance(router, APIRouter):
            app.include_router(router, prefix=prefix)
        else:
            app.mount(prefix, router)

    gradio_apps: dict[str, Any] = {}
    page_rules: dict[str, Any] = {}
    if pages:  # Gradio is imported only for a project that has pages (the "gradio" extra)
        from fastapi_gateway.pages.access import page_access
        from fastapi_gateway.pages.mount import mount_gradio_pages

        page_rules = {"/" + str(page.path).strip("/"): page_access(page) for page in pages}
        gradio_apps = mount_gradio_pages(app, pages, max_upload_mb=max_upload_mb, title=config["PAGE_TITLE"],
                                         files_keep_hours=config["PAGE_FILES_KEEP_HOURS"])
    for gradio_app in gradio_apps.values():
        if isinstance(gradio_app, FastAPI):
            gradio_app.add_exception_handler(RequestValidationError, request_validation_error_handler)
            shutdown.on_begin(gradio_stop_event(gradio_app).set)  # heartbeat streams end, not held to the grace period
    legacy = legacy_asgi_app(
        legacy_wsgi_app, threads=legacy_threads, concurrency=legacy_concurrency,
        overflow_after=config["LEGACY_OVERFLOW_MS"] / 1000, body_timeout=config["LEGACY_BODY_TIMEOUT_SECONDS"],
        body_spool_limit=config["LEGACY_BODY_SPOOL_KB"] * 1024,
        max_body=config["LEGACY_MAX_BODY_MB"] * 1024 * 1024 if config["LEGACY_MAX_BODY_MB"] is not None else None,
        send_timeout=config["LEGACY_SEND_TIMEOUT_SECONDS"],
    )
    if keeps_numbers:  # each request Django answers, counted for the coverage of the move
        legacy = CountingLegacy(legacy)
    app.mount("/", legacy)

    new_prefixes = [*routers, *gradio_apps]
    # Added innermost first: a request meets them in the reverse order.
    app.add_middleware(DjangoUserMiddleware, path_prefixes=new_prefixes)
    if gradio_apps and (config["PAGE_TEMPLATE"] or config["PAGE_STYLESHEET"]):
        from fastapi_gateway.pages.chrome import PageChromeMiddleware

        app.add_middleware(PageChromeMiddleware, page_paths=list(gradio_apps),
                           template=config["PAGE_TEMPLATE"], stylesheet=config["PAGE_STYLESHEET"])
    if gradio_apps:
        from fastapi_gateway.pages.guard import GradioGuardMiddleware

        app.add_middleware(GradioGuardMiddleware, mounts=gradio_apps, access=page_rules,
                           recheck_seconds=config["STREAM_RECHECK_SECONDS"])
    app.add_middleware(LoginRedirectMiddleware, page_paths=list(gradio_apps))
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_upload_mb * 1024 * 1024, path_prefixes=new_prefixes)
    if routes:
        app.add_middleware(RoutingMiddleware, table=routing.table, shadow=routing.shadow, legacy=legacy,
                           max_body=max_upload_mb * 1024 * 1024)
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
    if config["TRACING"]:  # behind the forwarded headers (the client's scheme); probes are answered before it
        from fastapi_gateway.http.tracing import TracingMiddleware

        app.add_middleware(TracingMiddleware, new_prefixes=new_prefixes, route_table=routing.table if routes else None)
    app.add_middleware(ForwardedHeadersMiddleware, trusted_proxies=config["TRUSTED_PROXIES"])
    # /healthz and /readyz for any Host: probes name the process by its address.
    app.add_middleware(ProbesMiddleware, readiness=app.state.readiness)
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(RequestIdMiddleware, trusted_proxies=config["TRUSTED_PROXIES"])
    # Outermost: nothing reads an oversized head (the launchers' protocol refuses it earlier).
    app.add_middleware(RequestHeadLimitMiddleware, limits=head_limits)
    return app
