"""The legacy site through plain ``a2wsgi`` alone: ``uvicorn bench.a2wsgi_plain:app``.

The comparison row for whatever bridge the gateway has installed: no FastAPI, no gateway
middleware, a2wsgi 1.10's ``WSGIMiddleware`` as the gateway used it before its own bridge,
with as many threads as the gateway's default ``GATEWAY_LEGACY_THREADS`` (4) so that the
two differ by the bridge and the middleware only (a2wsgi's own default is 10, measured
slower here).
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_django.settings")

from a2wsgi import WSGIMiddleware  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

app = WSGIMiddleware(get_wsgi_application(), workers=int(os.environ.get("BENCH_A2WSGI_THREADS", "4")))
