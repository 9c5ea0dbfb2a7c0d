"""Who is asking: the Django user behind a Gradio event.

The gateway's ``auth_dependency`` has already checked the session cookie and handed Gradio
the username, which Gradio passes on as ``gr.Request.username``. Callbacks still load the
user again (in a worker thread), because an account deactivated since the page was opened
must stop seeing tickets on its next click, not on its next page load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr
from django.contrib.auth import get_user_model

from fastapi_gateway.orm import run_orm

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

__all__ = ["SignInRequired", "django_user", "request_username"]


class SignInRequired(gr.Error):  # type: ignore[misc]  # gradio is untyped for mypy here
    """The event carries no username, or one that is no longer an active account."""

    def __init__(self, username: str | None) -> None:
        self.username = username
        super().__init__(
            "Your session has ended. Please sign in again.",
            title="Sign-in required",
            print_exception=False,
        )


def request_username(request: gr.Request | None) -> str | None:
    """The username the gateway authenticated, or None (Django's anonymous username is "")."""
    username = getattr(request, "username", None) if request is not None else None
    return username or None


async def django_user(request: gr.Request | None) -> AbstractBaseUser:
    """The active Django user who sent this event; raises ``SignInRequired`` otherwise."""
    username = request_username(request)
    if username is None:
        raise SignInRequired(username)
    user = await run_orm(_active_user, username)
    if user is None:
        raise SignInRequired(username)
    return user


def _active_user(username: str) -> AbstractBaseUser | None:
    user_model = get_user_model()
    try:
        user = user_model._default_manager.get_by_natural_key(username)
    except user_model.DoesNotExist:
        return None
    return user if getattr(user, "is_active", True) else None
