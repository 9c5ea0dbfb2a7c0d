"""Every Django session engine, as a test sees it: how to break, expire and snapshot a session.

The adapter must answer exactly as Django's ``get_user()`` would with each engine, and must
leave each engine's storage byte for byte as it found it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DbSessionStore
from django.core.cache import caches
from django.utils import timezone

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


class TaggedJSONSerializer:
    """A custom ``SESSION_SERIALIZER``: JSON with a version tag, as a site might have."""

    def dumps(self, obj: Any) -> bytes:
        return b"v2:" + json.dumps(obj, separators=(",", ":")).encode()

    def loads(self, data: bytes) -> Any:
        if not data.startswith(b"v2:"):
            raise ValueError("not a v2 session")
        return json.loads(data[3:])


class CustomSessionStore(DbSessionStore):
    """A custom engine path (``tests.gateway.identity.session_engines``), subclassing the db engine."""


SessionStore = CustomSessionStore


def _forget_file_storage_path() -> None:
    """Django's file engine caches SESSION_FILE_PATH on the class (and on subclasses)."""
    from django.contrib.sessions.backends.file import SessionStore as FileSessionStore

    from fastapi_gateway.identity.session import _read_only_store

    for store_class in (FileSessionStore, _read_only_store(FileSessionStore)):
        if "_storage_path" in vars(store_class):
            delattr(store_class, "_storage_path")


@dataclass(frozen=True)
class Engine:
    name: str
    path: str
    cache: bool = False
    db: bool = False
    file: bool = False
    serializer: str = "django.contrib.sessions.serializers.JSONSerializer"

    def configure(self, django_settings: Any, tmp_path: Path) -> None:
        django_settings.SESSION_ENGINE = self.path
        django_settings.SESSION_SERIALIZER = self.serializer
        django_settings.SESSION_FILE_PATH = str(tmp_path)
        if self.file:
            _forget_file_storage_path()
        if self.cache:
            django_settings.CACHES = {
                "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
            }

    # Server-side storage of one session, raw.
    def _cache_key(self, session_key: str) -> str:
        prefix = "django.contrib.sessions.cached_db" if self.db else "django.contrib.sessions.cache"
        return prefix + session_key

    def snapshot(self, session_key: str, cookie: str) -> dict[str, Any]:
        state: dict[str, Any] = {"cookie": cookie}
        if self.db:
            from django.contrib.sessions.models import Session

            row = Session.objects.filter(session_key=session_key).values_list("session_data", "expire_date").first()
            state["row"] = row
        if self.cache and not self.db:
            # For cached_db the database row is the record; the cache may be filled from it
            # on a read, as Django's own load does.
            cache = caches["default"]
            full_key = cache.make_and_validate_key(self._cache_key(session_key))  # type: ignore[attr-defined]
            state["cached"] = cache._cache.get_client(full_key).get(full_key)  # type: ignore[attr-defined]
        if self.file:
            path = Path(settings.SESSION_FILE_PATH) / (settings.SESSION_COOKIE_NAME + session_key)
            state["file"] = path.read_bytes() if path.exists() else None
            state["files"] = sorted(p.name for p in Path(settings.SESSION_FILE_PATH).iterdir())
        return state

    def tamper(self, session_key: str, cookie: str) -> str:
        """Corrupt the stored session (or the cookie, for signed cookies); returns the cookie."""
        if self.path.endswith("signed_cookies"):
            return cookie[:-3] + ("AAA" if not cookie.endswith("AAA") else "BBB")
        if self.db:
            from django.contrib.sessions.models import Session

            Session.objects.filter(session_key=session_key).update(session_data="x" * 40 + ":tampered")
        if self.cache:
            caches["default"].set(self._cache_key(session_key), {"_auth_user_id": "1", "_auth_user_backend": "x"})
            if self.db:
                caches["default"].delete(self._cache_key(session_key))
        if self.file:
            (Path(settings.SESSION_FILE_PATH) / (settings.SESSION_COOKIE_NAME + session_key)).write_text("tampered")
        return cookie

    def expire(self, session_key: str, cookie: str, django_settings: Any) -> str:
        """Make the session expired the way the engine knows expiry; returns the cookie."""
        if self.path.endswith("signed_cookies"):
            django_settings.SESSION_COOKIE_AGE = 1
            time.sleep(2.1)
            return cookie
        if self.db:
            from django.contrib.sessions.models import Session

            Session.objects.filter(session_key=session_key).update(expire_date=timezone.now() - timezone.timedelta(seconds=1))
        if self.cache:
            caches["default"].delete(self._cache_key(session_key))
        if self.file:
            path = Path(settings.SESSION_FILE_PATH) / (settings.SESSION_COOKIE_NAME + session_key)
            old = time.time() - settings.SESSION_COOKIE_AGE - 60
            os.utime(path, (old, old))
        return cookie


ENGINES = [
    Engine("db", "django.contrib.sessions.backends.db", db=True),
    Engine("cache", "django.contrib.sessions.backends.cache", cache=True),
    Engine("cached_db", "django.contrib.sessions.backends.cached_db", cache=True, db=True),
    Engine("file", "django.contrib.sessions.backends.file", file=True),
    Engine("signed_cookies", "django.contrib.sessions.backends.signed_cookies"),
    Engine("custom", "tests.gateway.identity.session_engines", db=True, serializer="tests.gateway.identity.session_engines.TaggedJSONSerializer"),
]
