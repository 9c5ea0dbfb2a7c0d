"""Outages on the legacy side: 503 instead of a bare 500, and no mass logout.

Two gaps in Django itself, closed for any project that opts in:

* an unreachable database raises inside a view or a middleware and becomes a 500; the
  ``handler500`` here answers 503 with ``Retry-After`` when the cause is an outage (and
  ``OutageLogFilter`` logs it as one line instead of a traceback per request);
* the ``cache`` session engine swallows a Redis error and loads an *empty* session, after
  which ``SessionMiddleware`` deletes the visitor's session cookie — a Redis blip logs
  everyone out for good. ``SessionOutageMiddleware`` (first in ``MIDDLEWARE``) notices a
  cookie whose session loaded empty, checks that the session store answers, and if it does
  not, replaces the answer with a 503 that leaves the cookie alone.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views import defaults

from fastapi_gateway.http.outage import RETRY_AFTER_SECONDS, is_outage, probe_session_store

__all__ = ["server_error", "SessionOutageMiddleware", "OutageLogFilter"]

logger = logging.getLogger("fastapi_gateway")

_MESSAGE = (
    "Service temporarily unavailable: the database or session store cannot be reached. "
    "Please retry in a few seconds.\n"
)


def _unavailable() -> HttpResponse:
    response = HttpResponse(_MESSAGE, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request: HttpRequest, template_name: str = defaults.ERROR_500_TEMPLATE_NAME) -> HttpResponse:
    """``handler500``: 503 when the uncaught exception is an outage, Django's 500 otherwise."""
    exc = sys.exc_info()[1]
    if exc is not None and is_outage(exc):
        return _unavailable()
    return defaults.server_error(request, template_name)


class SessionOutageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is None or settings.SESSION_COOKIE_NAME not in request.COOKIES or not session.is_empty():
            return response
        try:
            probe_session_store(session)
        except Exception as exc:  # noqa: BLE001 - only outages are answered here
            if not is_outage(exc):
                raise
            logger.error("session store unreachable: %r (answering 503, keeping the cookie)", exc)
            return _unavailable()
        return response


class OutageLogFilter(logging.Filter):
    """For ``django.request``: an outage is logged as one line, not a traceback per request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None and is_outage(record.exc_info[1]):
            record.msg = f"{record.msg} (outage: %r)"
            record.args = (*(record.args if isinstance(record.args, tuple) else ()), record.exc_info[1])
            record.exc_info = None
            record.exc_text = None
        return True
