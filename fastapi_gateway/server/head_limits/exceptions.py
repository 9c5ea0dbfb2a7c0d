"""Refusals of a request head; each carries its status code, the limit passed and its message."""

from __future__ import annotations

from fastapi_gateway.exceptions import GatewayError

__all__ = ["HeaderFieldTooLarge", "RequestHeadTimeout", "RequestHeadTooLarge", "RequestHeaderFieldsTooLarge", "RequestLineTooLong", "TooManyHeaderFields"]


class RequestHeadTooLarge(GatewayError):
    """A request's line or header fields passed a limit: answered ``status_code`` and closed."""

    status_code = 400

    def __init__(self, detail: str, limit: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.limit = limit


class RequestLineTooLong(RequestHeadTooLarge):
    """414: the target is the only part of a request line that can grow, and RFC 9112 section 3
    says a server refusing a target as too long MUST answer 414 (gunicorn does)."""

    status_code = 414

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request line too long: the limit is {limit} bytes.", limit)


class RequestHeaderFieldsTooLarge(RequestHeadTooLarge):
    """431 (RFC 6585): too many header fields, or one too large."""

    status_code = 431


class TooManyHeaderFields(RequestHeaderFieldsTooLarge):
    def __init__(self, limit: int) -> None:
        super().__init__(f"Too many request header fields: the limit is {limit}.", limit)


class HeaderFieldTooLarge(RequestHeaderFieldsTooLarge):
    def __init__(self, limit: int) -> None:
        super().__init__(f"Request header field too large: the limit is {limit} bytes.", limit)


class RequestHeadTimeout(RequestHeadTooLarge):
    """408: a head still incomplete ``limit`` seconds after it began (nginx's
    ``client_header_timeout``): refused like a head too large, in time rather than bytes, so a
    client trickling a head (slowloris) cannot hold a connection for ever."""

    status_code = 408

    def __init__(self, limit: float) -> None:
        super().__init__(f"Request head not received in time: the limit is {limit:g} seconds.", 0)
        self.limit_seconds = limit
