"""Serving the gateway: the launcher (``python -m fastapi_gateway``), gunicorn's limits on
request heads for uvicorn's httptools protocol, and pinning a process to a CPU."""
