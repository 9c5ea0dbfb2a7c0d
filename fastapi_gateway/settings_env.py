"""Turn the gateway's environment variables into ``create_app`` keyword arguments.

Kept apart from ``asgi.py`` so the parsing is testable without importing an app, and so a
bad value fails at start-up with the variable's name in the message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from django.utils.module_loading import import_string

from .exceptions import GatewayConfigurationError
from .http_limits.limits import DEFAULT_LIMIT_REQUEST_FIELD_SIZE, DEFAULT_LIMIT_REQUEST_FIELDS, DEFAULT_LIMIT_REQUEST_LINE

__all__ = ["cpu_affinity_from_env", "gateway_kwargs_from_env", "request_head_limits_from_env"]

_DEFAULT_ROUTERS = "/api/v2=api_v2:router"
_DEFAULT_PAGES = "gradio_ui:PAGES"


def _import(target: str, variable: str) -> Any:
    try:
        return import_string(target.replace(":", "."))
    except ImportError as exc:
        raise GatewayConfigurationError(f"{variable}: cannot import {target!r}: {exc}") from exc


def _positive_int(env: Mapping[str, str], variable: str, default: int) -> int:
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise GatewayConfigurationError(f"{variable} must be a positive whole number, not {raw!r}")
    return value


def _positive_float(env: Mapping[str, str], variable: str, default: float) -> float:
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise GatewayConfigurationError(f"{variable} must be a positive number of seconds, not {raw!r}")
    return value


def _list(env: Mapping[str, str], variable: str) -> list[str]:
    return [item.strip() for item in env.get(variable, "").split(",") if item.strip()]


def gateway_kwargs_from_env(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """``GATEWAY_MAX_UPLOAD_MB``, ``GATEWAY_TRUSTED_PROXIES``, ``GATEWAY_LEGACY_THREADS``,
    ``GATEWAY_LEGACY_CONCURRENCY``, ``GATEWAY_LEGACY_OVERFLOW_MS``,
    ``GATEWAY_LEGACY_BODY_TIMEOUT_SECONDS``, ``GATEWAY_LEGACY_BODY_SPOOL_KB``,
    ``GATEWAY_STREAM_RECHECK_SECONDS``, ``GATEWAY_ROUTE_POLL_SECONDS``, ``GATEWAY_METRICS_TOKEN``,
    ``GATEWAY_API_ROUTERS`` (``prefix=module:attr`` pairs, comma separated; empty for none)
    and ``GATEWAY_GRADIO_PAGES`` (``module:attr`` naming a sequence of pages; empty for none);
    plus the request-head limits (``request_head_limits_from_env``).
    """
    routers: dict[str, str] = {}
    for item in _list(env, "GATEWAY_API_ROUTERS") if "GATEWAY_API_ROUTERS" in env else [_DEFAULT_ROUTERS]:
        prefix, sep, target = item.partition("=")
        if not sep or not prefix.startswith("/"):
            raise GatewayConfigurationError(f"GATEWAY_API_ROUTERS: expected '/prefix=module:attr', got {item!r}")
        routers[prefix] = target  # imported by create_app: a broken router answers 503 alone
    pages_target = env.get("GATEWAY_GRADIO_PAGES", _DEFAULT_PAGES).strip()
    return {
        "settings_module": env.get("DJANGO_SETTINGS_MODULE"),
        "api_routers": routers,
        "gradio_pages": tuple(_import(pages_target, "GATEWAY_GRADIO_PAGES")) if pages_target else (),
        "max_upload_mb": _positive_int(env, "GATEWAY_MAX_UPLOAD_MB", 50),
        "legacy_threads": _positive_int(env, "GATEWAY_LEGACY_THREADS", 4),
        "legacy_concurrency": _positive_int(env, "GATEWAY_LEGACY_CONCURRENCY", 1),
        "legacy_overflow_ms": _positive_float(env, "GATEWAY_LEGACY_OVERFLOW_MS", 20.0),
        "legacy_body_timeout_seconds": _positive_float(env, "GATEWAY_LEGACY_BODY_TIMEOUT_SECONDS", 60.0),
        "legacy_body_spool_kb": _positive_int(env, "GATEWAY_LEGACY_BODY_SPOOL_KB", 256),
        "trusted_proxies": _list(env, "GATEWAY_TRUSTED_PROXIES"),
        "stream_recheck_seconds": _positive_float(env, "GATEWAY_STREAM_RECHECK_SECONDS", 2.0),
        "route_poll_seconds": _positive_float(env, "GATEWAY_ROUTE_POLL_SECONDS", 0.5),
        "metrics_token": env.get("GATEWAY_METRICS_TOKEN") or None,
        **request_head_limits_from_env(env),
    }


def request_head_limits_from_env(env: Mapping[str, str] = os.environ) -> dict[str, int]:
    """``GATEWAY_LIMIT_REQUEST_LINE``, ``GATEWAY_LIMIT_REQUEST_FIELDS`` and
    ``GATEWAY_LIMIT_REQUEST_FIELD_SIZE``: gunicorn's limits, read by the HTTP protocol as well as
    for ``create_app``, so the two refuse the same requests (see ``fastapi_gateway.http_limits``)."""
    return {
        "limit_request_line": _positive_int(env, "GATEWAY_LIMIT_REQUEST_LINE", DEFAULT_LIMIT_REQUEST_LINE),
        "limit_request_fields": _positive_int(env, "GATEWAY_LIMIT_REQUEST_FIELDS", DEFAULT_LIMIT_REQUEST_FIELDS),
        "limit_request_field_size": _positive_int(env, "GATEWAY_LIMIT_REQUEST_FIELD_SIZE", DEFAULT_LIMIT_REQUEST_FIELD_SIZE),
    }


def cpu_affinity_from_env(env: Mapping[str, str] = os.environ) -> bool:
    """``GATEWAY_CPU_AFFINITY``: ``auto`` (the default) pins each gateway process to a CPU of
    its own (see ``fastapi_gateway.cpu_affinity``); ``off`` leaves scheduling to the kernel."""
    value = env.get("GATEWAY_CPU_AFFINITY", "auto").strip().lower()
    if value not in ("auto", "off"):
        raise GatewayConfigurationError(f"GATEWAY_CPU_AFFINITY: expected 'auto' or 'off', got {value!r}")
    return value == "auto"
