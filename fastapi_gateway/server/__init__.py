"""Serving the gateway: the launcher (``python -m fastapi_gateway``) with its supervisor and
workers (signals, graceful stops, rolling restarts), the probes (``/healthz``, ``/readyz``)
and the moment shutdown begins, gunicorn's limits on request heads, and pinning a process to
a CPU."""
