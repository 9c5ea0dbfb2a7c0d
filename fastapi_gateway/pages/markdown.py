"""Putting user-typed text (usernames, ticket titles, error messages) into Gradio Markdown.

Gradio renders Markdown and then sanitises the HTML, so user text cannot run script, but a
title like ``*** URGENT ***`` or ``a_b_c`` would still be re-formatted or turned into a link.
Escaping the punctuation CommonMark treats as syntax shows the text exactly as typed.
"""

from __future__ import annotations

import re

__all__ = ["code_span", "escape_markdown"]

_MARKDOWN_SYNTAX = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")


def escape_markdown(text: str) -> str:
    """Backslash-escape Markdown syntax so ``text`` renders literally."""
    return _MARKDOWN_SYNTAX.sub(r"\\\1", text)


def code_span(text: str) -> str:
    """``text`` as one inline code span, shown literally whatever it holds: fenced by more
    backticks than its longest run of them (CommonMark), on one line (a blank line would end
    the paragraph), so nothing in it closes the span or becomes a link."""
    text = " ".join(text.splitlines()) or " "
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return f"{fence}{padded}{fence}"
