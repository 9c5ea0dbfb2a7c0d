"""Who the cases run as: real users with real Django sessions, made and ended by Django.

A session is made the way Django's test client's ``force_login`` makes one: Django's own
``login()`` on a request carrying a fresh ``SessionStore`` of the configured engine, so the
cookie works for every engine (db, cache, signed cookies…) and both sides resolve it
exactly as they resolve a browser's. Like any login it updates the user's ``last_login``.
The sessions are deleted when the run ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest

from fastapi_gateway.parity.exceptions import UnknownUser

__all__ = ["SessionPool", "sample_usernames"]


def sample_usernames(configured: Sequence[str] = ()) -> list[str]:
    """The users default cases run as: those configured, else one staff user and two others.

    Staff and regular users usually see different data (here: every ticket, or their own),
    and two regular users make "another user's object" cases possible.
    """
    if configured:
        return list(configured)
    manager = get_user_model()._default_manager
    staff = manager.filter(is_active=True, is_staff=True).order_by("pk")[:1]
    regular = manager.filter(is_active=True, is_staff=False).order_by("pk")[:2]
    return [user.get_username() for user in [*staff, *regular]]


class SessionPool:
    """One logged-in session per username, made on first use (call from a worker thread)."""

    def __init__(self) -> None:
        self._sessions: dict[str, SessionBase] = {}

    def cookie(self, username: str) -> str:
        """The value of ``SESSION_COOKIE_NAME`` for a session of ``username``."""
        session = self._sessions.get(username)
        if session is None:
            session = self._sessions[username] = self._log_in(username)
        assert session.session_key is not None
        return session.session_key

    def _log_in(self, username: str) -> SessionBase:
        user_model = get_user_model()
        try:
            user: Any = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            raise UnknownUser(username) from None
        request = HttpRequest()
        request.session = import_module(settings.SESSION_ENGINE).SessionStore()
        backend = getattr(user, "backend", None) or settings.AUTHENTICATION_BACKENDS[0]
        login(request, user, backend=backend)
        request.session.save()
        return request.session

    def close(self) -> None:
        """Log every session out (deleted from its store)."""
        for session in self._sessions.values():
            session.delete()
        self._sessions.clear()
