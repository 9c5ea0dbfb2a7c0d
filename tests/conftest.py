"""Fixtures shared by every test package.

Uploads go to a per-test folder instead of the repository's ``media/``; passwords
hash with MD5 because the real hasher costs a second per demo user; the demo
users are the ones ``manage.py seed_demo`` makes, so tests and demos agree.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgiref.sync import SyncToAsync
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.management import call_command
from django.db import connections
from pytest_django import Settings

from legacy_django.tickets.management.commands.seed_demo import DEMO_PASSWORD


@pytest.fixture(autouse=True)
def _media_root(settings: Settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def demo_password() -> str:
    return DEMO_PASSWORD


@pytest.fixture
def demo_users(db: None) -> dict[str, AbstractUser]:
    """alice and bob (9 tickets each, 3 per status) and admin (staff), as seed_demo makes them."""
    call_command("seed_demo", stdout=io.StringIO())
    users = get_user_model()._default_manager.filter(username__in=["alice", "bob", "admin"])
    return {user.get_username(): user for user in users}


@pytest.fixture
def alice(demo_users: dict[str, AbstractUser]) -> AbstractUser:
    return demo_users["alice"]


@pytest.fixture
def bob(demo_users: dict[str, AbstractUser]) -> AbstractUser:
    return demo_users["bob"]


@pytest.fixture
def admin_user(demo_users: dict[str, AbstractUser]) -> AbstractUser:
    """Overrides pytest-django's, so ``admin_client`` is the demo ``admin``."""
    return demo_users["admin"]


@pytest.fixture(autouse=True)
def _close_async_orm_connections() -> Iterator[None]:
    """Close the connection Django's async ORM methods (``acount``…) opened in asgiref's
    thread-sensitive worker: nothing else closes it, and PostgreSQL refuses to drop the test
    database while it is open."""
    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()
