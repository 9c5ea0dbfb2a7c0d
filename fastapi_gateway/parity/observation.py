"""What one side answered, made fit to store and show: redacted, pretty, each line with its path.

Bodies are kept as lines tagged with the path of what each line shows (``$[0].title``,
``/html/body/h1/text()``), so a report can mark the very lines of a differing or noisy
field, not just lines that happen to differ as text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi_gateway.parity.compare import decode_json, is_html, is_json, text_of
from fastapi_gateway.parity.compare_json import child_path, item_path
from fastapi_gateway.parity.html_document import parse_html, html_lines
from fastapi_gateway.parity.redaction import Redactor
from fastapi_gateway.parity.reply import Reply

__all__ = ["Observation", "observe", "observe_value", "observation_from_text", "from_dict", "body_lines", "json_lines", "MAX_LINES"]

MAX_LINES = 2000
_SHOWN_HEADERS = ("content-type", "location", "set-cookie")


@dataclass
class Observation:
    status: int | None  # None for a function's result
    media_type: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    lines: list[tuple[str, str]] = field(default_factory=list)
    latency_ms: float = 0.0
    truncated: bool = False

    @property
    def body(self) -> str:
        return "\n".join(text for _, text in self.lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "media_type": self.media_type,
            "headers": [list(pair) for pair in self.headers],
            "body": self.body,
            "latency_ms": round(self.latency_ms, 3),
            "truncated": self.truncated,
        }


def json_lines(value: Any, path: str = "$", indent: int = 0, prefix: str = "", suffix: str = "") -> list[tuple[str, str]]:
    """Pretty JSON (sorted keys, two spaces), one ``(path, text)`` per line."""
    pad = "  " * indent
    if isinstance(value, dict) and value:
        lines = [(path, f"{pad}{prefix}{{")]
        keys = sorted(value, key=str)
        for position, key in enumerate(keys):
            comma = "," if position < len(keys) - 1 else ""
            lines += json_lines(value[key], child_path(path, key), indent + 1, f"{json.dumps(str(key), ensure_ascii=False)}: ", comma)
        return lines + [(path, f"{pad}}}{suffix}")]
    if isinstance(value, list) and value:
        lines = [(path, f"{pad}{prefix}[")]
        for index, item in enumerate(value):
            lines += json_lines(item, item_path(path, index), indent + 1, "", "," if index < len(value) - 1 else "")
        return lines + [(path, f"{pad}]{suffix}")]
    return [(path, f"{pad}{prefix}{json.dumps(value, ensure_ascii=False, default=str)}{suffix}")]


def _limited(lines: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], bool]:
    if len(lines) <= MAX_LINES:
        return lines, False
    return lines[:MAX_LINES] + [("", f"… {len(lines) - MAX_LINES} more lines")], True


def body_lines(reply: Reply, redactor: Redactor) -> list[tuple[str, str]]:
    kind = reply.media_type
    if not reply.body:
        return []
    if is_json(kind):
        try:
            return json_lines(redactor.json(decode_json(reply.body)))
        except ValueError:
            pass
    if is_html(kind):
        return html_lines(parse_html(text_of(reply)), attrs_filter=redactor.html_attrs, text_filter=redactor.html_text)
    if kind.startswith("text/") or is_json(kind) or kind.endswith("+xml") or not kind:
        return [(f"line {number}", redactor.text(line)) for number, line in enumerate(text_of(reply).splitlines(), start=1)]
    return [("body", f"<{len(reply.body)} bytes of {kind}>")]


def observe(reply: Reply, latency_ms: float, redactor: Redactor, *, extra_headers: Iterable[str] = ()) -> Observation:
    shown = set(_SHOWN_HEADERS) | {name.lower() for name in extra_headers}
    headers = redactor.headers((name, value) for name, value in reply.headers if name in shown)
    lines, truncated = _limited(body_lines(reply, redactor))
    return Observation(reply.status, reply.media_type, headers, lines, latency_ms, truncated)


def observe_value(value: Any, latency_ms: float, redactor: Redactor) -> Observation:
    """A function's (JSON-able) result."""
    lines, truncated = _limited(json_lines(redactor.json(value)))
    return Observation(None, "python", [], lines, latency_ms, truncated)


def observation_from_text(status: int | None, text: str) -> Observation:
    """A stored body (already redacted): JSON re-read for its paths, anything else by line."""
    try:
        lines = json_lines(json.loads(text))
        kind = "application/json"
    except ValueError:
        lines = [(f"line {n}", line) for n, line in enumerate(text.splitlines(), start=1)]
        kind = "text/plain"
    return Observation(status, kind, [], lines)


def from_dict(data: dict[str, Any] | None) -> Observation | None:
    if data is None:
        return None
    observation = observation_from_text(data.get("status"), str(data.get("body", "")))
    observation.media_type = str(data.get("media_type", observation.media_type))
    observation.headers = [(str(name), str(value)) for name, value in data.get("headers", [])]
    observation.latency_ms = float(data.get("latency_ms", 0.0))
    return observation

