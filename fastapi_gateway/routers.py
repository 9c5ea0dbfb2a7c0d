"""Load the new side — API routers and Gradio pages — so that one broken part breaks only itself.

A router whose module fails to import, or a page whose ``build()`` raises, is replaced by a
small app answering ``503`` on its own prefix, and the error is logged with its traceback
once at start-up. Every other route, and the whole legacy site, keeps working; a migrated
route pointing at the broken part falls back to legacy (a 5xx) instead of failing users.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils.module_loading import import_string
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["load_router", "UnavailableApp"]

logger = logging.getLogger("fastapi_gateway")


class UnavailableApp:
    """Answers ``503`` for a part of the new side that could not be loaded."""

    def __init__(self, what: str) -> None:
        self.what = what

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await JSONResponse({"detail": f"{self.what} is unavailable."}, status_code=503)(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1011})


def load_router(prefix: str, router: Any) -> Any | ASGIApp:
    """The router itself, or, for an import string that fails to import, an ``UnavailableApp``."""
    if not isinstance(router, str):
        return router
    try:
        return import_string(router.replace(":", "."))
    except Exception:  # noqa: BLE001 - any import-time failure of one router
        logger.exception("the router %r for %s could not be imported; %s answers 503", router, prefix, prefix)
        return UnavailableApp(f"{prefix} ({router})")
