"""User text shown in Markdown keeps its characters instead of becoming formatting or links."""

from __future__ import annotations

import pytest

from fastapi_gateway.pages.markdown import escape_markdown


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("Printer on floor 3 jams", "Printer on floor 3 jams"),
        ("*** URGENT ***", r"\*\*\* URGENT \*\*\*"),
        ("a_b_c", r"a\_b\_c"),
        ("[click](http://x)", r"\[click\]\(http://x\)"),
        ("<img src=x>", r"\<img src=x\>"),
        ("# not a heading", r"\# not a heading"),
        (r"C:\temp", r"C:\\temp"),
    ],
)
def test_markdown_syntax_is_escaped(text: str, escaped: str) -> None:
    assert escape_markdown(text) == escaped
