"""How ``legacy_django/settings.py`` reads the environment.

Each case imports the settings in a fresh interpreter, with warnings as errors,
so the module-level reads run again and nothing leaks between tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

BASE_DIR = Path(__file__).resolve().parents[2]

_OUR_VARIABLES = ("DATABASE_URL", "REDIS_URL")


def _settings_with(env: dict[str, str], *names: str) -> dict[str, Any]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DJANGO_") and key not in _OUR_VARIABLES
    }
    script = (
        "import json, sys\n"
        "from django.conf import settings\n"
        "print(json.dumps({n: getattr(settings, n, None) for n in sys.argv[1:]}, default=str))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-W", "error", "-c", script, *names],
        env={**clean, "DJANGO_SETTINGS_MODULE": "legacy_django.settings", **env},
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(completed.stdout)  # type: ignore[no-any-return]


def test_defaults_suit_a_local_checkout() -> None:
    found = _settings_with(
        {},
        "DEBUG",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "SECRET_KEY",
        "SECRET_KEY_FALLBACKS",
        "DATABASES",
        "CACHES",
        "SESSION_ENGINE",
        "SESSION_FILE_PATH",
        "MEDIA_ROOT",
    )

    assert found["DEBUG"] is False
    assert found["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost"]
    assert found["CSRF_TRUSTED_ORIGINS"] == []
    assert found["SECRET_KEY"].startswith("django-insecure-")
    assert found["SECRET_KEY_FALLBACKS"] == []
    assert found["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert found["DATABASES"]["default"]["NAME"] == str(BASE_DIR / "db.sqlite3")
    assert found["CACHES"]["default"]["BACKEND"].endswith("LocMemCache")
    assert found["SESSION_ENGINE"] == "django.contrib.sessions.backends.db"
    assert found["SESSION_FILE_PATH"] is None
    assert found["MEDIA_ROOT"] == str(BASE_DIR / "media")


def test_database_url_selects_postgres() -> None:
    found = _settings_with(
        {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test"}, "DATABASES"
    )

    database = found["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["NAME"], database["USER"], database["HOST"], database["PORT"]) == (
        "test",
        "postgres",
        "127.0.0.1",
        5432,
    )
    assert database["CONN_MAX_AGE"] == 0


def test_redis_url_selects_the_redis_cache() -> None:
    found = _settings_with({"REDIS_URL": "redis://127.0.0.1:6379/0"}, "CACHES")

    assert found["CACHES"]["default"] == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/0",
    }


@pytest.mark.parametrize(
    "engine",
    [
        "django.contrib.sessions.backends.cache",
        "django.contrib.sessions.backends.cached_db",
        "django.contrib.sessions.backends.signed_cookies",
    ],
)
def test_session_engine_is_taken_as_given(engine: str) -> None:
    assert _settings_with({"DJANGO_SESSION_ENGINE": engine}, "SESSION_ENGINE") == {
        "SESSION_ENGINE": engine
    }


def test_file_sessions_take_their_folder(tmp_path: Path) -> None:
    found = _settings_with(
        {
            "DJANGO_SESSION_ENGINE": "django.contrib.sessions.backends.file",
            "DJANGO_SESSION_FILE_PATH": str(tmp_path),
        },
        "SESSION_ENGINE",
        "SESSION_FILE_PATH",
    )

    assert found == {
        "SESSION_ENGINE": "django.contrib.sessions.backends.file",
        "SESSION_FILE_PATH": str(tmp_path),
    }


def test_lists_are_comma_separated() -> None:
    found = _settings_with(
        {
            "DJANGO_SECRET_KEY": "new-key",
            "DJANGO_SECRET_KEY_FALLBACKS": "old-key, older-key,",
            "DJANGO_ALLOWED_HOSTS": "desk.example.com,127.0.0.1",
            "DJANGO_CSRF_TRUSTED_ORIGINS": "https://desk.example.com",
        },
        "SECRET_KEY",
        "SECRET_KEY_FALLBACKS",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
    )

    assert found == {
        "SECRET_KEY": "new-key",
        "SECRET_KEY_FALLBACKS": ["old-key", "older-key"],
        "ALLOWED_HOSTS": ["desk.example.com", "127.0.0.1"],
        "CSRF_TRUSTED_ORIGINS": ["https://desk.example.com"],
    }


@pytest.mark.parametrize(
    ("value", "debug"),
    [("1", True), ("true", True), ("Yes", True), ("ON", True), ("0", False), ("no", False), ("", False)],
)
def test_debug_flag(value: str, debug: bool) -> None:
    assert _settings_with({"DJANGO_DEBUG": value}, "DEBUG") == {"DEBUG": debug}


def test_media_root_can_move(tmp_path: Path) -> None:
    found = _settings_with({"DJANGO_MEDIA_ROOT": str(tmp_path)}, "MEDIA_ROOT")

    assert found == {"MEDIA_ROOT": str(tmp_path)}


def test_admin_css_is_served_with_debug_off_and_no_collectstatic(client: Client) -> None:
    response = client.get("/static/admin/css/base.css")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert b"".join(response.streaming_content)  # type: ignore[attr-defined]


def test_uploads_are_not_served_publicly(client: Client) -> None:
    assert client.get("/media/attachments/anything.txt").status_code == 404


def test_mail_goes_to_the_console_without_a_deprecation_warning() -> None:
    """Django 6.1 deprecated EMAIL_BACKEND for MAILERS; the settings name whichever the
    installed Django reads, and the subprocess runs with warnings as errors."""
    sent = subprocess.run(
        [sys.executable, "-W", "error", "-c",
         "from django.core.mail import send_mail; send_mail('Reset', 'Body', 'desk@localhost', ['alice@localhost'])"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "legacy_django.settings"},
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert "Subject: Reset" in sent.stdout
    assert "To: alice@localhost" in sent.stdout
