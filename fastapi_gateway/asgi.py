"""ASGI entrypoint: ``uvicorn fastapi_gateway.asgi:app`` (or ``python -m fastapi_gateway``).

Serves the Django project named by ``DJANGO_SETTINGS_MODULE`` with what its ``GATEWAY``
setting names (see ``fastapi_gateway.conf``): nothing of this repository's example unless the
settings ask for it.
"""

from __future__ import annotations

import gc
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from fastapi_gateway.app import create_app  # noqa: E402
from fastapi_gateway.conf import setting  # noqa: E402
from fastapi_gateway.server.gc_policy import install_gc_policy  # noqa: E402

# A served process pins itself to a CPU of its own unless the settings say otherwise.
app = create_app(cpu_affinity=True) if setting("CPU_AFFINITY") is None else create_app()

# Everything built so far (Django's apps, the Gradio pages) lives as long as the process, and so
# do the objects of each open stream for as long as it is open: full collections skip them
# (fastapi_gateway.server.gc_policy). With the policy off, what exists now is still moved out of
# the collector's reach, once.
if install_gc_policy(setting("GC_FULL_WALK_SECONDS")) is None:
    gc.collect()
    gc.freeze()
