"""Send anonymous browsers to Django's login page instead of Gradio's ``401`` JSON.

Gradio never redirects server-side, so the decision is made in front of it: a page GET that
accepts HTML gets ``302`` to ``LOGIN_URL?next=<path and query>``; API and XHR callers keep
their ``401``. A page path without its trailing slash is redirected to the slash form first.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from starlette.datastructures import Headers
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from fastapi_gateway.identity.session import user_for_scope
from fastapi_gateway.compat import get_route_path

__all__ = ["LoginRedirectMiddleware"]


def _wants_html(headers: Headers) -> bool:
    return "text/html" in headers.get("accept", "") or headers.get("sec-fetch-dest") == "document"


def _path_with_query(path: str, scope: Scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


def _login_url(next_url: str) -> str:
    """Django's own ``redirect_to_login`` URL (imported late: it needs the app registry)."""
    from django.contrib.auth.views import redirect_to_login

    return str(redirect_to_login(next_url, settings.LOGIN_URL)["Location"])


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
                location = _login_url(next_url)
                await RedirectResponse(location, status_code=302)(scope, receive, send)
                return
        await self.app(scope, receive, send)
