"""Two normalised HTML documents compared node by node.

Children are aligned with ``difflib`` on their tags, so one extra ``<li>`` is one ``extra``
difference at its own path and the items after it still compare with their counterparts.
"""

from __future__ import annotations

import difflib

from fastapi_gateway.parity.difference import EXTRA, MISSING, TYPE, Difference
from fastapi_gateway.parity.html_document import Element, Node, child_paths, summary
from fastapi_gateway.parity.rules import Rules
from fastapi_gateway.parity.selectors import selector_matches

__all__ = ["compare_html"]


class _Comparer:
    def __init__(self, rules: Rules) -> None:
        self.ignore = rules.ignore

    def ignored(self, path: str) -> bool:
        return bool(self.ignore) and selector_matches(self.ignore, path)

    def node(self, legacy: Node, new: Node, path: str) -> list[Difference]:
        if self.ignored(path):
            return []
        if isinstance(legacy, str) and isinstance(new, str):
            return [] if legacy == new else [Difference(path, legacy, new)]
        if isinstance(legacy, Element) and isinstance(new, Element):
            return self.element(legacy, new, path)
        return [Difference(path, summary(legacy), summary(new), TYPE)]

    def element(self, legacy: Element, new: Element, path: str) -> list[Difference]:
        if legacy.tag != new.tag:
            return [Difference(path, summary(legacy), summary(new), TYPE)]
        differences: list[Difference] = []
        for name in sorted(set(legacy.attrs) | set(new.attrs)):
            attribute = f"{path}/@{name}"
            if self.ignored(attribute):
                continue
            left, right = legacy.attrs.get(name), new.attrs.get(name)
            if left == right:
                continue
            kind = MISSING if right is None else EXTRA if left is None else "changed"
            differences.append(Difference(attribute, left, right, kind))
        return differences + self.children(legacy, new, path)

    def children(self, legacy: Element, new: Element, path: str) -> list[Difference]:
        left_paths, right_paths = child_paths(legacy, path), child_paths(new, path)
        left_tags = [child.tag if isinstance(child, Element) else "#text" for child in legacy.children]
        right_tags = [child.tag if isinstance(child, Element) else "#text" for child in new.children]
        differences: list[Difference] = []
        matcher = difflib.SequenceMatcher(None, left_tags, right_tags, autojunk=False)
        for _tag, i1, i2, j1, j2 in matcher.get_opcodes():
            pairs = min(i2 - i1, j2 - j1)
            for offset in range(pairs):
                differences.extend(self.node(legacy.children[i1 + offset], new.children[j1 + offset], left_paths[i1 + offset]))
            for i in range(i1 + pairs, i2):
                if not self.ignored(left_paths[i]):
                    differences.append(Difference(left_paths[i], summary(legacy.children[i]), None, MISSING))
            for j in range(j1 + pairs, j2):
                if not self.ignored(right_paths[j]):
                    differences.append(Difference(right_paths[j], None, summary(new.children[j]), EXTRA))
        return differences


def compare_html(legacy: Element, new: Element, rules: Rules | None = None) -> list[Difference]:
    """Differences between two parsed documents (``html_document.parse_html``)."""
    return _Comparer(rules or Rules()).children(legacy, new, "")
