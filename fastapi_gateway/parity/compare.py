"""Structural comparison of two answers: status, content type and JSON bodies.

Key order never matters; list order matters except at paths declared unordered; fields
matched by an ignore selector are left out. Selectors are JSONPath-like: ``$.title``,
``$[*].updated_at``, ``$.items[0].id``, ``$..token`` (any depth).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Difference", "compare_json", "compare_responses", "selector_matches"]

_MISSING = object()


@dataclass(frozen=True)
class Difference:
    """One differing place: its path (``$.title``), and both sides' values (``None`` if absent)."""

    path: str
    legacy: Any
    new: Any

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "legacy": self.legacy, "new": self.new}


def _selector_regex(selector: str) -> re.Pattern[str]:
    pattern = re.escape(selector)
    pattern = pattern.replace(r"\[\*\]", r"\[\d+\]").replace(r"\.\*", r"\.[^.\[]+")
    pattern = pattern.replace(r"\.\.", r"(?:\.[^.\[]+|\[\d+\])*\.")
    return re.compile(pattern + r"(?:$|[.\[])")


def selector_matches(selectors: Iterable[str], path: str) -> bool:
    """Whether ``path`` (or one of its ancestors) is selected by any selector."""
    return any(_selector_regex(selector).match(path) for selector in selectors)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def compare_json(
    legacy: Any, new: Any, *, ignore: Sequence[str] = (), unordered: Sequence[str] = (), path: str = "$"
) -> list[Difference]:
    if selector_matches(ignore, path):
        return []
    if isinstance(legacy, dict) and isinstance(new, dict):
        differences: list[Difference] = []
        for key in sorted(set(legacy) | set(new), key=str):
            child = f"{path}.{key}"
            left, right = legacy.get(key, _MISSING), new.get(key, _MISSING)
            if left is _MISSING or right is _MISSING:
                if not selector_matches(ignore, child):
                    differences.append(Difference(child, None if left is _MISSING else left, None if right is _MISSING else right))
                continue
            differences.extend(compare_json(left, right, ignore=ignore, unordered=unordered, path=child))
        return differences
    if isinstance(legacy, list) and isinstance(new, list):
        if selector_matches(unordered, path):
            legacy, new = sorted(legacy, key=_canonical), sorted(new, key=_canonical)
        if len(legacy) != len(new):
            return [Difference(f"{path}.length", len(legacy), len(new))]
        differences = []
        for index, (left, right) in enumerate(zip(legacy, new, strict=True)):
            differences.extend(compare_json(left, right, ignore=ignore, unordered=unordered, path=f"{path}[{index}]"))
        return differences
    if type(legacy) is not type(new) and not (isinstance(legacy, (int, float)) and isinstance(new, (int, float))):
        return [Difference(path, legacy, new)]
    return [] if legacy == new else [Difference(path, legacy, new)]


def _media_type(headers: dict[str, str]) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def compare_responses(
    legacy: tuple[int, dict[str, str], bytes],
    new: tuple[int, dict[str, str], bytes],
    *,
    ignore: Sequence[str] = (),
    unordered: Sequence[str] = (),
) -> list[Difference]:
    """Differences between two ``(status, headers, body)`` answers; bodies as JSON when both are."""
    (legacy_status, legacy_headers, legacy_body), (new_status, new_headers, new_body) = legacy, new
    differences: list[Difference] = []
    if legacy_status != new_status:
        differences.append(Difference("status", legacy_status, new_status))
    legacy_type, new_type = _media_type(legacy_headers), _media_type(new_headers)
    if legacy_type != new_type:
        differences.append(Difference("content-type", legacy_type, new_type))
        return differences
    if legacy_type == "application/json":
        try:
            legacy_json, new_json = json.loads(legacy_body), json.loads(new_body)
        except ValueError:
            return differences + ([Difference("body", "<invalid JSON>", "<invalid JSON>")] if legacy_body != new_body else [])
        return differences + compare_json(legacy_json, new_json, ignore=ignore, unordered=unordered)
    if legacy_body != new_body:
        differences.append(Difference("body", f"<{len(legacy_body)} bytes>", f"<{len(new_body)} bytes>"))
    return differences
