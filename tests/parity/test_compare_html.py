"""HTML compares as a parsed, normalised document, never as a string."""

from __future__ import annotations

from fastapi_gateway.parity.compare import Reply, compare_replies
from fastapi_gateway.parity.compare_html import compare_html
from fastapi_gateway.parity.difference import EXTRA, Difference
from fastapi_gateway.parity.html_document import parse_html
from fastapi_gateway.parity.rules import Rules

LEGACY = (
    '<!doctype html><html><head><title>Desk</title></head><body><!-- built by Django -->'
    '<h1 class="title main" id="h">Tickets</h1><ul><li>One<li>Two</ul>'
    '<form><input type="hidden" name="csrfmiddlewaretoken" value="abc123"></form></body></html>'
)


def test_formatting_attribute_order_classes_comments_and_csrf_tokens_do_not_count() -> None:
    new = (
        "<html>\n <head>\n  <title>Desk</title>\n </head>\n <body>\n"
        '  <h1 id="h" class="main  title">\n   Tickets\n  </h1>\n  <ul>\n   <li>One</li>\n   <li>Two</li>\n  </ul>\n'
        '  <form><input name="csrfmiddlewaretoken" value="zzz999" type="hidden"/></form>\n </body>\n</html>'
    )
    assert compare_html(parse_html(LEGACY), parse_html(new)) == []


def test_a_changed_text_and_an_added_element_are_named_by_their_paths() -> None:
    new = LEGACY.replace("<li>Two", "<li>Three<li>Four")
    assert compare_html(parse_html(LEGACY), parse_html(new)) == [
        Difference("/html/body/ul/li[2]/text()", "Two", "Three"),
        Difference("/html/body/ul/li[3]", None, "<li>Four</li>", EXTRA),
    ]
    attribute = LEGACY.replace('id="h"', 'id="heading"')
    assert [d.path for d in compare_html(parse_html(LEGACY), parse_html(attribute))] == ["/html/body/h1/@id"]


def test_ignore_selectors_apply_to_html_paths() -> None:
    new = LEGACY.replace("<li>Two", "<li>Three")
    assert compare_html(parse_html(LEGACY), parse_html(new), Rules(ignore=("//ul",))) == []


def test_replies_of_html_are_compared_as_documents() -> None:
    html = {"content-type": "text/html; charset=utf-8"}
    assert compare_replies(Reply.of(200, html, LEGACY.encode()), Reply.of(200, html, LEGACY.replace(">", " >").encode())) == []
