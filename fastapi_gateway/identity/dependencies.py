"""FastAPI and Gradio doors onto the one user lookup in ``django_session``."""

from __future__ import annotations

from fastapi import HTTPException, Request, status

from fastapi_gateway.identity.csrf import check_csrf
from fastapi_gateway.identity.session import DjangoUser, user_for_scope
from fastapi_gateway.exceptions import CsrfFailure

__all__ = ["current_user", "require_user", "csrf_protect", "gradio_username"]


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
