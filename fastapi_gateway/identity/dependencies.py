"""FastAPI and Gradio doors onto the one user lookup in ``django_session``."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request, status

from fastapi_gateway.identity.csrf import check_csrf
from fastapi_gateway.identity.session import DjangoUser, _anonymous, user_for_scope
from fastapi_gateway.exceptions import CsrfFailure

__all__ = ["current_user", "require_user", "csrf_protect", "gradio_username", "django_user"]


async def current_user(request: Request) -> DjangoUser:
    """The Django user of this request; ``AnonymousUser`` when there is none."""
    return await user_for_scope(request.scope)


async def require_user(request: Request) -> DjangoUser:
    """The logged-in Django user, or a ``401`` JSON answer (APIs are not redirected)."""
    user = await user_for_scope(request.scope)
    if not user.is_authenticated:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Authentication required.",
            headers={"WWW-Authenticate": 'Cookie realm="django-session"'},
        )
    return user


async def csrf_protect(request: Request) -> None:
    """Refuse unsafe requests Django's ``CsrfViewMiddleware`` would refuse (``403``)."""
    try:
        check_csrf(request.scope)
    except CsrfFailure as exc:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=str(exc)) from exc


async def gradio_username(request: Request) -> str | None:
    """Gradio's ``auth_dependency``: the username, or ``None`` to refuse.

    Gradio lets in every value but ``None`` — ``AnonymousUser.get_username()`` is ``""``,
    which would pass — so anonymous must be turned into ``None`` explicitly.
    """
    user = await user_for_scope(request.scope)
    return user.get_username() if user.is_authenticated else None


async def django_user(request: Any) -> DjangoUser:
    """The Django user behind a Gradio callback's ``gr.Request`` (or a Starlette request):
    ``AnonymousUser`` when signed out.

    Gradio hands a callback the request that queued its event, so this is looked up for each
    event: a user who signed out, changed password or was deactivated since the page opened
    is anonymous on the next click, not on the next page load.
    """
    starlette_request = getattr(request, "request", request)  # gr.Request wraps the Starlette one
    scope = getattr(starlette_request, "scope", None)
    if not isinstance(scope, dict):
        return _anonymous()
    return await user_for_scope(scope)
