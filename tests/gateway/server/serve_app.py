"""A tiny ASGI app for ``test_serve.py``, run by the launcher in its own worker processes.

``/pid`` answers with the worker's process id. ``/hold`` writes ``held-<pid>`` in
``$SERVE_TEST_DIR`` and keeps its response back, without blocking the event loop, until a file
named ``release`` appears there: a worker that is busy, yet free to accept, as far as asyncio
goes.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from starlette.types import Receive, Scope, Send


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    pid = str(os.getpid())
    if scope["path"] == "/hold":
        directory = Path(os.environ["SERVE_TEST_DIR"])
        (directory / f"held-{pid}").touch()
        while not (directory / "release").exists():
            await asyncio.sleep(0.01)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": pid.encode()})
