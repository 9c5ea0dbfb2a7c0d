"""The request logs (uvicorn's access log, the gateway's own) hold parameter names, never secrets."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from uvicorn.logging import AccessFormatter

import fastapi_gateway
from fastapi_gateway.parity.redaction import REDACTED
from fastapi_gateway.routing.log_redaction import REQUEST_LOGGERS, RedactingLogFilter

_GET_LOGGER = re.compile(r"""logging\.getLogger\((__name__|"[^"]+")\)""")
_NO_REQUEST_DATA = {"fastapi_gateway.server.cpu_affinity"}  # which CPU a worker is pinned to


def test_log_records_lose_secrets_and_keep_their_shape(caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/api/tickets/19/?access_token=acc-Q7v&password=pw-X2m&status=open",
        "1.1", 200,
    )
    try:
        raise RuntimeError("upstream refused http://testserver/api/v2/tickets/19?access_token=acc-Q7v")
    except RuntimeError:
        logging.getLogger("fastapi_gateway.routing").warning("new side of %s raised; serving legacy", "api-ticket-detail", exc_info=True)
    logging.getLogger("fastapi_gateway").error("could not load %r", RuntimeError("token=tok-R4c expired"))
    logging.getLogger("fastapi_gateway.routing").warning("route table v3 loaded: %s", {"api-tickets": "shadow"})
    access, raised, error, table = caplog.records
    assert AccessFormatter("%(request_line)s", use_colors=False).format(access) == (
        f"GET /api/tickets/19/?access_token={REDACTED}&password={REDACTED}&status=open HTTP/1.1"
    )
    assert error.getMessage() == f"could not load RuntimeError('token={REDACTED} expired')"
    assert table.getMessage() == "route table v3 loaded: {'api-tickets': 'shadow'}"  # API in a name, no secret
    for secret in ("acc-Q7v", "pw-X2m", "tok-R4c"):
        assert secret not in caplog.text
    assert f"access_token={REDACTED}" in caplog.text and "new side of api-ticket-detail raised" in caplog.text
    assert raised.exc_text is not None and "RuntimeError: upstream refused" in raised.exc_text


def test_every_logger_of_the_gateway_is_filtered() -> None:
    """A new module that logs gets the filter, or says here why it needs none."""
    package = Path(fastapi_gateway.__file__).parent
    names = set()
    for source in package.rglob("*.py"):
        module = ".".join(source.relative_to(package.parent).with_suffix("").parts)
        for found in _GET_LOGGER.findall(source.read_text(encoding="utf-8")):
            names.add(module if found == "__name__" else found.strip('"'))
    names -= {"django.request"}  # the parity command quietens it; Django logs paths without queries
    assert names - _NO_REQUEST_DATA <= set(REQUEST_LOGGERS)
    for name in REQUEST_LOGGERS:
        assert any(isinstance(f, RedactingLogFilter) for f in logging.getLogger(name).filters), name
