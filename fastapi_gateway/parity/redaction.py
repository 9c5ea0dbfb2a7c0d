"""Secrets out of everything stored or shown: reports, the shadow store, test failures.

Redaction runs after comparing (a token that differs is still noticed) and before anything
leaves the process. Masked: JSON fields whose names look secret (``password``, ``token``,
``secret``, ``session``, ``csrf``, ``cookie``, ``authorization``, ``api_key``) and fields
configured by name or selector (``email``, ``$.owner.phone``); cookie values (only names and
flags are ever kept); secret-looking query parameters of a ``Location``; ``value`` of HTML
inputs with secret-looking names or types (``password``, ``hidden`` tokens).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .compare_json import child_path, item_path
from .difference import Difference
from .html_document import Element
from .selectors import selector_matches

__all__ = ["Redactor", "REDACTED", "SECRET_NAMES"]

REDACTED = "[redacted]"
SECRET_NAMES = re.compile(r"pass(word)?|secret|token|csrf|session|cookie|authori[sz]ation|api[_-]?key", re.I)
_LAST_KEY = re.compile(r"""(?:\.([^.\[]+)|\["((?:[^"\\]|\\.)*)"\]|/@([^/]+))$""")


class Redactor:
    """``fields``: extra names (matched at any depth, case-insensitively) or selectors."""

    def __init__(self, fields: Iterable[str] = ()) -> None:
        self.names = frozenset(field.lower() for field in fields if not field.startswith(("$", "/")))
        self.selectors = tuple(field for field in fields if field.startswith(("$", "/")))

    def secret_name(self, name: str) -> bool:
        return bool(SECRET_NAMES.search(name)) or name.lower() in self.names

    def secret_path(self, path: str) -> bool:
        matched = _LAST_KEY.search(path)
        if matched is not None and self.secret_name(next(group for group in matched.groups() if group is not None)):
            return True
        return bool(self.selectors) and selector_matches(self.selectors, path)

    def json(self, value: Any, path: str = "$") -> Any:
        if self.secret_path(path) and path != "$":
            return REDACTED
        if isinstance(value, dict):
            return {key: self.json(item, child_path(path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.json(item, item_path(path, index)) for index, item in enumerate(value)]
        return value

    def difference(self, difference: Difference) -> Difference:
        path = difference.path
        if path.startswith("$"):
            return Difference(path, self._value(difference.legacy, path), self._value(difference.new, path), difference.kind)
        if path.startswith("/") and self.secret_path(path):
            return Difference(path, _masked(difference.legacy), _masked(difference.new), difference.kind)
        if path == "header:location":
            return Difference(path, self.location(difference.legacy), self.location(difference.new), difference.kind)
        if path.startswith("header:") and self.secret_name(path[len("header:"):]):
            return Difference(path, _masked(difference.legacy), _masked(difference.new), difference.kind)
        return difference

    def _value(self, value: Any, path: str) -> Any:
        if value is None:
            return None
        return REDACTED if self.secret_path(path) else self.json(value, path)

    def location(self, location: Any) -> Any:
        if not isinstance(location, str) or "?" not in location:
            return location
        parts = urlsplit(location)
        query = [(name, REDACTED if self.secret_name(name) else value) for name, value in parse_qsl(parts.query, keep_blank_values=True)]
        return urlunsplit(parts._replace(query=urlencode(query, safe="/{}[]")))

    def headers(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """Headers fit to show: cookie values and credentials masked, ``Location`` cleaned."""
        shown: list[tuple[str, str]] = []
        for name, value in headers:
            if name == "set-cookie":
                cookie_name, _, rest = value.partition("=")
                flags = rest.split(";", 1)[1] if ";" in rest else ""
                value = f"{cookie_name}={REDACTED}" + (f";{flags}" if flags else "")
            elif name == "location":
                value = str(self.location(value))
            elif name in ("cookie", "authorization", "proxy-authorization") or self.secret_name(name):
                value = REDACTED
            shown.append((name, value))
        return shown

    def html_attrs(self, element: Element, path: str) -> dict[str, str]:
        """An element's attributes with secret input values masked (for ``html_lines``)."""
        attrs = dict(element.attrs)
        if "value" in attrs and element.tag in ("input", "textarea"):
            if attrs.get("type") == "password" or self.secret_name(attrs.get("name", "")) or self.secret_path(f"{path}/@value"):
                attrs["value"] = REDACTED
        if element.tag == "meta" and self.secret_name(attrs.get("name", "")) and "content" in attrs:
            attrs["content"] = REDACTED
        return attrs

    def text(self, text: str) -> str:
        """Free text (a stored body that is not JSON): secret-looking ``name=value`` pairs masked."""
        return re.sub(
            r"""(?i)\b((?:[\w-]*(?:pass(?:word)?|secret|token|csrf|session|api[_-]?key)[\w-]*)["']?\s*[:=]\s*["']?)([^"'&\s;<>,]+)""",
            lambda match: match.group(1) + REDACTED,
            text,
        )


def _masked(value: Any) -> Any:
    return None if value is None else REDACTED
