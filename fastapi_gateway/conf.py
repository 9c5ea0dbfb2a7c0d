"""The ``GATEWAY`` setting: every option of the gateway, its default, and where it may be set.

One dict in the project's settings, as DRF's ``REST_FRAMEWORK``; every key is optional.
Operators may override the deployment keys (limits, threads, proxies, the metrics token) with
``GATEWAY_<KEY>`` environment variables, read here and nowhere else; ``create_app(...)``
keyword arguments override both. The same validation feeds ``manage.py check`` (ids and
hints, see ``checks``) and ``create_app`` (which refuses to start on an error), so a value the
check passes is a value the gateway serves with.
"""

from __future__ import annotations

import difflib
import importlib.util
import ipaddress
import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from fastapi_gateway.exceptions import GatewayConfigurationError

__all__ = ["DEFAULTS", "ENVIRONMENT", "Problem", "from_environment", "gateway_settings", "problems", "setting", "validate"]


DEFAULTS: dict[str, Any] = {
    # The new side. Nothing is mounted that these do not name.
    "API_ROUTERS": {},  # URL prefix -> FastAPI APIRouter (or ASGI app), by import string
    "PAGES": [],  # import strings, each naming a GradioPage or a sequence of them
    "ROUTES": None,  # import string of a sequence of MigratedRoute (or the sequence itself)
    "DOCS_PREFIX": None,  # OpenAPI docs at <prefix>/docs; default: the first API router's prefix
    "TITLE": "Django gateway",  # the OpenAPI title
    # Gradio pages.
    "PAGE_TEMPLATE": None,  # a Django template rendered as each page's header (the site's nav bar)
    "PAGE_STYLESHEET": None,  # a static file (by its STATICFILES path) linked from each page
    "PAGE_TITLE": "{title}",  # the browser tab's title of each page; {title} is the page's own
    "LOGOUT_URL": None,  # where a page's sign-out posts; default: the URL named "logout"
    "MAX_UPLOAD_MB": 50,  # request bodies of the new side, uploads included
    "STREAM_RECHECK_SECONDS": 2.0,  # how often an open Gradio stream re-checks its session
    # How long a page keeps the files its users upload and its events make (Gradio's cache);
    # None: kept until deleted by hand, as Gradio does unless a page sets its own delete_cache.
    "PAGE_FILES_KEEP_HOURS": 24.0,
    # The legacy side.
    "LEGACY_THREADS": 4,
    "LEGACY_CONCURRENCY": 1,
    "LEGACY_OVERFLOW_MS": 20.0,
    "LEGACY_BODY_TIMEOUT_SECONDS": 60.0,
    "LEGACY_BODY_SPOOL_KB": 256,
    # A legacy request body over this many MB is refused (413) before it is read; None: no limit
    # but Django's own (manage.py check --deploy warns: set it unless a proxy in front caps bodies).
    "LEGACY_MAX_BODY_MB": None,
    "LEGACY_SEND_TIMEOUT_SECONDS": 30.0,  # a client taking under 128 KiB of a legacy response in this long is cut off
    # The edge.
    "TRUSTED_PROXIES": [],  # addresses or networks whose X-Forwarded-* headers are believed
    "LIMIT_REQUEST_LINE": 4094,  # gunicorn's limits on a request head
    "LIMIT_REQUEST_FIELDS": 100,
    "LIMIT_REQUEST_FIELD_SIZE": 8190,
    # nginx's client_header_timeout, client_body_timeout and send_timeout, in the gateway's own
    # protocol (make run, python -m fastapi_gateway): a head not whole this long after it began
    # gets 408; a body that sends nothing this long, or an answer the client takes nothing of,
    # has its connection reset.
    "REQUEST_HEAD_TIMEOUT_SECONDS": 60.0,
    "REQUEST_BODY_TIMEOUT_SECONDS": 60.0,
    "SEND_TIMEOUT_SECONDS": 60.0,
    "METRICS_TOKEN": None,  # a bearer token for /metrics scrapers (staff users can always read it)
    # Pin each serving process to a CPU of its own. None ("auto"): the served entrypoint
    # (fastapi_gateway.asgi, python -m fastapi_gateway) pins, an app built in-process does not.
    "CPU_AFFINITY": None,
    # Full garbage collections of the served entrypoint walk only what is new since the last one,
    # and every object once this often (fastapi_gateway.server.gc_policy); None: Python's own
    # collector, with only what the process built at start kept out of its reach.
    "GC_FULL_WALK_SECONDS": 600.0,
    # An OpenTelemetry span per request (the "otel" extra); the application configures the SDK.
    "TRACING": False,
    # Migration.
    "ROUTE_POLL_SECONDS": 0.5,  # how often each process looks for a changed route table
    "TRAFFIC_FLUSH_SECONDS": 2.0,  # how often each process writes its route numbers (and rollouts decide)
    "TRAFFIC_KEEP_HOURS": 48.0,  # how long the route numbers are kept
    "MIGRATION_CONSOLE": "/ui/migration",  # the staff console's path (None: no console)
    "PARITY_USERS": [],  # usernames parity runs as (default: a sample of real users)
    "PARITY_REDACT": [],  # more field names and selectors kept out of stored diffs and reports
}

# Keys an operator may set from the environment as GATEWAY_<KEY>, and how each is parsed.
ENVIRONMENT: dict[str, Callable[[str], Any]] = {}


def _split(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _routers(raw: str) -> dict[str, str]:
    routers: dict[str, str] = {}
    for item in _split(raw):
        prefix, sep, target = item.partition("=")
        if not sep:
            raise ValueError(f"expected '/prefix=module:attr', got {item!r}")
        routers[prefix.strip()] = target.strip()
    return routers


def _optional_float(raw: str) -> float | None:
    """A number, or ``none`` (or nothing) for the setting's None."""
    return None if raw.strip().lower() in ("", "none") else float(raw)


def _switch(raw: str) -> bool | None:
    value = raw.strip().lower()
    if value == "auto":
        return None
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected 'auto', 'on' or 'off', got {raw!r}")


def _flag(raw: str) -> bool:
    value = _switch(raw) if raw.strip().lower() != "auto" else None
    if value is None:
        raise ValueError(f"expected 'on' or 'off', got {raw!r}")
    return value


for _key in ("LEGACY_THREADS", "LEGACY_CONCURRENCY", "LEGACY_BODY_SPOOL_KB", "MAX_UPLOAD_MB",
             "LIMIT_REQUEST_LINE", "LIMIT_REQUEST_FIELDS", "LIMIT_REQUEST_FIELD_SIZE"):
    ENVIRONMENT[_key] = int
for _key in ("LEGACY_OVERFLOW_MS", "LEGACY_BODY_TIMEOUT_SECONDS", "LEGACY_SEND_TIMEOUT_SECONDS", "STREAM_RECHECK_SECONDS",
             "ROUTE_POLL_SECONDS", "TRAFFIC_FLUSH_SECONDS", "TRAFFIC_KEEP_HOURS", "REQUEST_HEAD_TIMEOUT_SECONDS",
             "REQUEST_BODY_TIMEOUT_SECONDS", "SEND_TIMEOUT_SECONDS"):
    ENVIRONMENT[_key] = float
ENVIRONMENT.update(
    PAGE_FILES_KEEP_HOURS=_optional_float,
    GC_FULL_WALK_SECONDS=_optional_float,
    LEGACY_MAX_BODY_MB=lambda raw: None if raw.strip().lower() in ("", "none") else int(raw),
    TRUSTED_PROXIES=_split,
    METRICS_TOKEN=lambda raw: raw or None,
    CPU_AFFINITY=_switch,
    TRACING=_flag,
    API_ROUTERS=_routers,
    PAGES=_split,
)
# Environment names kept from before the GATEWAY setting existed.
_ENVIRONMENT_ALIASES = {"GATEWAY_GRADIO_PAGES": "PAGES"}
# Settings kept from before the GATEWAY setting existed: read when GATEWAY lacks the key.
_SETTING_ALIASES = {"GATEWAY_MIGRATED_ROUTES": "ROUTES", "GATEWAY_PARITY_USERS": "PARITY_USERS", "GATEWAY_PARITY_REDACT": "PARITY_REDACT"}


@dataclass(frozen=True)
class Problem:
    """A wrong setting, as ``manage.py check`` reports it (``id`` is ``fastapi_gateway.E0NN``)."""

    id: str
    msg: str
    hint: str | None = None
    error: bool = True


def _environment(env: Mapping[str, str]) -> tuple[dict[str, Any], list[Problem]]:
    values: dict[str, Any] = {}
    found: list[Problem] = []
    names = {f"GATEWAY_{key}": key for key in ENVIRONMENT} | _ENVIRONMENT_ALIASES
    for variable, key in names.items():
        if variable not in env:
            continue
        try:
            values[key] = ENVIRONMENT[key](env[variable])
        except ValueError as exc:
            found.append(Problem("fastapi_gateway.E002", f"{variable}={env[variable]!r} cannot be read: {exc}",
                                 f"See the GATEWAY[{key!r}] row of the configuration table."))
    return values, found


def _raw(env: Mapping[str, str]) -> tuple[dict[str, Any], list[Problem]]:
    found: list[Problem] = []
    # Without a Django project (a bare launcher, a protocol test), the defaults and environment.
    has_project = settings.configured or bool(os.environ.get("DJANGO_SETTINGS_MODULE"))
    project = getattr(settings, "GATEWAY", {}) if has_project else {}
    if not isinstance(project, Mapping):
        return dict(DEFAULTS), [Problem("fastapi_gateway.E001", f"GATEWAY must be a dict, not {type(project).__name__}")]
    for key in project:
        if key not in DEFAULTS:
            close = difflib.get_close_matches(str(key), DEFAULTS, n=1)
            found.append(Problem("fastapi_gateway.E003", f"GATEWAY has an unknown key {key!r}",
                                 f"Did you mean {close[0]!r}?" if close else f"Known keys: {', '.join(DEFAULTS)}."))
    merged = dict(DEFAULTS)
    for old, key in _SETTING_ALIASES.items():
        if has_project and hasattr(settings, old) and key not in project:
            merged[key] = getattr(settings, old)
            found.append(Problem("fastapi_gateway.W001", f"settings.{old} is read as GATEWAY[{key!r}]",
                                 f"Move it into the GATEWAY dict as {key!r}.", error=False))
    merged.update({key: value for key, value in project.items() if key in DEFAULTS})
    from_env, env_problems = _environment(env)
    merged.update(from_env)
    return merged, found + env_problems


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_proxy(value: Any) -> bool:
    """An address, a network, or ``*``: what uvicorn's trusted-hosts parser accepts."""
    if value == "*":
        return True
    try:
        ipaddress.ip_network(value, strict=False)
    except (TypeError, ValueError):
        return False
    return True


def _resolves(target: str) -> bool:
    """``module:attribute`` names something: the module is found, and (when it is already
    imported or cheap to import) so is the attribute. Modules are imported only if they are
    in ``sys.modules`` already, so a check never runs a page's or router's import side effects."""
    if not _importable(target):
        return False
    separator = ":" if ":" in target else "."
    module_name, _, attribute = target.partition(":") if separator == ":" else target.rpartition(".")
    module = sys.modules.get(module_name)
    return module is None or not attribute or hasattr(module, attribute)


def _importable(target: str) -> bool:
    module = target.replace(":", ".").rpartition(".")[0] if ":" not in target else target.partition(":")[0]
    try:
        return bool(module) and importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def validate(values: Mapping[str, Any]) -> list[Problem]:
    """The problems of a complete set of options (defaults, settings and overrides merged)."""
    found: list[Problem] = []

    def bad(key: str, what: str, hint: str | None = None) -> None:
        found.append(Problem("fastapi_gateway.E004", f"GATEWAY[{key!r}] {what}, not {values[key]!r}", hint))

    for key in ("LEGACY_THREADS", "LEGACY_CONCURRENCY", "LEGACY_BODY_SPOOL_KB", "MAX_UPLOAD_MB",
                "LIMIT_REQUEST_LINE", "LIMIT_REQUEST_FIELDS", "LIMIT_REQUEST_FIELD_SIZE"):
        if not isinstance(values[key], int) or isinstance(values[key], bool) or values[key] < 1:
            bad(key, "must be a whole number of at least 1")
    for key in ("LEGACY_OVERFLOW_MS", "LEGACY_BODY_TIMEOUT_SECONDS", "LEGACY_SEND_TIMEOUT_SECONDS", "STREAM_RECHECK_SECONDS",
                "ROUTE_POLL_SECONDS", "TRAFFIC_FLUSH_SECONDS", "TRAFFIC_KEEP_HOURS", "REQUEST_HEAD_TIMEOUT_SECONDS",
                "REQUEST_BODY_TIMEOUT_SECONDS", "SEND_TIMEOUT_SECONDS"):
        if not _is_number(values[key]) or not values[key] > 0:
            bad(key, "must be a positive number")
    legacy_max = values["LEGACY_MAX_BODY_MB"]
    if legacy_max is not None and (not isinstance(legacy_max, int) or isinstance(legacy_max, bool) or legacy_max < 1):
        bad("LEGACY_MAX_BODY_MB", "must be a whole number of at least 1 or None", "None sets no limit but Django's own.")
    keep = values["PAGE_FILES_KEEP_HOURS"]
    if keep is not None and (not _is_number(keep) or not keep > 0):
        bad("PAGE_FILES_KEEP_HOURS", "must be a positive number of hours or None", "None keeps the files until deleted by hand.")
    walk = values["GC_FULL_WALK_SECONDS"]
    if walk is not None and (not _is_number(walk) or not walk > 0):
        bad("GC_FULL_WALK_SECONDS", "must be a positive number of seconds or None", "None leaves Python's collector as it is.")
    routers = values["API_ROUTERS"]
    if not isinstance(routers, Mapping):
        bad("API_ROUTERS", "must map URL prefixes to routers", "For example {'/api/v2': 'myapp.api:router'}.")
    else:
        for prefix, target in routers.items():
            if not isinstance(prefix, str) or not prefix.startswith("/") or prefix.rstrip("/") == "":
                found.append(Problem("fastapi_gateway.E005", f"GATEWAY['API_ROUTERS'] prefix {prefix!r} is not a URL path under /",
                                     "A prefix such as '/api/v2': the Django site keeps every other URL."))
            elif isinstance(target, str) and not _importable(target):
                found.append(Problem("fastapi_gateway.E006", f"GATEWAY['API_ROUTERS'][{prefix!r}]: no module for {target!r}",
                                     "Name it as 'package.module:attribute'."))
    pages = values["PAGES"]
    if isinstance(pages, str) or not isinstance(pages, (list, tuple)):
        bad("PAGES", "must be a list", "For example ['myapp.pages:hello'].")
    else:
        for target in pages:
            if not isinstance(target, str) and not (hasattr(target, "path") and hasattr(target, "build")):
                bad("PAGES", "must list import strings or GradioPage objects")
            elif isinstance(target, str) and not _resolves(target):
                found.append(Problem("fastapi_gateway.E006", f"GATEWAY['PAGES']: cannot find {target!r}",
                                     "Name each page as 'package.module:attribute'."))
    routes = values["ROUTES"]
    if isinstance(routes, str) and not _importable(routes):
        found.append(Problem("fastapi_gateway.E006", f"GATEWAY['ROUTES']: no module for {routes!r}",
                             "Name the sequence of MigratedRoute as 'package.module:attribute'."))
    for key in ("TRUSTED_PROXIES", "PARITY_USERS", "PARITY_REDACT"):
        if isinstance(values[key], str) or not isinstance(values[key], (list, tuple)) or not all(isinstance(v, str) for v in values[key]):
            bad(key, "must be a list of strings")
        elif key == "TRUSTED_PROXIES" and not all(_is_proxy(v) for v in values[key]):
            bad(key, "must list IP addresses, networks (CIDR) or '*'", "For example ['10.0.0.1', '10.0.0.0/8'].")
    for key in ("METRICS_TOKEN", "PAGE_TEMPLATE", "PAGE_STYLESHEET", "DOCS_PREFIX", "LOGOUT_URL", "MIGRATION_CONSOLE"):
        if values[key] is not None and (not isinstance(values[key], str) or not values[key]):
            bad(key, "must be a non-empty string or None")
    if isinstance(values["DOCS_PREFIX"], str) and (not values["DOCS_PREFIX"].startswith("/") or values["DOCS_PREFIX"].startswith("//")
                                                   or not values["DOCS_PREFIX"].strip("/")):
        bad("DOCS_PREFIX", "must be a URL path under / (not / itself)")
    console = values["MIGRATION_CONSOLE"]
    if isinstance(console, str) and (not console.startswith("/") or console.startswith("//") or not console.strip("/")):
        bad("MIGRATION_CONSOLE", "must be a URL path under / (not / itself), or None for no console")
    if values["CPU_AFFINITY"] is not None and not isinstance(values["CPU_AFFINITY"], bool):
        bad("CPU_AFFINITY", "must be True, False or None (auto)")
    if not isinstance(values["TRACING"], bool):
        bad("TRACING", "must be True or False")
    elif values["TRACING"] and not _importable("opentelemetry.trace:get_tracer"):
        found.append(Problem("fastapi_gateway.E007", "GATEWAY['TRACING'] is on but OpenTelemetry is not installed",
                             "Install the gateway's \"otel\" extra: pip install 'django-fastapi-shim[otel]'."))
    if not isinstance(values["TITLE"], str):
        bad("TITLE", "must be a string")
    if not isinstance(values["PAGE_TITLE"], str) or "{title}" not in values["PAGE_TITLE"] or not _formats(values["PAGE_TITLE"]):
        bad("PAGE_TITLE", "must be a string holding {title} and no other {field}", "For example '{title} · My site' ({{ and }} for braces).")
    return found


def from_environment(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``GATEWAY_*`` variables alone, parsed; raises ``GatewayConfigurationError`` on a bad one."""
    values, found = _environment(os.environ if env is None else env)
    if found:
        raise GatewayConfigurationError("; ".join(problem.msg for problem in found))
    return values


def _formats(pattern: str) -> bool:
    try:
        pattern.format(title="")
    except (KeyError, IndexError, ValueError):
        return False
    return True


def problems(env: Mapping[str, str] | None = None) -> list[Problem]:
    """Everything wrong with the ``GATEWAY`` setting and its environment overrides."""
    values, found = _raw(os.environ if env is None else env)
    return found + validate(values)


def gateway_settings(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The effective options: defaults, then ``settings.GATEWAY``, then ``GATEWAY_*`` variables.

    Raises ``GatewayConfigurationError`` naming every error, so a process never serves with a
    value ``manage.py check`` would refuse.
    """
    values, found = _raw(os.environ if env is None else env)
    errors = [problem for problem in found + validate(values) if problem.error]
    if errors:
        raise GatewayConfigurationError("; ".join(f"{problem.msg} ({problem.id})" for problem in errors))
    return values


_effective: dict[str, Any] | None = None


def setting(key: str) -> Any:
    """One effective option (see ``gateway_settings``), read once and kept until a setting it
    depends on changes: callers such as the redaction of every stored shadow diff and each admin
    row need not re-validate the whole dict each time."""
    global _effective
    if key not in DEFAULTS:
        raise KeyError(key)
    if _effective is None:
        _effective = gateway_settings()
    return _effective[key]


@receiver(setting_changed)
def _forget_effective_settings(*, setting: str, **kwargs: Any) -> None:
    global _effective
    if setting == "GATEWAY" or setting in _SETTING_ALIASES:
        _effective = None
