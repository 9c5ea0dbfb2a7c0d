"""Tiny WSGI apps for a real gunicorn and a real uvicorn to serve side by side.

``echo`` answers with the ``SCRIPT_NAME`` and ``PATH_INFO`` it was given; ``blocks`` makes
``b"first"``, then works for ``SLOW_SECONDS`` before ``b"second"``, in the way its path names.
``bridged_*`` are the same apps behind the gateway's bridge (``legacy_asgi_app``, which reads
``SCRIPT_NAME`` from the environment as gunicorn does).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from fastapi_gateway.legacy.mount import legacy_asgi_app

SLOW_SECONDS = 1.5

StartResponse = Callable[..., Any]


def echo(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    body = json.dumps({key: environ[key] for key in ("SCRIPT_NAME", "PATH_INFO")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _first_then_second() -> Iterator[bytes]:
    yield b"first"
    time.sleep(SLOW_SECONDS)
    yield b"second"


def blocks(environ: dict[str, Any], start_response: StartResponse) -> Any:
    kind = environ["PATH_INFO"]
    length = [("Content-Length", "11")] if kind in ("/generator-with-length", "/write") else []
    write = start_response("200 OK", [("Content-Type", "text/plain"), *length])
    if kind == "/write":
        write(b"first")
        time.sleep(SLOW_SECONDS)
        return [b"second"]
    return _first_then_second()


bridged_echo = legacy_asgi_app(echo)
bridged_blocks = legacy_asgi_app(blocks)
