"""Logs an operator's pipeline can read: one JSON object a line, each with its request's id.

``JsonFormatter`` formats any record as JSON (and can be named in a project's ``LOGGING``);
``RequestIdFilter`` gives text formats a ``%(request_id)s``; ``json_logging_config`` and
``use_json_format`` are what ``python -m fastapi_gateway --log-format json`` applies. The
access record itself is written by ``fastapi_gateway.http.access_log``.
"""

from __future__ import annotations

from fastapi_gateway.logging.json_formatter import JsonFormatter
from fastapi_gateway.logging.log_format import json_logging_config, use_json_format
from fastapi_gateway.logging.request_id_filter import RequestIdFilter

__all__ = ["JsonFormatter", "RequestIdFilter", "json_logging_config", "use_json_format"]
