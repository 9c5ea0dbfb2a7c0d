"""gunicorn's three limits on a request head, measured as gunicorn measures them.

One definition for both places that enforce them: the HTTP protocol under uvicorn, which
refuses while parsing, and the ASGI middleware, the backstop under any other server. A field is
measured as its line ``Name: value\\r\\n`` and the request line as ``METHOD target HTTP/1.1``,
so a request gunicorn serves is served here, and one it refuses is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields

from fastapi_gateway.exceptions import GatewayConfigurationError
from fastapi_gateway.server.head_limits.exceptions import RequestHeadTooLarge

__all__ = [
    "DEFAULT_LIMIT_REQUEST_FIELDS",
    "DEFAULT_LIMIT_REQUEST_FIELD_SIZE",
    "DEFAULT_LIMIT_REQUEST_LINE",
    "FIELD_OVERHEAD",
    "LINE_OVERHEAD",
    "RequestHeadLimits",
    "refusal_body",
]

DEFAULT_LIMIT_REQUEST_LINE = 4094
DEFAULT_LIMIT_REQUEST_FIELDS = 100
DEFAULT_LIMIT_REQUEST_FIELD_SIZE = 8190

FIELD_OVERHEAD = len(b": \r\n")  # a field's size is len(name) + len(value) + this
LINE_OVERHEAD = len(b"  HTTP/1.1")  # a request line's, len(method) + len(target) + this


@dataclass(frozen=True)
class RequestHeadLimits:
    """``limit_request_line`` bytes of request line, ``limit_request_fields`` header fields of
    at most ``limit_request_field_size`` bytes each: gunicorn's settings, names and defaults."""

    limit_request_line: int = DEFAULT_LIMIT_REQUEST_LINE
    limit_request_fields: int = DEFAULT_LIMIT_REQUEST_FIELDS
    limit_request_field_size: int = DEFAULT_LIMIT_REQUEST_FIELD_SIZE

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            # gunicorn reads 0 as "no limit"; here a limit is always a limit.
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise GatewayConfigurationError(f"{field.name} must be a positive whole number, not {value!r}")


def refusal_body(error: RequestHeadTooLarge) -> bytes:
    """The refusal's JSON body, in the shape of the gateway's other refusals (``{"detail": ...}``)."""
    return json.dumps({"detail": error.detail}).encode()
