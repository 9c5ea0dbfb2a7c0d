"""Sessions made the way Django makes them, for any engine, and ended after the run."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from pytest_django import Settings

from fastapi_gateway.parity.exceptions import UnknownUser
from fastapi_gateway.parity.identities import SessionPool

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("engine", ["django.contrib.sessions.backends.db", "django.contrib.sessions.backends.signed_cookies"])
def test_the_cookie_logs_django_itself_in_as_the_user(demo_users: Any, settings: Settings, engine: str) -> None:
    settings.SESSION_ENGINE = engine
    pool = SessionPool()
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = pool.cookie("bob")
    response = client.get("/api/tickets/")
    assert response.status_code == 200 and {ticket["owner"] for ticket in response.json()} == {"bob"}
    assert pool.cookie("bob") == pool.cookie("bob")  # one session per user and run


def test_sessions_end_with_the_run_and_unknown_users_are_errors(demo_users: Any) -> None:
    pool = SessionPool()
    key = pool.cookie("alice")
    assert Session.objects.filter(session_key=key).exists()
    pool.close()
    assert not Session.objects.filter(session_key=key).exists()
    with pytest.raises(UnknownUser, match="no user named 'nobody'"):
        pool.cookie("nobody")
    assert settings.SESSION_COOKIE_NAME
