"""Errors the gateway raises; each carries what a log line or a 4xx body needs."""

from __future__ import annotations

__all__ = ["GatewayError", "CsrfFailure", "NotAuthenticated", "GatewayConfigurationError", "RoutingError", "BackendUnavailable", "FileRefused", "MalformedUpload", "EventCallRefused"]


class GatewayError(Exception):
    """Base class for everything the gateway raises on purpose."""


class GatewayConfigurationError(GatewayError):
    """``create_app`` was given arguments that cannot work together."""


class NotAuthenticated(GatewayError):
    """A new route needs a logged-in Django user and the request has none."""

    def __init__(self, path: str) -> None:
        super().__init__(f"authentication required for {path}")
        self.path = path


class CsrfFailure(GatewayError):
    """Django's CSRF checks refused an unsafe request; ``reason`` is Django's own wording."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"CSRF verification failed: {reason}")
        self.reason = reason


class RoutingError(GatewayError):
    """A route-table change that cannot be made: unknown route or state, bad percent."""


class BackendUnavailable(GatewayError):
    """The session store or the database could not be reached (not: the session was bad)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"session backend unavailable: {cause!r}")
        self.cause = cause


class FileRefused(GatewayError):
    """A Gradio page was about to read, copy or fetch a file its client may not have."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class MalformedUpload(GatewayError):
    """An upload Gradio would fail on with a 500; ``detail`` says what is wrong, for a 400."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class EventCallRefused(GatewayError):
    """A Gradio event request Gradio would answer with a 500; ``status_code`` and ``detail``
    are the 4xx to answer instead (404: no such event here; 422: bad arguments)."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
