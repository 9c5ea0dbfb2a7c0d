"""Who is asking: the Django user behind a Gradio event.

The gateway's ``auth_dependency`` has already checked the session cookie and handed Gradio
the username, which Gradio passes on as ``gr.Request.username``. Callbacks still ask the
gateway for the user of each event (``fastapi_gateway.django_user``), because an account
deactivated since the page was opened must stop seeing tickets on its next click.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import gradio as gr

from fastapi_gateway import django_user as gateway_django_user

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
    """The active Django user who sent this event; raises ``SignInRequired`` otherwise.

    The gateway's ``django_user`` reads the event's own session cookie, so a sign-out,
    password change or deactivation since the page was opened ends access on this click.
    """
    user = await gateway_django_user(request)
    if not user.is_authenticated:
        raise SignInRequired(request_username(request))
    return cast("AbstractBaseUser", user)
