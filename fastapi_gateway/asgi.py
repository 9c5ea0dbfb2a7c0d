"""ASGI entrypoint: ``uvicorn fastapi_gateway.asgi:app``.

The one place the gateway reads its environment. The new side to mount is named by import
strings, so the same entrypoint serves another Django project's pages and routers:
``GATEWAY_API_ROUTERS="/api/v2=api_v2:router"`` and ``GATEWAY_GRADIO_PAGES="gradio_ui:PAGES"``
are the bundled project's defaults.
"""

from __future__ import annotations

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_django.settings")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import django  # noqa: E402

django.setup()

from .app import create_app  # noqa: E402
from .settings_env import cpu_affinity_from_env, gateway_kwargs_from_env  # noqa: E402

# One CPU per gateway process, claimed when it starts serving (GATEWAY_CPU_AFFINITY).
app = create_app(**gateway_kwargs_from_env(os.environ), cpu_affinity=cpu_affinity_from_env(os.environ))

# Everything built so far (Django's apps, the Gradio pages: about 250k objects) lives as long as
# the process. Moving it out of the collector's reach keeps each full collection from walking
# it, which was a tail-latency spike on every legacy request that triggered one (p99 about
# 200 -> 130 ms in bench/), and keeps pages shared after a fork.
gc.collect()
gc.freeze()
