"""``manage.py check`` for the gateway: the ``GATEWAY`` setting, and the project's own settings
the gateway depends on (sessions, the login URL), reported with ids and hints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from fastapi_gateway.conf import problems

__all__ = ["check_deployment", "check_gateway_settings", "check_project_settings"]


@register(Tags.compatibility)
def check_gateway_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Every problem of ``GATEWAY`` and the ``GATEWAY_*`` environment variables."""
    return [
        (Error if problem.error else Warning)(problem.msg, hint=problem.hint, obj="settings.GATEWAY", id=problem.id)
        for problem in problems()
    ]


@register(Tags.security)
def check_project_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """What the session adapter needs from the project: Django's sessions and auth installed."""
    found: list[CheckMessage] = []
    for app, why in (("django.contrib.sessions", "the gateway reads Django's session cookie"),
                     ("django.contrib.auth", "the gateway turns a session into a Django user")):
        if app not in settings.INSTALLED_APPS:
            found.append(Error(f"{app} is not in INSTALLED_APPS: {why}", hint=f"Add {app!r} to INSTALLED_APPS.",
                               obj="settings.INSTALLED_APPS", id="fastapi_gateway.E010"))
    found.extend(_check_logout_url())
    if not str(getattr(settings, "LOGIN_URL", "") or ""):
        found.append(Warning("LOGIN_URL is empty: anonymous visitors of a page cannot be sent to sign in",
                             hint="Set LOGIN_URL to your login view's URL or name.", obj="settings.LOGIN_URL",
                             id="fastapi_gateway.W010"))
    return found


@register(Tags.security, deploy=True)
def check_deployment(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """``manage.py check --deploy``: what a gateway serving the internet should not leave open."""
    from fastapi_gateway.conf import gateway_settings
    from fastapi_gateway.exceptions import GatewayConfigurationError

    try:
        options = gateway_settings()
    except GatewayConfigurationError:
        return []  # check_gateway_settings reports it
    if options["LEGACY_MAX_BODY_MB"] is not None:
        return []
    return [Warning(
        "legacy request bodies have no size limit: the gateway stores each whole (on disk past "
        "LEGACY_BODY_SPOOL_KB) before Django runs, whatever the URL, so anyone can fill the disk",
        hint="Set GATEWAY['LEGACY_MAX_BODY_MB'] (or GATEWAY_LEGACY_MAX_BODY_MB) to the largest body your site takes, "
             "unless a proxy in front caps bodies (nginx's client_max_body_size).",
        obj="settings.GATEWAY", id="fastapi_gateway.W012",
    )]


def _check_logout_url() -> list[CheckMessage]:
    """A project with pages needs somewhere for their sign-out to post: the URL named
    ``logout`` or ``GATEWAY["LOGOUT_URL"]``; else the pages' sign-out would post to a 404."""
    from django.urls import NoReverseMatch, reverse

    from fastapi_gateway.conf import gateway_settings
    from fastapi_gateway.exceptions import GatewayConfigurationError

    try:
        options = gateway_settings()
    except GatewayConfigurationError:
        return []  # check_gateway_settings reports it
    if not options["PAGES"] or options["LOGOUT_URL"]:
        return []
    try:
        reverse("logout")
    except NoReverseMatch:
        return [Warning("the project has Gradio pages but no URL named 'logout' for their sign-out to post to",
                        hint='Set GATEWAY["LOGOUT_URL"] to your logout view\'s URL (for example "/admin/logout/").',
                        obj="settings.GATEWAY", id="fastapi_gateway.W011")]
    except Exception:  # noqa: BLE001 - a broken URLconf is reported by Django's own checks
        return []
    return []
