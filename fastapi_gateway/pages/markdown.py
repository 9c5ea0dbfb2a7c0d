"""Putting user-typed text (usernames, ticket titles, error messages) into Gradio Markdown.

Gradio renders Markdown and then sanitises the HTML, so user text cannot run script, but a
title like ``*** URGENT ***`` or ``a_b_c`` would still be re-formatted or turned into a link.
Escaping the punctuation CommonMark treats as syntax shows the text exactly as typed.
"""

from __future__ import annotations

import re

__all__ = ["escape_markdown"]

_MARKDOWN_SYNTAX = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")


def escape_markdown(text: str) -> str:
    """Backslash-escape Markdown syntax so ``text`` renders literally."""
    return _MARKDOWN_SYNTAX.sub(r"\\\1", text)
