"""The header on every page: ``Signed in as <username>`` and a sign-out that ends the Django session."""

from __future__ import annotations

import json

import gradio as gr
import pytest

from gradio_ui import PAGES, GradioPage
from fastapi_gateway.pages.account_bar import logout_url, sign_out_js, signed_in_text

from .conftest import NodeRunner, RequestFactory


@pytest.mark.django_db(transaction=True)
def test_signed_in_text_names_the_user(gr_request: RequestFactory) -> None:
    assert signed_in_text(gr_request("alice")) == "Signed in as alice"


@pytest.mark.django_db(transaction=True)
def test_signed_in_text_shows_markdown_characters_literally(gr_request: RequestFactory) -> None:
    assert signed_in_text(gr_request("a_b+c")) == r"Signed in as a\_b\+c"


def test_signed_in_text_without_a_user(gr_request: RequestFactory) -> None:
    assert signed_in_text(gr_request("")) == "Not signed in"


def _run_sign_out_js(run_node: NodeRunner, script: str, cookie: str) -> dict[str, object]:
    """Run the button's browser code against a minimal ``document`` and report the form."""
    harness = f"""
const submitted = [];
const document = {{
  cookie: {json.dumps(cookie)},
  body: {{ appendChild(child) {{ this.child = child; }} }},
  createElement(tag) {{
    return {{ tag, children: [], appendChild(child) {{ this.children.push(child); }},
             submit() {{ submitted.push(this); }} }};
  }},
}};
({script})();
const form = submitted[0];
console.log(JSON.stringify({{
  count: submitted.length, inBody: document.body.child === form, method: form.method,
  action: form.action, fields: form.children.map((c) => [c.type, c.name, c.value]),
}}));
"""
    return json.loads(run_node(harness))


def test_the_sign_out_goes_to_the_project_s_logout_view(settings: object) -> None:
    """The URL the project names ``logout`` (here django.contrib.auth.urls'), unless GATEWAY says."""
    assert logout_url() == "/accounts/logout/"
    settings.GATEWAY = {**settings.GATEWAY, "LOGOUT_URL": "/auth/bye/"}  # type: ignore[attr-defined]
    assert logout_url() == "/auth/bye/"


def test_sign_out_posts_djangos_logout_form_with_the_csrf_cookie_token(run_node: NodeRunner) -> None:
    form = _run_sign_out_js(run_node, sign_out_js(logout_url(), "csrftoken"), "sessionid=s3cr3t; csrftoken=tok%2Ben; theme=dark")
    assert form == {
        "count": 1,
        "inBody": True,
        "method": "post",
        "action": "/accounts/logout/",
        "fields": [["hidden", "csrfmiddlewaretoken", "tok+en"]],
    }


def test_sign_out_follows_a_renamed_csrf_cookie_and_logout_url(run_node: NodeRunner) -> None:
    script = sign_out_js("/auth/logout/", "my_csrf")
    form = _run_sign_out_js(run_node, script, "csrftoken=wrong; my_csrf=right")
    assert form["action"] == "/auth/logout/"
    assert form["fields"] == [["hidden", "csrfmiddlewaretoken", "right"]]


def _functions_triggered_by(blocks: gr.Blocks, block: gr.blocks.Block, event: str) -> list:
    return [fn for fn in blocks.fns.values() if (block._id, event) in fn.targets]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.path)
async def test_every_page_has_the_account_bar(page: GradioPage) -> None:
    blocks = page.blocks()
    components = list(blocks.blocks.values())

    signed_in = next(c for c in components if getattr(c, "elem_id", None) == "signed-in-as")
    assert isinstance(signed_in, gr.Markdown)
    fills_name = [
        fn for fn in blocks.fns.values()
        if fn.fn is signed_in_text and signed_in in fn.outputs
        and any(event == "load" for _, event in fn.targets)
    ]
    assert fills_name, "the signed-in line is filled on page load"

    sign_out = next(c for c in components if isinstance(c, gr.Button) and c.value == "Sign out")
    (click,) = _functions_triggered_by(blocks, sign_out, "click")
    assert click.fn is None, "signing out runs in the browser only"
    assert "/accounts/logout/" in click.js and "csrfmiddlewaretoken" in click.js

    links = next(c for c in components if getattr(c, "elem_id", None) == "legacy-links")
    assert "](/tickets/?classic=1)" in links.value
