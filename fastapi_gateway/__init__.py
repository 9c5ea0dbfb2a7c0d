"""A FastAPI gateway that serves a Django site unchanged next to new FastAPI and Gradio pages.

One Django login for all of them: the session adapter reads Django's own session cookie.
"""

from __future__ import annotations

from .app import create_app
from .dependencies import csrf_protect, current_user, gradio_username, require_user
from .django_session import DjangoUser, aresolve_user, resolve_user, user_for_scope
from .exceptions import CsrfFailure, GatewayConfigurationError, GatewayError, NotAuthenticated
from .gradio_mount import GradioPage
from .orm import run_orm

__all__ = [
    "create_app",
    "current_user",
    "require_user",
    "csrf_protect",
    "gradio_username",
    "DjangoUser",
    "resolve_user",
    "aresolve_user",
    "user_for_scope",
    "GradioPage",
    "run_orm",
    "GatewayError",
    "GatewayConfigurationError",
    "CsrfFailure",
    "NotAuthenticated",
]
