"""Limits on a request's head: gunicorn's ``limit_request_line``, ``limit_request_fields`` and
``limit_request_field_size``, with its defaults and its answers (414, 431).

Enforced twice: by ``LimitedHttpToolsProtocol`` while uvicorn parses (``uvicorn --http
fastapi_gateway.server.head_limits.httptools_protocol:LimitedHttpToolsProtocol``; ``make run`` and
``python -m fastapi_gateway.server.launcher`` use it), and by ``RequestHeadLimitMiddleware``, which
``create_app`` puts outermost, for any other ASGI server. The protocol is not imported here,
so the app imports neither uvicorn's protocol nor httptools under another server.
"""

from __future__ import annotations

from fastapi_gateway.server.head_limits.exceptions import (
    HeaderFieldTooLarge,
    RequestHeaderFieldsTooLarge,
    RequestHeadTooLarge,
    RequestLineTooLong,
    TooManyHeaderFields,
)
from fastapi_gateway.server.head_limits.limits import RequestHeadLimits
from fastapi_gateway.server.head_limits.middleware import RequestHeadLimitMiddleware

__all__ = [
    "RequestHeadLimits",
    "RequestHeadLimitMiddleware",
    "RequestHeadTooLarge",
    "RequestLineTooLong",
    "RequestHeaderFieldsTooLarge",
    "TooManyHeaderFields",
    "HeaderFieldTooLarge",
]
