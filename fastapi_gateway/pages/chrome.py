"""The host site's own header on every Gradio page, so a new page looks like part of the site.

``GATEWAY["PAGE_TEMPLATE"]`` names a Django template (the site's nav bar), rendered for the
signed-in user with the project's context processors, exactly as a Django view would render
it (``{% url %}``, ``{% csrf_token %}`` in a sign-out form, ``user``); ``PAGE_STYLESHEET`` names
a static file linked from the page's head. Both go into the HTML of each page's landing
document on its way out; Gradio's own page and events are untouched. A header that fails to
render is logged and left out: the page itself still answers.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable
from html import escape
from typing import Any

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.template.loader import render_to_string
from django.urls import clear_script_prefix, set_script_prefix
from django.templatetags.static import static
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastapi_gateway.compat import get_route_path
from fastapi_gateway.identity.login_redirect import script_prefix
from fastapi_gateway.identity.session import load_session, session_key_from_headers, user_for_scope
from fastapi_gateway.orm import run_orm

__all__ = ["PageChromeMiddleware", "render_header"]

logger = logging.getLogger("fastapi_gateway")

_BODY_OPEN = re.compile(rb"<body\b[^>]*>", re.IGNORECASE)
_HEAD_CLOSE = re.compile(rb"</head\s*>", re.IGNORECASE)


def _no_response(request: Any) -> HttpResponse:
    return HttpResponse()


def render_header(scope: Scope, user: Any, template: str) -> tuple[str, list[str]]:
    """The template rendered as a view would render it for this request, and the
    ``Set-Cookie`` values Django's CSRF middleware would add (a first CSRF cookie).

    Runs ORM-capable code: call it in a worker thread (which gets the site's script prefix
    for the render, so ``{% url %}`` links carry it as on the legacy pages).
    """
    request = ASGIRequest({**scope, "method": "GET"}, io.BytesIO())
    request.user = user
    if settings.CSRF_USE_SESSIONS:  # the CSRF secret lives in the session: read it, never write it
        request.session = load_session(session_key_from_headers(scope.get("headers", ())) or "")
    csrf = CsrfViewMiddleware(_no_response)
    set_script_prefix(script_prefix(scope) + "/")
    try:
        csrf.process_request(request)  # the browser's CSRF cookie, so a sign-out form's token matches it
        html = render_to_string(template, request=request)
        response = csrf.process_response(request, HttpResponse())
    finally:
        clear_script_prefix()
    return html, [morsel.OutputString() for morsel in response.cookies.values()]


class PageChromeMiddleware:
    """Adds the site's header and stylesheet to the landing documents of ``page_paths``."""

    def __init__(self, app: ASGIApp, *, page_paths: Iterable[str], template: str | None, stylesheet: str | None) -> None:
        self.app = app
        self.landing_paths = frozenset(path.rstrip("/") + "/" for path in page_paths)
        self.template = template
        self.stylesheet = stylesheet

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or get_route_path(scope) not in self.landing_paths:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []
        as_received = dict(scope)  # Starlette's Mount rewrites root_path and path in place below us

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                if not self._decorates(message):
                    await send(message)
                    start = None
                return
            if start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                await self._finish(as_received, start, b"".join(chunks), send)

        await self.app(scope, receive, hold)

    def _decorates(self, start: Message) -> bool:
        headers = Headers(raw=start["headers"])
        return (
            start["status"] == 200
            and headers.get("content-type", "").startswith("text/html")
            and "content-encoding" not in headers
        )

    async def _finish(self, scope: Scope, start: Message, body: bytes, send: Send) -> None:
        headers = MutableHeaders(raw=list(start["headers"]))
        header_html, cookies, link = "", list[str](), b""
        try:
            if self.template:
                user = await user_for_scope(scope)
                header_html, cookies = await run_orm(render_header, scope, user, self.template)
            if self.stylesheet:
                link = f'<link rel="stylesheet" href="{escape(static(self.stylesheet))}">\n'.encode()
        except Exception:  # noqa: BLE001 - a broken header must not take the page down
            logger.exception("the page header %r / stylesheet %r could not be rendered; the page is served without them",
                             self.template, self.stylesheet)
            header_html, cookies, link = "", [], b""
        if header_html:
            body = _BODY_OPEN.sub(lambda match: match.group(0) + b'\n<div id="site-header">' + header_html.encode() + b"</div>", body, count=1)
            # Rendered for this user (and maybe with a CSRF token): never one cache entry for everyone.
            headers.add_vary_header("Cookie")
            headers["cache-control"] = "private, no-cache"
        if link:
            body = _HEAD_CLOSE.sub(lambda match: link + match.group(0), body, count=1)
        for cookie in cookies:
            headers.append("set-cookie", cookie)
        headers["content-length"] = str(len(body))
        await send({**start, "headers": headers.raw})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
