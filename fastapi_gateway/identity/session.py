"""Resolve the Django user behind a request's session cookie, without touching the session.

Django's own ``django.contrib.auth.get_user()`` has side effects: it flushes the session when
the auth hash does not match and cycles the session key when a ``SECRET_KEY_FALLBACKS`` key
matched. The gateway only *reads*: it makes the same decision and leaves every write to
Django, which will make it on the user's next legacy request. Anything missing, expired,
malformed or tampered resolves to ``AnonymousUser``; nothing here raises.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, MutableMapping
from importlib import import_module
from typing import Any, Protocol, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.base import SessionBase
from django.utils.crypto import constant_time_compare

from fastapi_gateway.compat import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend, parse_cookie, session_store_subclass
from fastapi_gateway.exceptions import BackendUnavailable
from fastapi_gateway.identity.lookup_threads import run_lookup
from fastapi_gateway.http.outage import is_outage, probe_session_store

__all__ = [
    "DjangoUser",
    "load_session",
    "resolve_user",
    "aresolve_user",
    "session_key_from_headers",
    "user_for_scope",
]

logger = logging.getLogger(__name__)


class DjangoUser(Protocol):
    """What the gateway needs of a user: Django's ``AbstractBaseUser`` or ``AnonymousUser``."""

    @property
    def is_authenticated(self) -> bool: ...

    @property
    def is_staff(self) -> bool: ...

    def get_username(self) -> str: ...


def _anonymous() -> DjangoUser:
    # Imported late: auth.models needs the app registry, and this module must be importable
    # before django.setup() so that the gateway package can be imported to configure it.
    from django.contrib.auth.models import AnonymousUser

    return cast(DjangoUser, AnonymousUser())


def session_key_from_headers(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Django's session key from raw ASGI headers, parsed by Django's own cookie parser."""
    cookie_header = b"; ".join(value for name, value in headers if name == b"cookie")
    if not cookie_header:
        return None
    cookies = parse_cookie(cookie_header.decode("latin-1"))
    return cookies.get(settings.SESSION_COOKIE_NAME) or None


_WRITING_METHODS = ("save", "delete", "create", "cycle_key", "flush", "clear")


def _ignore_write(self: SessionBase, *args: Any, **kwargs: Any) -> None:
    logger.debug("ignored a session write: the gateway only reads sessions")


@functools.cache
def _read_only_store(store_class: type[SessionBase]) -> type[SessionBase]:
    """The engine's own ``SessionStore`` with every writing method made a no-op.

    Loading alone can write in some engines — the file engine deletes an expired session and
    creates a new one while loading it — so "read-only" is enforced on the class rather than
    trusted to each engine's load path. Any engine, custom ones included, is covered.
    """
    return session_store_subclass(store_class, {name: _ignore_write for name in _WRITING_METHODS})


def load_session(session_key: str) -> SessionBase:
    """The configured engine's ``SessionStore`` for this key, read-only; it loads on first read.

    An invalid key is dropped by the store's own validation, an unknown or expired one loads
    empty: both read as a session without a user.
    """
    engine = import_module(settings.SESSION_ENGINE)
    return _read_only_store(engine.SessionStore)(session_key)


def resolve_user(session_key: str | None) -> DjangoUser:
    """The user ``get_user()`` would return for this session key, decided read-only.

    Raises ``BackendUnavailable`` when the session store or database cannot be reached:
    that is an outage (503), not an anonymous visitor. Runs ORM code: call it from a worker
    thread (``aresolve_user``), never the event loop.
    """
    if not session_key:
        return _anonymous()
    try:
        session = load_session(session_key)
        user = _resolve(session)
        if user is None and session.is_empty():
            probe_session_store(session)  # empty because the store is down? then it is an outage
        return user or _anonymous()
    except Exception as exc:  # noqa: BLE001 - a bad cookie or a broken backend is anonymous, not a 500
        if is_outage(exc):
            raise BackendUnavailable(exc) from exc
        logger.warning("session could not be resolved; treating the request as anonymous: %r", exc)
        return _anonymous()


async def aresolve_user(session_key: str | None) -> DjangoUser:
    """``resolve_user`` off the event loop, on a lookup thread that keeps its database
    connection (``identity.lookup_threads``)."""
    if not session_key:
        return _anonymous()
    return await run_lookup(resolve_user, session_key)


def _resolve(session: SessionBase) -> DjangoUser | None:
    try:
        user_id = get_user_model()._meta.pk.to_python(session[SESSION_KEY])
        backend_path = session[BACKEND_SESSION_KEY]
    except KeyError:
        return None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backend_path).get_user(user_id)
    if user is None:
        return None
    if hasattr(user, "get_session_auth_hash") and not _hash_verified(user, session.get(HASH_SESSION_KEY)):
        return None
    return cast(DjangoUser, user)


def _hash_verified(user: Any, session_hash: object) -> bool:
    """The current key's hash or any fallback key's hash matches, compared in constant time.

    Where Django would cycle the key after a fallback match, we accept and leave the cycling
    to Django's next request; where it would flush, we refuse.
    """
    if not isinstance(session_hash, str) or not session_hash:
        return False
    if constant_time_compare(session_hash, user.get_session_auth_hash()):
        return True
    return any(
        constant_time_compare(session_hash, fallback_hash)
        for fallback_hash in user.get_session_auth_fallback_hash()
    )


async def user_for_scope(scope: MutableMapping[str, Any]) -> DjangoUser:
    """The one lookup behind every door: resolved once per request, kept in ``scope["user"]``.

    The ASGI middleware, the FastAPI dependencies and Gradio's ``auth_dependency`` all call
    this, so a request that passes through more than one of them costs one lookup.
    """
    user = scope.get("user")
    if user is None:
        user = await aresolve_user(session_key_from_headers(scope.get("headers", ())))
        scope["user"] = user
    return cast(DjangoUser, user)
