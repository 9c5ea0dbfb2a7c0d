"""Syntax highlighting of one line of JSON or normalised HTML, as escaped HTML with spans.

Small regular expressions rather than a highlighting library: the lines are our own pretty
printing (``observation.json_lines`` / ``html_document.html_lines``), so their shapes are
known, and the report must stay one self-contained file.
"""

from __future__ import annotations

import re
from html import escape

__all__ = ["highlight"]

_JSON = re.compile(
    r'(?P<key>"(?:[^"\\]|\\.)*"(?=\s*:))|(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)'
    r"|(?P<literal>\b(?:true|false|null)\b)|(?P<punct>[{}\[\],:])"
)
_TAG = re.compile(r"^(?P<indent>\s*)<(?P<slash>/?)(?P<name>[\w:-]+)(?P<attrs>[^>]*)>$")
_ATTR = re.compile(r'(?P<name>[^\s=]+)(?:="(?P<value>[^"]*)")?')
_CLASSES = {"key": "k", "string": "s", "number": "n", "literal": "l", "punct": "p"}


def _json(text: str) -> str:
    out: list[str] = []
    position = 0
    for match in _JSON.finditer(text):
        out.append(escape(text[position:match.start()]))
        kind = match.lastgroup or "punct"
        out.append(f'<span class="{_CLASSES[kind]}">{escape(match.group(0))}</span>')
        position = match.end()
    out.append(escape(text[position:]))
    return "".join(out)


def _html(text: str) -> str:
    tag = _TAG.match(text)
    if tag is None:
        return escape(text)
    attrs = []
    for attr in _ATTR.finditer(tag["attrs"]):
        value = attr["value"]
        rendered = f'<span class="a">{escape(attr["name"])}</span>'
        if value is not None:
            rendered += f'=<span class="s">"{escape(value)}"</span>'
        attrs.append(rendered)
    inner = f'{escape(tag["slash"])}<span class="t">{escape(tag["name"])}</span>' + "".join(" " + attr for attr in attrs)
    return f'{tag["indent"]}<span class="p">&lt;</span>{inner}<span class="p">&gt;</span>'


def highlight(text: str, media_type: str) -> str:
    if media_type == "application/json" or media_type.endswith("+json") or media_type == "python":
        return _json(text)
    if media_type in ("text/html", "application/xhtml+xml"):
        return _html(text)
    return escape(text)
