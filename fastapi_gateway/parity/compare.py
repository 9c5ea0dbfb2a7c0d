"""Compare two answers to the same request the way a client reads them.

The status, then the allow-listed headers (``compare_headers``), then the body by what it
is: JSON structurally (``compare_json``), HTML as a parsed document (``compare_html``),
other text line by line, anything else byte for byte. A page route (``Rules.page``) stops
after the headers: a Gradio page and a Django template are different documents.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi_gateway.parity.compare_headers import compare_headers
from fastapi_gateway.parity.compare_html import compare_html
from fastapi_gateway.parity.compare_json import compare_json
from fastapi_gateway.parity.difference import EXTRA, MISSING, Difference
from fastapi_gateway.parity.html_document import parse_html
from fastapi_gateway.parity.reply import Reply
from fastapi_gateway.parity.rules import Rules
from fastapi_gateway.parity.selectors import selector_matches

__all__ = [
    "Difference",
    "Reply",
    "Rules",
    "compare_json",
    "compare_replies",
    "compare_responses",
    "decode_json",
    "is_html",
    "is_json",
    "selector_matches",
    "text_of",
]

_MAX_TEXT_DIFFERENCES = 50
_TEXT_TYPES = ("text/", "application/xml", "application/javascript")


def is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def is_html(media_type: str) -> bool:
    return media_type in ("text/html", "application/xhtml+xml")


def text_of(reply: Reply) -> str:
    charset = "utf-8"
    for parameter in (reply.header("content-type") or "").split(";")[1:]:
        name, _, value = parameter.strip().partition("=")
        if name.lower() == "charset" and value:
            charset = value.strip('"')
    try:
        return reply.body.decode(charset, "replace")
    except LookupError:
        return reply.body.decode("utf-8", "replace")


def decode_json(body: bytes) -> Any:
    """The decoded body; raises ``ValueError`` when it is not JSON."""
    return json.loads(body)


def _compare_text(legacy: str, new: str) -> list[Difference]:
    left, right = legacy.splitlines(), new.splitlines()
    differences: list[Difference] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, left, right, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        pairs = min(i2 - i1, j2 - j1)
        differences.extend(Difference(f"line {i1 + k + 1}", left[i1 + k], right[j1 + k]) for k in range(pairs))
        differences.extend(Difference(f"line {i + 1}", left[i], None, MISSING) for i in range(i1 + pairs, i2))
        differences.extend(Difference(f"line {i2 + k + 1}", None, right[j], EXTRA) for k, j in enumerate(range(j1 + pairs, j2)))
    if len(differences) > _MAX_TEXT_DIFFERENCES:
        hidden = len(differences) - _MAX_TEXT_DIFFERENCES
        differences = differences[:_MAX_TEXT_DIFFERENCES] + [Difference("body", f"… {hidden} more lines differ", None)]
    return differences


def _digest(body: bytes) -> str:
    return f"<{len(body)} bytes, sha256 {hashlib.sha256(body).hexdigest()[:12]}>"


def _compare_bodies(legacy: Reply, new: Reply, rules: Rules) -> list[Difference]:
    kind = legacy.media_type
    if is_json(kind):
        try:
            legacy_json = decode_json(legacy.body)
        except ValueError:
            return [] if legacy.body == new.body else [Difference("body", "<not JSON>", _digest(new.body))]
        try:
            new_json = decode_json(new.body)
        except ValueError:
            return [Difference("body", _digest(legacy.body), f"<not JSON> {_digest(new.body)}")]
        return compare_json(legacy_json, new_json, rules=rules)
    if is_html(kind):
        return compare_html(parse_html(text_of(legacy)), parse_html(text_of(new)), rules)
    if kind.startswith(_TEXT_TYPES) or kind.endswith("+xml"):
        return _compare_text(text_of(legacy), text_of(new))
    return [] if legacy.body == new.body else [Difference("body", _digest(legacy.body), _digest(new.body))]


def compare_replies(legacy: Reply, new: Reply, rules: Rules | None = None) -> list[Difference]:
    """Every difference between the two answers that the rules do not leave out."""
    rules = rules or Rules()
    differences: list[Difference] = []
    if legacy.status != new.status:
        differences.append(Difference("status", legacy.status, new.status))
    differences.extend(compare_headers(legacy, new, rules))
    same_kind = legacy.media_type == new.media_type
    if not rules.page and same_kind and (legacy.body or new.body):
        differences.extend(_compare_bodies(legacy, new, rules))
    if rules.ignore:
        differences = [difference for difference in differences if not selector_matches(rules.ignore, difference.path)]
    return differences


_ResponseTuple = tuple[int, Mapping[str, str] | Iterable[tuple[Any, Any]], bytes]


def compare_responses(
    legacy: _ResponseTuple | Reply,
    new: _ResponseTuple | Reply,
    *,
    ignore: Iterable[str] = (),
    unordered: Iterable[str] = (),
    rules: Rules | None = None,
) -> list[Difference]:
    """``compare_replies`` for ``(status, headers, body)`` tuples as well as ``Reply`` objects."""
    merged = (rules or Rules()).plus(Rules(ignore=tuple(ignore), unordered=tuple(unordered)))
    return compare_replies(_reply(legacy), _reply(new), merged)


def _reply(answer: _ResponseTuple | Reply) -> Reply:
    if isinstance(answer, Reply):
        return answer
    status, headers, body = answer
    return Reply.of(status, headers, body)
