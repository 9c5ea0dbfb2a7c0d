"""Where ``create_app`` puts the console: at GATEWAY["MIGRATION_CONSOLE"], when routes are declared.

Async tests: Gradio's queue wants the running event loop of the app that mounts it."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Mount

from fastapi_gateway import GradioPage, create_app
from fastapi_gateway.exceptions import GatewayConfigurationError
from migration_plan.routes import ROUTES
from tests.gateway.pages.gradio_pages import probe_page


def _mounts(app: Any) -> list[str]:
    return [route.path for route in app.routes if isinstance(route, Mount) and route.path != ""]


async def test_the_default_path_when_routes_are_declared(settings: Any) -> None:
    settings.GATEWAY = {key: value for key, value in settings.GATEWAY.items() if key != "MIGRATION_CONSOLE"}
    app = create_app(api_routers={}, gradio_pages=[])
    assert "/ui/migration" in _mounts(app)


async def test_a_path_of_the_projects_choosing() -> None:
    app = create_app(api_routers={}, gradio_pages=[], migration_console="/ops/routes/")
    assert _mounts(app) == ["/ops/routes"]


@pytest.mark.parametrize("options", [{"migration_console": None}, {"migrated_routes": ()}])
async def test_no_console_when_switched_off_or_nothing_is_migrated(options: dict[str, Any]) -> None:
    app = create_app(api_routers={}, gradio_pages=[], **{"migration_console": "/ui/migration", "migrated_routes": ROUTES, **options})
    assert _mounts(app) == []


async def test_a_page_already_on_the_consoles_path_is_a_configuration_error() -> None:
    with pytest.raises(GatewayConfigurationError, match="where the migration console goes"):
        create_app(api_routers={}, gradio_pages=[GradioPage("/ui/migration", "Mine", probe_page)], migration_console="/ui/migration")
