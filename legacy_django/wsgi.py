"""WSGI entrypoint (``gunicorn legacy_django.wsgi``): the site keeps working without the gateway."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_django.settings")

application = get_wsgi_application()
