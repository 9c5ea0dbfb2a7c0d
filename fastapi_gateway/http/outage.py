"""Tell an outage of the session store or database apart from bad input, and answer 503.

If PostgreSQL or Redis is down, nobody's session can be read. Treating that as "anonymous"
would send every logged-in user to the login page, which cannot work either, and would look
like a mass logout; a ``503`` with ``Retry-After`` says what is true, and every request
tries again, so service comes back by itself when the store does.
"""

from __future__ import annotations

import logging
import time

from django.db import InterfaceError, OperationalError
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from fastapi_gateway.compat import session_cache
from fastapi_gateway.http.channels import ResponseTracker
from fastapi_gateway.exceptions import BackendUnavailable

__all__ = ["is_outage", "probe_session_store", "OutageMiddleware", "RETRY_AFTER_SECONDS"]

logger = logging.getLogger("fastapi_gateway")

RETRY_AFTER_SECONDS = 5
_LOG_EVERY_SECONDS = 10.0


def is_outage(exc: BaseException) -> bool:
    """A failure to reach the database or the cache, as opposed to bad data in them."""
    if isinstance(exc, (OperationalError, InterfaceError, ConnectionError, TimeoutError)):
        return True
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - redis is optional for Django projects
        return False
    return isinstance(exc, (RedisConnectionError, RedisTimeoutError))


_PROBE_KEY = "fastapi-gateway:session-store-probe"


def probe_session_store(session: object) -> None:
    """Raise if the session engine's cache cannot be reached; a no-op for cacheless engines.

    Django's ``cache`` and ``cached_db`` engines swallow cache errors while loading, so an
    empty session is ambiguous: a bad cookie, or Redis down. Asked only in that case, this
    one read tells them apart.
    """
    cache = session_cache(session)
    if cache is not None:
        cache.get(_PROBE_KEY)


class OutageMiddleware:
    """``503`` (JSON, ``Retry-After``) for a ``BackendUnavailable`` raised by any new route.

    Logged at most every ten seconds: an outage is one event, not a traceback per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._last_logged = float("-inf")  # the first outage is logged however young the machine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracker = ResponseTracker(send)
        try:
            await self.app(scope, receive, tracker)
        except BackendUnavailable as exc:
            if tracker.started:
                raise
            now = time.monotonic()
            if now - self._last_logged > _LOG_EVERY_SECONDS:
                self._last_logged = now
                logger.error("session store or database unreachable: %s (answering 503)", exc.cause)
            response = JSONResponse(
                {"detail": "The service is temporarily unavailable; please retry shortly."},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
            await response(scope, receive, send)
