"""Cross-site request refusal for endpoints whose frontend sends no CSRF token (Gradio).

Gradio's JavaScript cannot be taught to send Django's token, but every browser marks its
unsafe requests with ``Origin`` (and ``Sec-Fetch-Site``). An unsafe request is accepted when
its Origin is the gateway's own (scheme and host, as Django's ``CsrfViewMiddleware`` decides
it, ``CSRF_TRUSTED_ORIGINS`` included), or, lacking an Origin, when the browser says
``Sec-Fetch-Site: same-origin``. Anything else — a foreign page, or a client that states
neither — is refused: a request that cannot show it is same-origin is not trusted.
"""

from __future__ import annotations

from django.core.exceptions import DisallowedHost
from starlette.datastructures import Headers
from starlette.types import Scope

from fastapi_gateway.compat import origin_verified
from fastapi_gateway.identity.csrf import csrf_request
from fastapi_gateway.exceptions import CsrfFailure

__all__ = ["check_same_origin", "SAFE_METHODS"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def check_same_origin(scope: Scope) -> None:
    """Raise ``CsrfFailure`` for an unsafe request that is not provably same-origin."""
    if scope["method"] in SAFE_METHODS:
        return
    headers = Headers(scope=scope)
    origin = headers.get("origin")
    if origin is None:
        if headers.get("sec-fetch-site") == "same-origin":
            return
        raise CsrfFailure("Origin checking failed - no Origin header and not a same-origin fetch.")
    request = csrf_request(scope)
    try:
        verified = origin_verified(request)  # Django's own decision, CSRF_TRUSTED_ORIGINS included
    except DisallowedHost as exc:
        raise CsrfFailure(f"host not allowed: {exc}") from exc
    if not verified:
        raise CsrfFailure(f"Origin checking failed - {origin} does not match any trusted origins.")
