"""Django's CSRF rules for the gateway's own unsafe endpoints, by calling Django's middleware.

Re-implementing Origin/Referer/token checks by hand would drift from Django; instead the
ASGI scope is wrapped in Django's ``ASGIRequest`` and run through ``CsrfViewMiddleware``,
so ``CSRF_TRUSTED_ORIGINS``, ``CSRF_COOKIE_NAME``, ``CSRF_HEADER_NAME`` and
``CSRF_USE_SESSIONS`` mean exactly what they mean to the legacy site.
"""

from __future__ import annotations

import io
from importlib import import_module
from typing import NoReturn

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from starlette.types import Scope

from fastapi_gateway.compat import ASGIRequest
from fastapi_gateway.identity.session import session_key_from_headers
from fastapi_gateway.exceptions import CsrfFailure

__all__ = ["check_csrf", "csrf_request"]

# What describes the body, which belongs to the handler: Django parses these eagerly (content
# type parameters in the constructor, the form on ``request.POST``) and raises on bad ones.
_BODY_HEADERS = frozenset({b"content-type", b"content-length", b"transfer-encoding"})


class _RaisingCsrfMiddleware(CsrfViewMiddleware):
    """Raises instead of rendering Django's HTML failure view, so the caller answers in JSON."""

    def _reject(self, request: HttpRequest, reason: str) -> NoReturn:
        raise CsrfFailure(reason)


def _unreachable_view(request: HttpRequest) -> HttpResponse:
    raise AssertionError("the CSRF check never calls the view")


def csrf_request(scope: Scope) -> ASGIRequest:
    """The Django request the CSRF rules judge: the scope's headers, no body, query or type.

    Those rules read only the method, scheme, ``Host``, ``Origin``, ``Referer``, cookies and
    the token header. Left in, a multipart type without a boundary, an unknown RFC 2231
    charset or a non-UTF-8 query string makes Django raise inside the check (a 500) instead
    of leaving the handler to refuse them.
    """
    headers = [(name, value) for name, value in scope.get("headers", []) if name.lower() not in _BODY_HEADERS]
    return ASGIRequest(dict(scope, root_path="", query_string=b"", headers=headers), io.BytesIO())


def check_csrf(scope: Scope) -> None:
    """Raise ``CsrfFailure`` if Django would refuse this request; safe methods always pass.

    The token is read from the ``X-CSRFToken`` header (``CSRF_HEADER_NAME``) only: the body
    belongs to the FastAPI handler and is never consumed here.
    """
    request = csrf_request(scope)
    if settings.CSRF_USE_SESSIONS:
        engine = import_module(settings.SESSION_ENGINE)
        request.session = engine.SessionStore(session_key_from_headers(scope.get("headers", [])))
    # A fresh instance per check: Django caches the parsed CSRF_TRUSTED_ORIGINS on it.
    middleware = _RaisingCsrfMiddleware(_unreachable_view)
    try:
        middleware.process_request(request)
        middleware.process_view(request, _unreachable_view, (), {})
    except DisallowedHost as exc:
        raise CsrfFailure(f"host not allowed: {exc}") from exc
