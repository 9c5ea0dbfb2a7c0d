"""The session adapter decides like Django's ``get_user()`` and never writes the session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import AbstractUser
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django.utils import timezone

from fastapi_gateway.identity.session import aresolve_user, resolve_user, session_key_from_headers

pytestmark = pytest.mark.django_db(transaction=True)


def logged_in_key(user: AbstractUser) -> str:
    """A session made by Django's real ``login()`` (through the test client)."""
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def stored_row(session_key: str) -> tuple[str, Any]:
    row = Session.objects.get(session_key=session_key)
    return row.session_data, row.expire_date


def test_valid_session_resolves_to_its_user(alice: AbstractUser) -> None:
    user = resolve_user(logged_in_key(alice))
    assert user.is_authenticated
    assert user.get_username() == "alice"


async def test_async_lookup_runs_off_the_loop(alice: AbstractUser) -> None:
    from fastapi_gateway.orm import run_orm

    key = await run_orm(logged_in_key, alice)
    user = await aresolve_user(key)
    assert user.get_username() == "alice"


@pytest.mark.parametrize("cookie", [None, "", "short", "x" * 5000, "not a key!", "../../etc/passwd", "\x00\x01", "é" * 40])
def test_garbage_keys_are_anonymous(cookie: str | None, alice: AbstractUser) -> None:
    assert not resolve_user(cookie).is_authenticated


def test_unknown_key_is_anonymous(db: None) -> None:
    assert not resolve_user("a" * 32).is_authenticated


def test_expired_session_is_anonymous(alice: AbstractUser) -> None:
    key = logged_in_key(alice)
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timezone.timedelta(seconds=1))
    assert not resolve_user(key).is_authenticated


def test_tampered_session_data_is_anonymous(alice: AbstractUser) -> None:
    key = logged_in_key(alice)
    Session.objects.filter(session_key=key).update(session_data="tampered:" + "A" * 40)
    assert not resolve_user(key).is_authenticated


def _session_with(**data: Any) -> str:
    store = SessionStore()
    for name, value in data.items():
        store[name] = value
    store.create()
    return str(store.session_key)


def test_backend_no_longer_listed_is_anonymous(alice: AbstractUser) -> None:
    key = logged_in_key(alice)
    with override_settings(AUTHENTICATION_BACKENDS=["django.contrib.auth.backends.RemoteUserBackend"]):
        assert not resolve_user(key).is_authenticated


def test_backend_that_cannot_be_imported_is_anonymous(alice: AbstractUser) -> None:
    key = _session_with(
        **{SESSION_KEY: str(alice.pk), BACKEND_SESSION_KEY: "removed.backend.Gone", HASH_SESSION_KEY: alice.get_session_auth_hash()}
    )
    with override_settings(AUTHENTICATION_BACKENDS=["removed.backend.Gone"]):
        assert not resolve_user(key).is_authenticated


def test_user_id_of_wrong_type_is_anonymous(alice: AbstractUser) -> None:
    key = _session_with(
        **{SESSION_KEY: "not-an-int", BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend", HASH_SESSION_KEY: "x"}
    )
    assert not resolve_user(key).is_authenticated


def test_missing_auth_hash_is_anonymous(alice: AbstractUser) -> None:
    key = _session_with(**{SESSION_KEY: str(alice.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend"})
    assert not resolve_user(key).is_authenticated


def test_deleted_user_is_anonymous(alice: AbstractUser) -> None:
    key = logged_in_key(alice)
    alice.delete()
    assert not resolve_user(key).is_authenticated


def test_inactive_user_is_refused(alice: AbstractUser) -> None:
    key = logged_in_key(alice)
    alice.is_active = False
    alice.save()
    assert not resolve_user(key).is_authenticated


def test_password_change_ends_old_sessions(alice: AbstractUser) -> None:
    key = logged_in_key(alice)
    alice.set_password("a-new-password")
    alice.save()
    assert not resolve_user(key).is_authenticated


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda u: None, id="valid"),
        pytest.param(lambda u: (u.set_password("changed"), u.save()), id="password-changed"),
        pytest.param(lambda u: setattr(u, "is_active", False) or u.save(), id="inactive"),
    ],
)
def test_stored_session_is_byte_for_byte_unchanged(alice: AbstractUser, mutate: Callable[[AbstractUser], Any]) -> None:
    """Django's ``get_user()`` would flush on a hash mismatch; the adapter only reads."""
    key = logged_in_key(alice)
    before = stored_row(key)
    mutate(alice)
    resolve_user(key)
    assert stored_row(key) == before


def test_key_rotation_accepts_fallback_and_leaves_cycling_to_django(alice: AbstractUser, settings: Any) -> None:
    settings.SECRET_KEY = "old-secret-" + "x" * 40
    key = logged_in_key(alice)
    before = stored_row(key)
    settings.SECRET_KEY = "new-secret-" + "y" * 40
    settings.SECRET_KEY_FALLBACKS = ["old-secret-" + "x" * 40]
    assert resolve_user(key).get_username() == "alice"
    assert stored_row(key) == before, "get_user() would have cycled the key; the adapter must not"
    settings.SECRET_KEY_FALLBACKS = []
    # Without the fallback Django would refuse the session, and so does the adapter.
    # (The session data itself is signed with SECRET_KEY too, so it no longer even decodes.)
    assert not resolve_user(key).is_authenticated


def test_session_key_is_read_with_djangos_cookie_parser(settings: Any) -> None:
    headers = [(b"cookie", b"a=1; sessionid=abc123def456"), (b"cookie", b"other=2")]
    assert session_key_from_headers(headers) == "abc123def456"
    settings.SESSION_COOKIE_NAME = "legacy_sid"
    assert session_key_from_headers([(b"cookie", b"legacy_sid=zz; sessionid=no")]) == "zz"
    assert session_key_from_headers([(b"cookie", b"\xff\xfe=;;;")]) is None
    assert session_key_from_headers([]) is None
