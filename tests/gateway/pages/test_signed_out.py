"""The signed-out answer and notice: where the login link points, and what the page carries."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import gradio as gr
import httpx
import pytest
from fastapi import FastAPI

from fastapi_gateway.pages.signed_out import SIGNED_OUT_DETAIL, login_url, page_root, signed_out_head, signed_out_response

SETTINGS_JSON = re.compile(r'<script id="gateway-signed-out-settings" type="application/json">(.*?)</script>', re.S)


def notice_settings(head: str) -> dict[str, Any]:
    found = SETTINGS_JSON.search(head)
    assert found, head
    settings: dict[str, Any] = json.loads(found.group(1))
    return settings


@pytest.mark.parametrize(
    ("path", "root"),
    [("/ui/tickets", "/ui/tickets/"), ("/ui/tickets/", "/ui/tickets/"), ("ui/x", "/ui/x/"), ("/", "/"), ("", "/")],
)
def test_page_root_is_the_path_a_browser_shows(path: str, root: str) -> None:
    assert page_root(path) == root


def test_login_url_leads_back_to_the_page() -> None:
    assert login_url("/ui/tickets/") == "/accounts/login/?next=/ui/tickets/"


def test_next_is_url_encoded() -> None:
    page = "/ui/my page/é/?status=open&x=1#top"
    url = login_url(page)
    assert " " not in url and "é" not in url and "#" not in url and "&x" not in url
    assert parse_qs(urlsplit(url).query) == {"next": [page]}


@pytest.mark.parametrize(
    "next_path",
    [
        "//evil.example/",
        "///evil.example/",
        "/\\evil.example/",
        "\\\\evil.example/",
        "https://evil.example/ui/tickets/",
        "javascript:alert(1)",
        "evil.example/ui/",
        "",
    ],
)
def test_a_next_that_is_not_a_local_path_is_left_out(next_path: str) -> None:
    assert login_url(next_path) == "/accounts/login/"


def test_login_url_follows_the_projects_login_url_by_name_and_absolute(settings: Any) -> None:
    settings.LOGIN_URL = "login"  # a URL name, as Django allows
    assert login_url("/ui/tickets/") == "/accounts/login/?next=/ui/tickets/"
    settings.LOGIN_URL = "https://sso.example.com/login?app=1"
    assert login_url("/ui/tickets/") == "https://sso.example.com/login?app=1&next=/ui/tickets/"


def test_signed_out_response_is_json_401_with_detail_and_login_url() -> None:
    response = signed_out_response("/ui/tickets")
    assert response.status_code == 401
    assert response.media_type == "application/json"
    assert json.loads(bytes(response.body)) == {"detail": SIGNED_OUT_DETAIL, "login_url": "/accounts/login/?next=/ui/tickets/"}
    assert "signed out" in SIGNED_OUT_DETAIL


def test_head_carries_the_notice_settings_and_the_script() -> None:
    head = signed_out_head("/ui/tickets")
    assert notice_settings(head) == {
        "id": "gateway-signed-out",
        "page": "/ui/tickets/",
        "login_url": "/accounts/login/?next=/ui/tickets/",
        "text": "You were signed out.",
        "link_text": "Sign in again",
    }
    script = head.split("</script>", 1)[1]
    assert 'document.getElementById("gateway-signed-out-settings")' in script
    assert "response.status === 401" in script and "window.fetch = " in script


def test_head_escapes_what_it_embeds() -> None:
    page = "/ui/</script><script>alert(1)</script>"
    head = signed_out_head(page)
    assert "<script>alert(1)" not in head
    assert notice_settings(head)["page"] == page + "/"


async def test_a_mounted_page_serves_the_notice_to_its_browser() -> None:
    """Gradio hands ``mount_gradio_app(head=...)`` to the page, which runs its scripts."""
    with gr.Blocks() as blocks:
        gr.Markdown("probe")
    app = gr.mount_gradio_app(FastAPI(), blocks, path="/ui/probe", head=signed_out_head("/ui/probe"), ssr_mode=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        config = (await client.get("/ui/probe/config")).json()
    assert notice_settings(config["head"])["page"] == "/ui/probe/"
