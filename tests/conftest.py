"""Fixtures shared by every test package.

Uploads go to a per-test folder instead of the repository's ``media/``; passwords
hash with MD5 because the real hasher costs a second per demo user; the demo
users are the ones ``manage.py seed_demo`` makes, so tests and demos agree.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgiref.sync import SyncToAsync
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.management import call_command
from django.db import connections
from django.db.backends.signals import connection_created
from pytest_django import Settings

from fastapi_gateway.identity import lookup_threads
from fastapi_gateway.orm import close_kept_connections, closing_worker_connections
from legacy_django.tickets.management.commands.seed_demo import DEMO_PASSWORD


def _readers_take_no_table_locks(sender: object, connection: object, **kwargs: object) -> None:
    """The in-memory SQLite test database is one shared cache, where a reader holds a lock on
    each table it reads and a writer meeting it fails at once ("database table is locked":
    no busy wait). A deployment's database never does that (PostgreSQL's readers block no
    writer; a SQLite file waits its timeout), but the tests' route-table pollers read 20
    times a second, and a console action's write met one (a fresh-clone CI failure). Readers
    of the shared cache take no table locks, as read-uncommitted mode has it; writers still
    exclude each other."""
    if getattr(connection, "vendor", "") == "sqlite" and connection.is_in_memory_db():  # type: ignore[attr-defined]
        connection.connection.execute("PRAGMA read_uncommitted = 1")  # type: ignore[attr-defined]


connection_created.connect(_readers_take_no_table_locks)

# Browser and deployment tests need Debian's chromium, nginx, PostgreSQL and Redis and take
# minutes: locally they run when asked (GATEWAY_TESTS=all, `make test-all`, or `-m browser`);
# CI always runs them (.ci/run sets GATEWAY_TESTS=all).
OPT_IN_MARKERS = ("browser", "deploy")


def _everything_asked(config: pytest.Config) -> bool:
    return os.environ.get("GATEWAY_TESTS") == "all" or bool(config.getoption("markexpr"))


def pytest_report_header(config: pytest.Config) -> str | None:
    if _everything_asked(config):
        return None
    return f"{' and '.join(OPT_IN_MARKERS)} tests left out: GATEWAY_TESTS=all (or make test-all) runs them"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _everything_asked(config):
        return
    kept = [item for item in items if not any(item.get_closest_marker(name) for name in OPT_IN_MARKERS)]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


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
    lookup_threads.close_connections()  # the session lookups' kept connections
    close_kept_connections()  # the route table's and the route numbers' (tests that refresh a table directly)


@pytest.fixture(autouse=True)
def _close_worker_thread_connections() -> Iterator[None]:
    """The in-memory test database's connections that the gateway's threads (``run_orm``'s,
    the legacy bridge's) opened are closed at the end of the test that opened them, not
    reported unclosed (Python 3.13) during a later one."""
    with closing_worker_connections():
        yield
