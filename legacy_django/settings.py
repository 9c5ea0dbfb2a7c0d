"""Settings of the support desk.

The environment is read here and nowhere else, so gunicorn, the gateway and the
management commands all run the same configuration.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import dj_database_url
import django

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE_WORDS


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Security ------------------------------------------------------------------

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or (
    "django-insecure-development-only-key-set-DJANGO_SECRET_KEY-in-production"
)
SECRET_KEY_FALLBACKS = _env_list("DJANGO_SECRET_KEY_FALLBACKS")
DEBUG = _env_flag("DJANGO_DEBUG")
ALLOWED_HOSTS = _env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = _env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# Application ---------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "legacy_django.tickets",
    # The gateway's route table (states, audit trail, shadow diffs), visible in the admin.
    "fastapi_gateway",
]

MIDDLEWARE = [
    # Redis down must not log everyone out: 503, and the session cookie kept (see its docstring).
    "fastapi_gateway.legacy.outage.SessionOutageMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "legacy_django.urls"
WSGI_APPLICATION = "legacy_django.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "legacy_django" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Data ----------------------------------------------------------------------

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=0,
    ),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes write to the embedded database (the gateway's workers each write their
    # route numbers every few seconds): a transaction takes the write lock when it begins
    # instead of failing "database is locked" when a read turns into a write, waits up to 20 s
    # for it, and readers do not wait for the writer (WAL). Django's own advice for SQLite.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        transaction_mode="IMMEDIATE", timeout=20, init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if os.environ.get("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
        },
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

SESSION_ENGINE = os.environ.get("DJANGO_SESSION_ENGINE") or "django.contrib.sessions.backends.db"
if os.environ.get("DJANGO_SESSION_FILE_PATH"):
    SESSION_FILE_PATH = os.environ["DJANGO_SESSION_FILE_PATH"]

# Authentication ------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/tickets/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Password-reset mails go to stderr: the demo has no mail server to talk to. Django 6.1
# replaced the EMAIL_* settings with MAILERS (and warns about the old ones).
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# Internationalisation ------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files and uploads --------------------------------------------------

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "legacy_django" / "static"]  # the site's own look (site/nav.css)
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves the apps' static files straight from the finders, so the admin
# has its CSS under gunicorn and the gateway with DEBUG off and no collectstatic run.
WHITENOISE_USE_FINDERS = True
# WhiteNoise warns at start-up when STATIC_ROOT is missing, as it is in a fresh
# clone; an empty one is the honest state, so create it rather than hide the warning.
with contextlib.suppress(OSError):  # read-only install: the warning is all it costs
    STATIC_ROOT.mkdir(exist_ok=True)

# Uploads are not served under MEDIA_URL: attachments go out only through the
# ticket attachment view, which checks who is asking.
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT") or BASE_DIR / "media")
MEDIA_URL = "/media/"

# Logging -------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"outage": {"()": "fastapi_gateway.legacy.outage.OutageLogFilter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler"}, "null": {"class": "logging.NullHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {
        # An unreachable database is one line per request, not a traceback (the answer is a 503).
        "django.request": {"filters": ["outage"]},
        # A foreign Host is answered 400 and counted in the access log; as Django's docs
        # suggest, not a traceback each time a scanner tries one.
        "django.security.DisallowedHost": {"handlers": ["null"], "propagate": False},
    },
}

# The gateway (fastapi_gateway) ---------------------------------------------
# What it mounts beside this site, and the legacy URLs that have a new implementation
# (declared in code; their states live in the database). Every other key keeps its default;
# operators tune the deployment keys with GATEWAY_* environment variables.
GATEWAY = {
    "API_ROUTERS": {"/api/v2": "api_v2:router"},
    "PAGES": ["gradio_ui:PAGES"],
    "ROUTES": "migration_plan.routes:ROUTES",
    # The Gradio pages wear the site's own header and look: "Tickets · Support desk".
    "PAGE_TEMPLATE": "nav.html",
    "PAGE_STYLESHEET": "site/nav.css",
    "PAGE_TITLE": "{title} · Support desk",
}
