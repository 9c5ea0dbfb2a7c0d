"""What ``--log-format json`` sets up, in the launcher and in each worker.

uvicorn configures logging from ``json_logging_config`` before the app is imported; then
``django.setup()`` applies the project's ``LOGGING``, whose handlers write plain text, so once
the app is loaded ``use_json_format`` puts the JSON formatter on every stream handler there is.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi_gateway.logging.json_formatter import JsonFormatter

__all__ = ["json_logging_config", "use_json_format"]

ACCESS_LOGGER = "fastapi_gateway.access"  # fastapi_gateway.http.access_log's, named here to keep this module light


def json_logging_config(*, access_log: bool = True) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict (uvicorn's ``log_config``): every record as JSON on
    stderr; the gateway's access record at INFO in place of uvicorn's access line."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "fastapi_gateway.logging.JsonFormatter"}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            ACCESS_LOGGER: {"handlers": ["json"], "level": "INFO" if access_log else "WARNING", "propagate": False},
        },
        "root": {"handlers": ["json"], "level": "WARNING"},
    }


def use_json_format() -> None:
    """The JSON formatter on every stream handler of the root logger and of each named logger
    (the project's ``LOGGING`` included), so no line of the process is left in plain text."""
    formatter = JsonFormatter()
    loggers = [logging.getLogger(), *(logger for logger in logging.root.manager.loggerDict.values() if isinstance(logger, logging.Logger))]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setFormatter(formatter)
