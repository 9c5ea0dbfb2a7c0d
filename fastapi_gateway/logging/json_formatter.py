"""``JsonFormatter``: a log record as one line of JSON.

Written here rather than taken from ``python-json-logger``: the fields are the gateway's own
(the access record's, the request id), the formatter is a few lines over ``json``, and JSON
logs then work in every install of the gateway, with no extra to remember in an image.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

from fastapi_gateway.http.request_id import current_request_id

__all__ = ["JsonFormatter"]

# A record's own attributes; anything else on it came as ``extra=`` and is a field of the line.
# uvicorn adds ``color_message`` (its message with terminal colours) to its records.
_WRITTEN = (str, int, float, bool, list, tuple, dict)
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "color_message", "taskName"}


class JsonFormatter(logging.Formatter):
    """``time`` (UTC, milliseconds), ``level``, ``logger``, ``message``, ``request_id`` (the
    record's, else the request being served), the record's extra fields, then ``exception``
    and ``stack`` when there are any.

    An extra field is written when it is a string, a number, a boolean, a list or a dict;
    ``None`` and objects are left out: Django logs each error with its ``request``, whose text
    holds the query string, secrets and all."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id in (None, "-"):
            request_id = current_request_id()
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in entry and isinstance(value, _WRITTEN):
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text  # as redacted by a filter that formatted it first
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)
