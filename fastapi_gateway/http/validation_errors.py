"""FastAPI's ``422`` answer for invalid requests, made safe for whatever a client sent.

FastAPI's own handler echoes each error's ``input`` through ``jsonable_encoder``, which
decodes ``bytes`` as strict UTF-8. A body FastAPI does not parse as JSON (any other
content type: a multipart upload, a form) reaches validation as raw bytes, so one byte of
binary turns the ``422`` into a ``500`` with a traceback (fastapi/fastapi#13111). A lone
surrogate from a JSON escape (``"\\ud800"``) breaks its UTF-8 rendering the same way.
"""

from __future__ import annotations

import json

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["request_validation_error_handler"]


def _echoed_bytes(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


async def request_validation_error_handler(request: Request, exc: Exception) -> Response:
    """FastAPI's ``{"detail": [errors]}`` with status ``422``, whatever the errors echo.

    Bytes are shown as text with undecodable bytes escaped (``\\xff``); the JSON is ASCII,
    so lone surrogates go out escaped instead of failing to encode. Installed on the gateway
    and on each mounted Gradio app (a FastAPI app of its own, with FastAPI's handler).
    """
    if not isinstance(exc, RequestValidationError):
        raise exc
    detail = jsonable_encoder(exc.errors(), custom_encoder={bytes: _echoed_bytes})
    body = json.dumps({"detail": detail}, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return Response(body, status_code=422, media_type="application/json")
