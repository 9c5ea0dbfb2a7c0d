"""ASGI entrypoint: ``uvicorn fastapi_gateway.asgi:app``.

The one place the gateway reads its environment. The new side to mount is named by import
strings, so the same entrypoint serves another Django project's pages and routers:
``GATEWAY_API_ROUTERS="/api/v2=api_v2:router"`` and ``GATEWAY_GRADIO_PAGES="gradio_ui:PAGES"``
are the bundled project's defaults.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_django.settings")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import django  # noqa: E402

django.setup()

from .app import create_app  # noqa: E402
from .settings_env import gateway_kwargs_from_env  # noqa: E402

app = create_app(**gateway_kwargs_from_env(os.environ))
