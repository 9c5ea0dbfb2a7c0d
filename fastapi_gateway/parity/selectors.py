"""Selectors naming the places of an answer that a rule (ignore, unordered, redact) applies to.

Every difference has a path, and a selector selects a path *and everything below it*, so
ignoring ``$.author`` also ignores ``$.author.name``. Three families, one per kind of path:

* JSON, JSONPath-like: ``$.title``, ``$[*].updated_at``, ``$.items[0].id``, ``$.*``,
  ``$..token`` (any depth); a bare name (``updated_at``) means ``$..updated_at``.
* HTML, XPath-like: ``/html/body/main/p[2]``, ``//time`` (any depth), ``//a/@href``,
  ``//li/text()``; a step without an index matches every index.
* Everything else literally: ``status``, ``header:cache-control``, ``cookie:sessionid``
  (which also selects ``cookie:sessionid@httponly``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

__all__ = ["selector_matches", "is_under"]

_BARE_NAME = re.compile(r"^[A-Za-z_][\w-]*$")
_HTML_STEP = re.compile(r"^(?P<name>[^\[\]]+)(?:\[(?P<index>\d+|\*)\])?$")


@functools.lru_cache(maxsize=1024)
def _json_regex(selector: str) -> re.Pattern[str]:
    if _BARE_NAME.match(selector):
        selector = f"$..{selector}"
    pattern = re.escape(selector)
    pattern = pattern.replace(r"\[\*\]", r"\[\d+\]").replace(r"\.\*", r"\.[^.\[]+")
    pattern = pattern.replace(r"\.\.", r"(?:\.[^.\[]+|\[[^\]]+\])*\.")
    return re.compile(pattern + r"(?:$|[.\[])")


def _html_step(step: str) -> str:
    if step == "*":
        return r"[^/]+"
    matched = _HTML_STEP.match(step)
    if matched is None:
        return re.escape(step)
    name = r"[^/\[]+" if matched["name"] == "*" else re.escape(matched["name"])
    index = matched["index"]
    if index is None or index == "*":
        return name + r"(?:\[\d+\])?"
    if index == "1":  # paths leave out [1], the first of its kind
        return name + r"(?:\[1\])?"
    return name + rf"\[{index}\]"


@functools.lru_cache(maxsize=1024)
def _html_regex(selector: str) -> re.Pattern[str]:
    parts: list[str] = []
    for chunk_index, chunk in enumerate(selector.split("//")):
        if chunk_index:
            parts.append(r"/(?:[^/]+/)*")
        steps = [step for step in chunk.split("/")]
        parts.append("/".join(_html_step(step) if step else "" for step in steps))
    return re.compile("".join(parts) + r"(?:$|/)")


def _matches(selector: str, path: str) -> bool:
    if path.startswith("$"):
        return (selector.startswith("$") or bool(_BARE_NAME.match(selector))) and bool(_json_regex(selector).match(path))
    if path.startswith("/"):
        return selector.startswith("/") and bool(_html_regex(selector).match(path))
    return path == selector or path.startswith(selector + "@")


def selector_matches(selectors: Iterable[str], path: str) -> bool:
    """Whether ``path`` (or one of its ancestors) is selected by any of ``selectors``."""
    return any(_matches(selector, path) for selector in selectors)


def is_under(path: str, ancestor: str) -> bool:
    """``path`` is ``ancestor`` or below it; ``X.length`` stands for the list ``X`` itself."""
    if ancestor.endswith(".length"):
        ancestor = ancestor[: -len(".length")]
    if path == ancestor:
        return True
    return path.startswith(ancestor) and path[len(ancestor)] in ".[/@"
