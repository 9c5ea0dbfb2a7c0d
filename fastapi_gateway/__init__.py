"""A FastAPI gateway that serves a Django site unchanged next to new FastAPI and Gradio pages.

One Django login for all of them: the session adapter reads Django's own session cookie.
This package is also the Django app (``INSTALLED_APPS += ["fastapi_gateway"]``), so its
public names are imported on first use: Django imports the app before its registry is ready,
when the gateway's modules (which touch models) cannot be imported yet.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi_gateway.app import create_app
    from fastapi_gateway.exceptions import CsrfFailure, GatewayConfigurationError, GatewayError, NotAuthenticated
    from fastapi_gateway.identity.dependencies import csrf_protect, current_user, django_user, gradio_username, require_user
    from fastapi_gateway.identity.session import DjangoUser, aresolve_user, resolve_user, user_for_scope
    from fastapi_gateway.migrated_route import MigratedRoute, RouteState
    from fastapi_gateway.orm import run_orm
    from fastapi_gateway.pages.page import GradioPage
    from fastapi_gateway.routing.rollouts import RolloutPlan

__all__ = [
    "create_app",
    "GradioPage",
    "MigratedRoute",
    "RouteState",
    "RolloutPlan",
    "current_user",
    "require_user",
    "django_user",
    "csrf_protect",
    "gradio_username",
    "DjangoUser",
    "resolve_user",
    "aresolve_user",
    "user_for_scope",
    "run_orm",
    "legacy_path",
    "GatewayError",
    "GatewayConfigurationError",
    "CsrfFailure",
    "NotAuthenticated",
]

_HOMES = {
    "create_app": "fastapi_gateway.app",
    "GradioPage": "fastapi_gateway.pages.page",
    "MigratedRoute": "fastapi_gateway.migrated_route",
    "RouteState": "fastapi_gateway.migrated_route",
    "RolloutPlan": "fastapi_gateway.routing.rollouts",
    "current_user": "fastapi_gateway.identity.dependencies",
    "require_user": "fastapi_gateway.identity.dependencies",
    "csrf_protect": "fastapi_gateway.identity.dependencies",
    "gradio_username": "fastapi_gateway.identity.dependencies",
    "django_user": "fastapi_gateway.identity.dependencies",
    "DjangoUser": "fastapi_gateway.identity.session",
    "resolve_user": "fastapi_gateway.identity.session",
    "aresolve_user": "fastapi_gateway.identity.session",
    "user_for_scope": "fastapi_gateway.identity.session",
    "run_orm": "fastapi_gateway.orm",
    "legacy_path": "fastapi_gateway.routing.replay",
    "GatewayError": "fastapi_gateway.exceptions",
    "GatewayConfigurationError": "fastapi_gateway.exceptions",
    "CsrfFailure": "fastapi_gateway.exceptions",
    "NotAuthenticated": "fastapi_gateway.exceptions",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'fastapi_gateway' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
