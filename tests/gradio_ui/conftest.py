"""Fixtures for the Gradio pages: a ``gr.Request`` as the gateway would hand it to a callback.

Callbacks run their ORM work in worker threads with their own database connections, so the
tests that touch the database use ``transaction=True``: the seeded rows are committed where
those threads can see them.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from urllib.parse import urlencode

import gradio as gr
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from starlette.requests import Request

from gradio_ui.assistant_rules import TicketFacts

RequestFactory = Callable[..., gr.Request]
NodeRunner = Callable[[str], str]


def _session_cookie(username: str) -> str | None:
    """A real Django session of ``username`` (None if there is no such account), made as a
    sign-in makes it; run in a thread of its own, as the tests calling it are async."""

    def sign_in() -> str | None:
        from django.conf import settings
        from django.db import close_old_connections
        from django.test import Client

        try:
            user = get_user_model()._default_manager.filter(username=username).first()
            if user is None:
                return None
            client = Client()
            client.force_login(user)
            return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        finally:
            close_old_connections()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(sign_in).result()


@pytest.fixture
def gr_request() -> RequestFactory:
    """``gr_request("alice", status="open")``: the ``gr.Request`` of an event sent from a page
    by a browser signed in as ``username`` (a real session cookie on the queue's request, the
    username the gateway's auth_dependency returned), with the page URL's query string that
    Gradio's client forwards with each event."""

    def make(username: str | None, **query_params: str) -> gr.Request:
        cookie = _session_cookie(username) if username else None
        scope = {
            "type": "http", "method": "POST", "path": "/ui/queue/join", "root_path": "",
            "query_string": urlencode(query_params).encode(),
            "headers": [(b"cookie", cookie.encode())] if cookie else [],
        }
        return gr.Request(request=Request(scope), username=username)

    return make


@pytest.fixture
def inactive_carol(db: None) -> AbstractUser:
    """A deactivated account whose old session the gateway might still pass through."""
    return get_user_model()._default_manager.create_user(
        username="carol", password="x", is_active=False
    )


@pytest.fixture
def facts_factory() -> Callable[..., TicketFacts]:
    """Plain ticket facts with sensible defaults, for the rules engine."""

    def make(ticket_id: int, **overrides: object) -> TicketFacts:
        moment = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
        fields: dict[str, object] = {
            "id": ticket_id,
            "title": f"Ticket {ticket_id}",
            "status": "open",
            "priority": "normal",
            "owner": "alice",
            "created_at": moment,
            "updated_at": moment,
            "body": "",
        }
        fields.update(overrides)
        return TicketFacts(**fields)  # type: ignore[arg-type]

    return make


@pytest.fixture
def run_node() -> NodeRunner:
    """Run a JavaScript program in Node and return its stdout: the pages' ``js=`` code runs in
    the browser, so it is exercised against a stub ``document``/``window`` rather than read."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: .ci/run installs Debian's nodejs")

    def run(program: str) -> str:
        result = subprocess.run(
            [node, "-e", program], capture_output=True, text=True, timeout=30, check=True
        )
        return result.stdout

    return run
