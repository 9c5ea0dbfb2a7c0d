"""``create_app``: one FastAPI app serving the legacy Django site, new routes and Gradio pages.

Routes are matched in order — health check, new API routers, Gradio pages — and the Django
WSGI app is mounted last at ``/`` as the catch-all, so every URL nobody has migrated keeps
being answered by Django exactly as before.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import django
from django.apps import apps
from fastapi import APIRouter, FastAPI
from starlette.middleware.cors import CORSMiddleware

from .body_limit import BodySizeLimitMiddleware
from .django_mount import legacy_asgi_app
from .exceptions import GatewayConfigurationError
from .forwarded_headers import ForwardedHeadersMiddleware
from .gradio_guard import GradioGuardMiddleware
from .gradio_mount import GradioPage, mount_gradio_pages
from .login_redirect import LoginRedirectMiddleware
from .trusted_host import DjangoAllowedHostsMiddleware
from .user_middleware import DjangoUserMiddleware

__all__ = ["create_app"]


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
    api_routers: Mapping[str, APIRouter] | None = None,
    gradio_pages: Sequence[GradioPage] = (),
    legacy_threads: int = 4,
    max_upload_mb: int = 50,
    trusted_proxies: Sequence[str] = (),
    docs_prefix: str = "/api/v2",
    stream_recheck_seconds: float = 2.0,
    title: str = "Django gateway",
) -> FastAPI:
    """Build the gateway.

    ``api_routers`` maps a URL prefix (e.g. ``"/api/v2"``) to a FastAPI router;
    ``gradio_pages`` are objects with ``path`` and ``build()`` (see ``GradioPage``);
    ``legacy_wsgi_app`` defaults to the Django project named by ``settings_module`` or
    ``DJANGO_SETTINGS_MODULE``; ``stream_recheck_seconds`` is how often an open Gradio
    stream re-checks that its Django session still holds its user.
    """
    if max_upload_mb <= 0:
        raise GatewayConfigurationError(f"max_upload_mb must be positive, not {max_upload_mb}")
    _setup_django(settings_module)
    routers = dict(api_routers or {})
    docs_prefix = docs_prefix.rstrip("/")
    app = FastAPI(
        title=title,
        docs_url=f"{docs_prefix}/docs",
        redoc_url=None,
        openapi_url=f"{docs_prefix}/openapi.json",
    )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for prefix, router in routers.items():
        app.include_router(router, prefix=prefix.rstrip("/"))

    gradio_apps = mount_gradio_pages(app, gradio_pages, max_upload_mb=max_upload_mb)
    app.mount("/", legacy_asgi_app(legacy_wsgi_app, threads=legacy_threads))

    new_prefixes = [prefix.rstrip("/") for prefix in routers] + list(gradio_apps)
    # Added innermost first: a request meets them in the reverse order.
    app.add_middleware(DjangoUserMiddleware, path_prefixes=new_prefixes)
    app.add_middleware(GradioGuardMiddleware, mounts=gradio_apps, recheck_seconds=stream_recheck_seconds)
    app.add_middleware(LoginRedirectMiddleware, page_paths=list(gradio_apps))
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_upload_mb * 1024 * 1024, path_prefixes=new_prefixes)
    # A CORS policy of our own (no foreign origin allowed) also switches off Gradio's, which
    # answers any localhost origin with credentials.
    app.add_middleware(CORSMiddleware, allow_origins=[], allow_credentials=False)
    app.add_middleware(DjangoAllowedHostsMiddleware)
    app.add_middleware(ForwardedHeadersMiddleware, trusted_proxies=trusted_proxies)
    return app
