"""Secrets out of the logs that write what a request carried, with the parity tools' rule.

uvicorn's access log writes each request line, query included; the gateway logs the paths
it serves and the exceptions raised while serving them (an HTTP client's error names the URL
it called, query and all). ``RedactingLogFilter`` masks the secret values there as the
shadow store and the reports do (``parity/redaction.py``), in the ``name=value`` form only:
with AUTH and API in Django's rule, ``api-tickets: shadow`` would lose its value otherwise.
The routing app puts it on ``REQUEST_LOGGERS`` when Django starts.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from fastapi_gateway.parity.redaction import RULE_SETTINGS, Redactor

__all__ = ["REQUEST_LOGGERS", "RedactingLogFilter", "redact_request_logs", "redact_url"]

# A logger's filter sees only the records logged on that very logger, not its children's.
REQUEST_LOGGERS = (
    "fastapi_gateway", "fastapi_gateway.routing", "fastapi_gateway.legacy.bridge", "fastapi_gateway.pages.guard",
    "fastapi_gateway.identity.session", "uvicorn.access", "uvicorn.error", "django.server",
)


class RedactingLogFilter(logging.Filter):
    """Masks secrets in a record's message, arguments and traceback.

    Each string argument is redacted in place, so formatters that read ``record.args`` by
    position (uvicorn's access log) keep working; the traceback is formatted once, redacted
    (``exc_text``, which formatters use as it is).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = _settings_redactor()
        if isinstance(record.args, tuple):
            record.args = tuple(redactor.url(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: redactor.url(arg) if isinstance(arg, str) else arg for key, arg in record.args.items()}
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = None
        if message is not None:
            redacted = redactor.url(message)
            if redacted != message:
                # The format string itself, or an argument that is not a string (an exception given to %r).
                record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redactor.url(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redactor.url(record.stack_info)
        return True


@functools.lru_cache(maxsize=1)
def _settings_redactor() -> Redactor:
    """One ``Redactor`` for every record (it remembers its verdicts), rebuilt when a setting it reads changes."""
    return Redactor.from_settings()


def redact_url(value: str) -> str:
    """A request target (or any string holding ``name=value`` pairs) with its secret values masked."""
    return _settings_redactor().url(value)


@receiver(setting_changed)
def _forget_settings_redactor(*, setting: str, **kwargs: Any) -> None:
    if setting in RULE_SETTINGS:
        _settings_redactor.cache_clear()


_LOG_FILTER = RedactingLogFilter()


def redact_request_logs(names: Iterable[str] = REQUEST_LOGGERS) -> None:
    """Put the filter on these loggers (idempotent)."""
    for name in names:
        logging.getLogger(name).addFilter(_LOG_FILTER)
