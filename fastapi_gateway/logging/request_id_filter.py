"""``RequestIdFilter``: ``%(request_id)s`` for text log formats.

Put it on a handler (a logger's filter sees only the records logged on that very logger): each
record gets the id of the request being served when it was logged, ``-`` outside a request.
"""

from __future__ import annotations

import logging

from fastapi_gateway.http.request_id import current_request_id

__all__ = ["RequestIdFilter"]


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id() or "-"
        return True
