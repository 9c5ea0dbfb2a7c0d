"""The header every page shows: who is signed in, a way out, and the way back to the legacy site.

Signing out has to end the Django session, not just the Gradio one, so the button posts a
real form to Django's ``LogoutView`` (POST only, CSRF-protected) and lets Django redirect to
``LOGOUT_REDIRECT_URL``. That is done in the browser (``js=``) because Gradio cannot answer an
event with a redirect, and the token comes from Django's ``csrftoken`` cookie, which Django
leaves readable by scripts (``CSRF_COOKIE_HTTPONLY`` is off by default).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import gradio as gr

from .identity import request_username
from .markdown import escape_markdown

__all__ = ["AccountBar", "add_account_bar", "sign_out_js", "signed_in_text"]

DEFAULT_LOGOUT_URL = "/accounts/logout/"
DEFAULT_CSRF_COOKIE_NAME = "csrftoken"
DEFAULT_LEGACY_LINKS: tuple[tuple[str, str], ...] = (("All tickets (classic site)", "/tickets/"),)


@dataclass(frozen=True)
class AccountBar:
    """The components added, so pages and tests can wire or inspect them."""

    signed_in: gr.Markdown
    sign_out: gr.Button
    links: gr.Markdown


def signed_in_text(request: gr.Request) -> str:
    """``Signed in as <username>``, escaped, since a username may hold Markdown characters."""
    username = request_username(request)
    if username is None:
        return "Not signed in"
    return f"Signed in as {escape_markdown(username)}"


def sign_out_js(
    logout_url: str = DEFAULT_LOGOUT_URL, csrf_cookie_name: str = DEFAULT_CSRF_COOKIE_NAME
) -> str:
    """Browser code that submits Django's logout form with the token from the CSRF cookie."""
    return f"""() => {{
  const name = {json.dumps(csrf_cookie_name)};
  const cookie = document.cookie.split("; ").find((part) => part.startsWith(name + "="));
  const form = document.createElement("form");
  form.method = "post";
  form.action = {json.dumps(logout_url)};
  const token = document.createElement("input");
  token.type = "hidden";
  token.name = "csrfmiddlewaretoken";
  token.value = cookie ? decodeURIComponent(cookie.slice(name.length + 1)) : "";
  form.appendChild(token);
  document.body.appendChild(form);
  form.submit();
}}"""


def add_account_bar(
    demo: gr.Blocks,
    *,
    logout_url: str = DEFAULT_LOGOUT_URL,
    csrf_cookie_name: str = DEFAULT_CSRF_COOKIE_NAME,
    legacy_links: Sequence[tuple[str, str]] = DEFAULT_LEGACY_LINKS,
) -> AccountBar:
    """Add the bar where the call stands inside ``with demo:``; the name is filled on load."""
    with gr.Row(equal_height=True, elem_classes="account-bar"):
        signed_in = gr.Markdown("", elem_id="signed-in-as")
        links = gr.Markdown(
            " · ".join(f"[{label}]({url})" for label, url in legacy_links),
            elem_id="legacy-links",
        )
        sign_out = gr.Button("Sign out", size="sm", scale=0, min_width=100, elem_id="sign-out")
    demo.load(signed_in_text, inputs=None, outputs=signed_in, api_visibility="private")
    sign_out.click(None, js=sign_out_js(logout_url, csrf_cookie_name))
    return AccountBar(signed_in=signed_in, sign_out=sign_out, links=links)
