"""Hand-written cases in TOML: ``[[case]]`` tables (HTTP) and ``[[function]]`` tables.

The format is the contract's (``name``, ``user``, ``method``, ``legacy``, ``new``,
``ignore``), plus ``unordered``, ``route``, ``headers``, ``body`` / ``json``, ``unsafe``,
``tolerance = {number = 0.01, seconds = 1}`` and ``compare_headers``. An unknown key is an
error rather than silently nothing: a typo in ``ignore`` must not pass a case.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.utils.module_loading import import_string

from fastapi_gateway.migrated_route import MigratedRoute, match_route
from fastapi_gateway.parity.cases import Case, FunctionCase, HttpCase
from fastapi_gateway.parity.exceptions import CaseFileError, ParityError
from fastapi_gateway.parity.rules import Rules

__all__ = ["load_case_file", "parse_cases"]

_HTTP_KEYS = frozenset(
    {"name", "user", "method", "legacy", "new", "ignore", "unordered", "route", "headers", "body", "json", "unsafe",
     "tolerance", "compare_headers"}
)
_FUNCTION_KEYS = frozenset({"name", "legacy", "new", "args", "kwargs", "user", "ignore", "unordered", "route", "clean", "unsafe", "tolerance"})


def load_case_file(path: str | Path, routes: Sequence[MigratedRoute]) -> list[Case]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CaseFileError(str(path), f"cannot be read ({exc.strerror or exc})") from exc
    return parse_cases(text, routes, source=str(path))


def parse_cases(text: str, routes: Sequence[MigratedRoute], *, source: str = "<cases>") -> list[Case]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CaseFileError(source, f"not valid TOML: {exc}") from exc
    unknown = set(data) - {"case", "function"}
    if unknown:
        raise CaseFileError(source, f"unknown top-level keys {sorted(unknown)}; expected [[case]] and [[function]] tables")
    cases: list[Case] = []
    for kind, build in (("case", _http_case), ("function", _function_case)):
        tables = data.get(kind, [])
        if not isinstance(tables, list):
            raise CaseFileError(source, f"`{kind}` must be an array of tables ([[{kind}]])")
        for index, table in enumerate(tables, start=1):
            where = f"[[{kind}]] #{index}" + (f" ({table['name']!r})" if isinstance(table.get("name"), str) else "")
            try:
                cases.append(build(table, routes, source))
            except (ParityError, ValueError, TypeError) as exc:
                raise CaseFileError(source, f"{where}: {exc}") from exc
    return cases


def _strings(table: dict[str, Any], key: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"`{key}` must be a list of strings")
    return tuple(value)


def _text(table: dict[str, Any], key: str, default: str | None = None) -> str | None:
    value = table.get(key, default)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"`{key}` must be a string")
    return value


def _rules(table: dict[str, Any]) -> Rules:
    tolerance = table.get("tolerance", {})
    if not isinstance(tolerance, dict) or set(tolerance) - {"number", "seconds"}:
        raise ValueError("`tolerance` is a table with `number` and/or `seconds`")
    return Rules(
        ignore=_strings(table, "ignore"),
        unordered=_strings(table, "unordered"),
        number_tolerance=float(tolerance.get("number", 0.0)),
        time_tolerance=float(tolerance.get("seconds", 0.0)),
        headers=_strings(table, "compare_headers"),
    )


def _route_name(table: dict[str, Any], legacy_path: str, routes: Sequence[MigratedRoute]) -> str:
    named = _text(table, "route")
    names = [route.name for route in routes]
    if named is not None:
        if named not in names:
            raise ValueError(f"unknown route {named!r}; declared routes: {', '.join(names) or '(none)'}")
        return named
    matched = match_route(routes, urlsplit(legacy_path).path)
    return matched.route.name if matched else "(undeclared)"


def _check_keys(table: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _http_case(table: dict[str, Any], routes: Sequence[MigratedRoute], source: str) -> HttpCase:
    _check_keys(table, _HTTP_KEYS)
    legacy = _text(table, "legacy")
    if not legacy or not legacy.startswith("/"):
        raise ValueError("`legacy` (the URL path sent to the legacy side, starting with '/') is required")
    new = _text(table, "new", legacy) or legacy
    if not new.startswith("/"):
        raise ValueError("`new` must be a URL path starting with '/'")
    method = (_text(table, "method", "GET") or "GET").upper()
    headers = table.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(value, str) for value in headers.values()):
        raise ValueError("`headers` must be a table of strings")
    body = (_text(table, "body", "") or "").encode()
    if "json" in table:
        if body:
            raise ValueError("give `body` or `json`, not both")
        body = json.dumps(table["json"]).encode()
        headers = {"content-type": "application/json", **headers}
    unsafe = table.get("unsafe", False)
    if not isinstance(unsafe, bool):
        raise ValueError("`unsafe` must be true or false")
    return HttpCase(
        name=_text(table, "name") or f"{method} {legacy}",
        legacy=legacy,
        new=new,
        route=_route_name(table, legacy, routes),
        method=method,
        user=_text(table, "user"),
        headers=tuple((name.lower(), value) for name, value in headers.items()),
        body=body,
        unsafe=unsafe,
        rules=_rules(table),
        source=source,
    )


def _callable(table: dict[str, Any], key: str) -> Callable[..., Any] | None:
    target = _text(table, key)
    if target is None:
        return None
    try:
        found = import_string(target.replace(":", "."))
    except ImportError as exc:
        raise ValueError(f"`{key}`: cannot import {target!r}: {exc}") from exc
    if not callable(found):
        raise ValueError(f"`{key}`: {target!r} is not callable")
    return found  # type: ignore[no-any-return]


def _function_case(table: dict[str, Any], routes: Sequence[MigratedRoute], source: str) -> FunctionCase:
    _check_keys(table, _FUNCTION_KEYS)
    legacy, new = _callable(table, "legacy"), _callable(table, "new")
    if legacy is None or new is None:
        raise ValueError("`legacy` and `new` (import strings, 'module:function') are required")
    args, kwargs = table.get("args", []), table.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ValueError("`args` must be an array and `kwargs` a table")
    unsafe = table.get("unsafe", False)
    if not isinstance(unsafe, bool):
        raise ValueError("`unsafe` must be true or false")
    route = _text(table, "route") or "functions"
    return FunctionCase(
        name=_text(table, "name") or f"{table['legacy']} vs {table['new']}",
        legacy=legacy,
        new=new,
        args=tuple(args),
        kwargs=kwargs,
        user=_text(table, "user"),
        route=route,
        rules=_rules(table),
        clean=_callable(table, "clean"),
        unsafe=unsafe,
        source=source,
    )
