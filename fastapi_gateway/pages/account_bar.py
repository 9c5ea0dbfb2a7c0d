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

from django.conf import settings
from django.urls import NoReverseMatch, reverse

from fastapi_gateway.conf import setting
from fastapi_gateway.pages.markdown import escape_markdown

__all__ = ["AccountBar", "add_account_bar", "logout_url", "sign_out_js", "signed_in_text"]


def logout_url() -> str:
    """``GATEWAY["LOGOUT_URL"]``, else the project's URL named ``logout`` (``django.contrib.auth.urls``
    names it so), else Django's conventional ``/accounts/logout/``."""
    configured = setting("LOGOUT_URL")
    if configured:
        return str(configured)
    try:
        return reverse("logout")
    except NoReverseMatch:
        return "/accounts/logout/"


def _request_username(request: gr.Request | None) -> str | None:
    username = getattr(request, "username", None) if request is not None else None
    return username or None  # Django's anonymous username is ""


@dataclass(frozen=True)
class AccountBar:
    """The components added, so pages and tests can wire or inspect them."""

    signed_in: gr.Markdown
    sign_out: gr.Button
    links: gr.Markdown


def signed_in_text(request: gr.Request) -> str:
    """``Signed in as <username>``, escaped, since a username may hold Markdown characters."""
    username = _request_username(request)
    if username is None:
        return "Not signed in"
    return f"Signed in as {escape_markdown(username)}"


def sign_out_js(logout_url: str, csrf_cookie_name: str) -> str:
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
    legacy_links: Sequence[tuple[str, str]] = (),
    logout: str | None = None,
) -> AccountBar:
    """Add the bar where the call stands inside ``with demo:``; the name is filled on load.

    ``legacy_links`` are ``(label, url)`` pairs back to the site's own pages; the sign-out
    posts to ``logout`` (default: ``logout_url()``) with the token of ``CSRF_COOKIE_NAME``.
    """
    with gr.Row(equal_height=True, elem_classes="account-bar"):
        signed_in = gr.Markdown("", elem_id="signed-in-as")
        links = gr.Markdown(
            " · ".join(f"[{label}]({url})" for label, url in legacy_links),
            elem_id="legacy-links",
        )
        sign_out = gr.Button("Sign out", size="sm", scale=0, min_width=100, elem_id="sign-out")
    demo.load(signed_in_text, inputs=None, outputs=signed_in, api_visibility="private")
    sign_out.click(None, js=sign_out_js(logout or logout_url(), settings.CSRF_COOKIE_NAME))
    return AccountBar(signed_in=signed_in, sign_out=sign_out, links=links)
