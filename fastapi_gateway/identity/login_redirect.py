"""Send anonymous browsers to Django's login page instead of Gradio's ``401`` JSON.

Gradio never redirects server-side, so the decision is made in front of it: a page GET that
accepts HTML gets ``302`` to ``LOGIN_URL?next=<path and query>``; API and XHR callers keep
their ``401``. A page path without its trailing slash is redirected to the slash form first.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from django.conf import settings
from django.urls import clear_script_prefix, set_script_prefix
from starlette.datastructures import Headers
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from fastapi_gateway.identity.session import user_for_scope
from fastapi_gateway.compat import get_route_path, url_has_allowed_host_and_scheme

__all__ = ["LoginRedirectMiddleware"]


def _wants_html(headers: Headers) -> bool:
    return "text/html" in headers.get("accept", "") or headers.get("sec-fetch-dest") == "document"


def _path_with_query(path: str, scope: Scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


def script_prefix(scope: Scope) -> str:
    """Where the site's URLs start, as Django's handlers decide it: ``FORCE_SCRIPT_NAME``, else
    the server's root path, else the ``SCRIPT_NAME`` the legacy bridge serves the site under."""
    if settings.FORCE_SCRIPT_NAME is not None:
        return str(settings.FORCE_SCRIPT_NAME).rstrip("/")
    return str(scope.get("root_path") or os.environ.get("SCRIPT_NAME", "")).rstrip("/")


def login_url(next_path: str, *, prefix: str = "") -> str:
    """``LOGIN_URL``, resolved as Django resolves it for a request under ``prefix`` (a URL name
    reverses below it), with ``?next=`` back to ``next_path``.

    A ``next_path`` that is not a path on this site (``//host``, ``https://…``, ``/\\host``)
    is left out rather than passed on, so the link can never send a user elsewhere after
    signing in. Django's ``redirect_to_login`` builds the URL, quoting as the login view expects.
    """
    from django.contrib.auth.views import redirect_to_login  # needs the app registry
    from django.shortcuts import resolve_url

    set_script_prefix(prefix + "/")  # this thread's, until the URL is built: no await in between
    try:
        if not next_path.startswith("/") or not url_has_allowed_host_and_scheme(next_path, allowed_hosts=None):
            return str(resolve_url(settings.LOGIN_URL))
        return str(redirect_to_login(next_path, settings.LOGIN_URL)["Location"])
    finally:
        clear_script_prefix()


class LoginRedirectMiddleware:
    """Guards the landing paths of login-only HTML pages (e.g. each Gradio page's mount path)."""

    def __init__(self, app: ASGIApp, *, page_paths: Iterable[str]) -> None:
        self.app = app
        self.page_paths = frozenset(path.rstrip("/") for path in page_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]  # the full path, root path and all: what a Location names
        route_path = get_route_path(scope)  # below the root path: what the router matches
        if route_path in self.page_paths:
            response = RedirectResponse(_path_with_query(path + "/", scope), status_code=307)
            await response(scope, receive, send)
            return
        if route_path.endswith("/") and route_path[:-1] in self.page_paths and _wants_html(Headers(scope=scope)):
            user = await user_for_scope(scope)
            if not user.is_authenticated:
                next_url = _path_with_query(path, scope)
                location = login_url(next_url, prefix=script_prefix(scope))
                await RedirectResponse(location, status_code=302)(scope, receive, send)
                return
        await self.app(scope, receive, send)
