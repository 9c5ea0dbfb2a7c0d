"""The bundled gateway with its migration console, and a staff, a regular and an anonymous client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from fastapi_gateway import create_app
from tests.gateway.conftest import client_for, login, running
from tests.gradio_protocol import fn_index_of

CONSOLE = "/ui/migration"


class Console:
    """The running app and one client per kind of visitor; ``config`` is the page's as staff see it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.admin = client_for(app)
        self.alice = client_for(app)
        self.anonymous = client_for(app)
        self.config: dict[str, Any] = {}

    def fn(self, api_name: str) -> int:
        return fn_index_of(self.config, api_name)


@pytest.fixture
async def console(demo_users: Any, demo_password: str) -> AsyncIterator[Console]:
    from api_v2 import router

    app = create_app(api_routers={"/api/v2": router}, route_poll_seconds=0.05, migration_console=CONSOLE)
    async with running(app):
        visitors = Console(app)
        async with visitors.admin, visitors.alice, visitors.anonymous:
            await login(visitors.admin, "admin", demo_password)
            await login(visitors.alice, "alice", demo_password)
            config = await visitors.admin.get(f"{CONSOLE}/config")
            assert config.status_code == 200, config.text
            visitors.config = config.json()
            yield visitors


def same_origin(client: httpx.AsyncClient) -> dict[str, str]:
    return {"Origin": str(client.base_url).rstrip("/")}
