"""Selectors pick a path and everything below it, in the JSON, HTML and literal families."""

from __future__ import annotations

import pytest

from fastapi_gateway.parity.selectors import is_under, selector_matches


@pytest.mark.parametrize(
    ("selector", "path", "selected"),
    [
        ("$.title", "$.title", True),
        ("$.title", "$.titles", False),
        ("$.author", "$.author.name", True),
        ("$[*].updated_at", "$[12].updated_at", True),
        ("$[*].updated_at", "$.updated_at", False),
        ("$.items[0].id", "$.items[1].id", False),
        ("$..token", "$.a[2].b.token", True),
        ("updated_at", "$[3].updated_at", True),  # a bare name: any depth
        ("$.*", "$.anything.below", True),
        ("//li", "/html/body/ul/li[3]/text()", True),
        ("/html/body/p[2]", "/html/body/p/text()", False),  # [1] is left out of paths
        ("/html/body/p[1]", "/html/body/p/text()", True),
        ("//a/@href", "/html/body/nav/a[2]/@href", True),
        ("//a/@href", "/html/body/nav/a[2]/@class", False),
        ("cookie:sessionid", "cookie:sessionid@httponly", True),
        ("cookie:session", "cookie:sessionid", False),
        ("status", "status", True),
        ("$..status", "status", False),  # families do not mix
    ],
)
def test_selector_matches(selector: str, path: str, selected: bool) -> None:
    assert selector_matches([selector], path) is selected


def test_a_list_length_stands_for_the_list() -> None:
    assert is_under("$.items[3].id", "$.items.length")
    assert not is_under("$.itemsx", "$.items")
