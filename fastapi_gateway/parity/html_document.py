"""An HTML page parsed (stdlib ``html.parser``) and normalised, so pages compare as documents.

What does not change what a reader sees is left out: attribute order, the order of class
names, runs of whitespace, comments, the doctype. Django's per-request CSRF token (the
``csrfmiddlewaretoken`` input) is replaced by a placeholder: it differs on every answer by
design. Each node has an XPath-like path (``/html/body/ul/li[2]/text()``, ``[1]`` left out)
used by differences, selectors and the report's side-by-side view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

__all__ = ["Element", "Node", "parse_html", "child_paths", "element_at", "html_lines", "summary", "CSRF_PLACEHOLDER"]

CSRF_PLACEHOLDER = "[csrf token]"
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
# Elements whose start closes an open one of the same kind (the common HTML omissions).
_SELF_CLOSING_SIBLINGS = frozenset({"li", "p", "tr", "td", "th", "option", "dt", "dd"})
_CSRF_INPUTS = frozenset({"csrfmiddlewaretoken"})


@dataclass
class Element:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)


Node = Element | str


def _attribute(name: str, value: str | None) -> str:
    text = " ".join((value or "").split())
    if name == "class":
        text = " ".join(sorted(text.split()))
    return text


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document")
        self.stack: list[Element] = [self.root]

    def _element(self, tag: str, attrs: list[tuple[str, str | None]]) -> Element:
        normalised = {name: _attribute(name, value) for name, value in attrs}
        if tag == "input" and normalised.get("name") in _CSRF_INPUTS and "value" in normalised:
            normalised["value"] = CSRF_PLACEHOLDER
        return Element(tag, normalised)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SELF_CLOSING_SIBLINGS and self.stack[-1].tag == tag:
            self.stack.pop()
        element = self._element(tag, attrs)
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(self._element(tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if not text:
            return
        children = self.stack[-1].children
        if children and isinstance(children[-1], str):
            children[-1] = f"{children[-1]} {text}"
        else:
            children.append(text)


def parse_html(body: bytes | str) -> Element:
    """The document's root (``#document``); never raises on malformed markup."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    builder = _TreeBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


def child_paths(element: Element, path: str) -> list[str]:
    """The path of each child: ``tag``, ``tag[2]``…, ``text()``, ``text()[2]``…"""
    seen: dict[str, int] = {}
    paths: list[str] = []
    for child in element.children:
        step = child.tag if isinstance(child, Element) else "text()"
        seen[step] = seen.get(step, 0) + 1
        paths.append(f"{path}/{step}" if seen[step] == 1 else f"{path}/{step}[{seen[step]}]")
    return paths


def element_at(root: Element, path: str) -> Element | None:
    """The element a path names (``/html/body/form/input[2]``), or ``None`` if there is none."""
    element = root
    for step in path.strip("/").split("/") if path.strip("/") else ():
        for child, child_path in zip(element.children, child_paths(element, "")):
            if isinstance(child, Element) and child_path == f"/{step}":
                element = child
                break
        else:
            return None
    return element


def _open_tag(element: Element, attrs: dict[str, str] | None = None) -> str:
    attrs = element.attrs if attrs is None else attrs
    rendered = "".join(f' {name}="{value}"' if value else f" {name}" for name, value in sorted(attrs.items()))
    return f"<{element.tag}{rendered}>"


def summary(node: Node, limit: int = 120) -> str:
    """A node in one line, for a difference's value."""
    if isinstance(node, str):
        text = node
    else:
        inner = " ".join(_texts(node))
        text = _open_tag(node) + inner + ("" if node.tag in _VOID else f"</{node.tag}>")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _texts(element: Element) -> Iterator[str]:
    for child in element.children:
        if isinstance(child, str):
            yield child
        else:
            yield from _texts(child)


def html_lines(
    root: Element,
    *,
    attrs_filter: Callable[[Element, str], dict[str, str]] | None = None,
    text_filter: Callable[[str, Element], str] | None = None,
) -> list[tuple[str, str]]:
    """The normalised document, one node per line, indented, each line with its node's path;
    ``attrs_filter`` may rewrite the attributes shown and ``text_filter`` a text node, given
    its parent element (redaction)."""
    lines: list[tuple[str, str]] = []

    def walk(element: Element, path: str, depth: int) -> None:
        for child, child_path in zip(element.children, child_paths(element, path)):
            indent = "  " * depth
            if isinstance(child, str):
                lines.append((child_path, indent + (text_filter(child, element) if text_filter is not None else child)))
                continue
            attrs = attrs_filter(child, child_path) if attrs_filter is not None else child.attrs
            lines.append((child_path, indent + _open_tag(child, attrs)))
            if child.tag not in _VOID:
                walk(child, child_path, depth + 1)
                lines.append((child_path, f"{indent}</{child.tag}>"))

    walk(root, "", 0)
    return lines
