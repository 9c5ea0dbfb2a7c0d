"""Structural comparison of two JSON documents.

Key order never matters. List order matters except under ``unordered`` selectors; lists of
different lengths are aligned with ``difflib`` so one inserted item reads as one ``extra``
item, not as every later item changed. Numbers compare as JSON numbers (``1 == 1.0``, but
``true != 1``), within ``number_tolerance``; strings that are both ISO-8601 timestamps
compare as instants (``...+00:00`` equals ``...Z``), within ``time_tolerance`` seconds.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from fastapi_gateway.parity.difference import EXTRA, MISSING, TYPE, Difference
from fastapi_gateway.parity.rules import Rules
from fastapi_gateway.parity.selectors import selector_matches

__all__ = ["compare_json", "child_path", "item_path"]

_MISSING = object()
_IDENTIFIER = re.compile(r"^[A-Za-z_][\w-]*$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")


def child_path(path: str, key: Any) -> str:
    key = str(key)
    return f"{path}.{key}" if _IDENTIFIER.match(key) else f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def item_path(path: str, index: int) -> str:
    return f"{path}[{index}]"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if _is_number(value):
        return "number"
    names: dict[type, str] = {str: "string", dict: "object", list: "array"}
    return names.get(type(value), type(value).__name__)


def _timestamp(text: str) -> datetime | None:
    if not _TIMESTAMP.match(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


class _Comparer:
    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    def ignored(self, path: str) -> bool:
        return bool(self.rules.ignore) and selector_matches(self.rules.ignore, path)

    def compare(self, legacy: Any, new: Any, path: str) -> list[Difference]:
        if self.ignored(path):
            return []
        if isinstance(legacy, dict) and isinstance(new, dict):
            return self._objects(legacy, new, path)
        if isinstance(legacy, list) and isinstance(new, list):
            return self._lists(legacy, new, path)
        return self._scalars(legacy, new, path)

    def _objects(self, legacy: dict[str, Any], new: dict[str, Any], path: str) -> list[Difference]:
        differences: list[Difference] = []
        for key in sorted(set(legacy) | set(new), key=str):
            child = child_path(path, key)
            left, right = legacy.get(key, _MISSING), new.get(key, _MISSING)
            if left is _MISSING or right is _MISSING:
                if not self.ignored(child):
                    kind = EXTRA if left is _MISSING else MISSING
                    differences.append(Difference(child, None if left is _MISSING else left, None if right is _MISSING else right, kind))
                continue
            differences.extend(self.compare(left, right, child))
        return differences

    def _scalars(self, legacy: Any, new: Any, path: str) -> list[Difference]:
        if _is_number(legacy) and _is_number(new):
            same = abs(legacy - new) <= self.rules.number_tolerance if self.rules.number_tolerance else legacy == new
            return [] if same else [Difference(path, legacy, new)]
        if isinstance(legacy, str) and isinstance(new, str):
            if legacy == new:
                return []
            left, right = _timestamp(legacy), _timestamp(new)
            if left is not None and right is not None and (left.tzinfo is None) == (right.tzinfo is None):
                if abs((left - right).total_seconds()) <= self.rules.time_tolerance:
                    return []
            return [Difference(path, legacy, new)]
        if legacy is None or new is None or _kind_of(legacy) == _kind_of(new):
            return [] if legacy == new else [Difference(path, legacy, new)]
        return [Difference(path, legacy, new, TYPE)]

    def canonical(self, value: Any, path: str) -> str:
        """The value as one string, ignored fields left out: the key lists are aligned by."""
        return json.dumps(self._stripped(value, path), sort_keys=True, separators=(",", ":"), default=str)

    def _stripped(self, value: Any, path: str) -> Any:
        if isinstance(value, dict):
            return {
                key: self._stripped(item, child_path(path, key))
                for key, item in value.items()
                if not self.ignored(child_path(path, key))
            }
        if isinstance(value, list):
            return [self._stripped(item, item_path(path, index)) for index, item in enumerate(value)]
        return value

    def _lists(self, legacy: list[Any], new: list[Any], path: str) -> list[Difference]:
        if self.rules.unordered and selector_matches(self.rules.unordered, path):
            return self._unordered(legacy, new, path)
        differences: list[Difference] = []
        if len(legacy) == len(new):
            for index, (left, right) in enumerate(zip(legacy, new, strict=True)):
                differences.extend(self.compare(left, right, item_path(path, index)))
            return differences
        differences.append(Difference(f"{path}.length", len(legacy), len(new)))
        left_keys = [self.canonical(item, item_path(path, index)) for index, item in enumerate(legacy)]
        right_keys = [self.canonical(item, item_path(path, index)) for index, item in enumerate(new)]
        matcher = difflib.SequenceMatcher(None, left_keys, right_keys, autojunk=False)
        for _tag, i1, i2, j1, j2 in matcher.get_opcodes():
            differences.extend(self._paired(legacy, new, path, list(range(i1, i2)), list(range(j1, j2))))
        return differences

    def _paired(self, legacy: list[Any], new: list[Any], path: str, left: Sequence[int], right: Sequence[int]) -> list[Difference]:
        differences: list[Difference] = []
        for i, j in zip(left, right):
            differences.extend(self.compare(legacy[i], new[j], item_path(path, i)))
        for i in left[len(right):]:
            differences.append(Difference(item_path(path, i), legacy[i], None, MISSING))
        for j in right[len(left):]:
            differences.append(Difference(item_path(path, j), None, new[j], EXTRA))
        return differences

    def _unordered(self, legacy: list[Any], new: list[Any], path: str) -> list[Difference]:
        """Equal items are matched first, whatever their positions; the rest pair up in sorted order."""
        right_free: dict[str, list[int]] = {}
        for j, item in enumerate(new):
            right_free.setdefault(self.canonical(item, item_path(path, j)), []).append(j)
        unmatched_left: list[tuple[str, int]] = []
        for i, item in enumerate(legacy):
            key = self.canonical(item, item_path(path, i))
            if right_free.get(key):
                right_free[key].pop(0)
            else:
                unmatched_left.append((key, i))
        unmatched_right = sorted((key, j) for key, indexes in right_free.items() for j in indexes)
        unmatched_left.sort()
        differences: list[Difference] = []
        if len(legacy) != len(new):
            differences.append(Difference(f"{path}.length", len(legacy), len(new)))
        differences.extend(
            self._paired(legacy, new, path, [i for _, i in unmatched_left], [j for _, j in unmatched_right])
        )
        return differences


def compare_json(
    legacy: Any,
    new: Any,
    *,
    ignore: Iterable[str] = (),
    unordered: Iterable[str] = (),
    rules: Rules | None = None,
    path: str = "$",
) -> list[Difference]:
    """Differences between two decoded JSON values; ``rules`` and the selectors given add up."""
    merged = (rules or Rules()).plus(Rules(ignore=tuple(ignore), unordered=tuple(unordered)))
    return _Comparer(merged).compare(legacy, new, path)

