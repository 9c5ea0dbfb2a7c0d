"""Django's own ASGI entrypoint, for serving the project alone under an ASGI server."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_django.settings")

application = get_asgi_application()
