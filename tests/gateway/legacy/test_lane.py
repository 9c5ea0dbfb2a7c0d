"""Legacy URLs take the short way to Django; anything the app has claimed never does.

The lane is only worth having if it can never send a new route's request to Django: each
test here claims a path some way (a route added late, a router included late, a route added
to a router already included, a wrong method, a Gradio mount, a migrated route, a mounted
root path) and checks the claim still wins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Host, Route

from fastapi_gateway import create_app
from fastapi_gateway.legacy import lane as legacy_lane
from fastapi_gateway.migrated_route import MigratedRoute
from fastapi_gateway.identity.user_middleware import DjangoUserMiddleware

from tests.gateway.conftest import BASE_URL, record_paths, serve
from tests.gateway.pages.gradio_pages import PROBE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def inner_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths that reached the innermost gateway middleware (the new side's user lookup)."""
    return record_paths(monkeypatch, DjangoUserMiddleware)


async def test_a_legacy_url_goes_to_django_without_the_new_side_layers(
    gateway: httpx.AsyncClient, inner_calls: list[str]
) -> None:
    login_form = await gateway.get("/accounts/login/")
    assert login_form.status_code == 200 and "csrfmiddlewaretoken" in login_form.text
    missing = await gateway.get("/no/such/page/")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert inner_calls == []
    # The new side still gets the whole stack.
    assert (await gateway.get("/api/v2/me")).status_code == 401
    assert inner_calls == ["/api/v2/me"]


async def test_a_route_added_while_serving_is_served_by_it_not_by_django() -> None:
    app = create_app()
    async with serve(app) as client:
        assert (await client.get("/late")).status_code == 404  # Django's, and remembered as legacy

        async def late(request: Request) -> JSONResponse:
            return JSONResponse({"served": "late route"})

        late_router = APIRouter()

        @late_router.get("/later/{name}")
        async def later(name: str) -> dict[str, str]:
            return {"served": name}

        # Ahead of the catch-all mount, as a router must be to be reached at all.
        app.router.routes.insert(-1, Route("/late", late))
        app.router.routes.insert(-1, APIRoute("/later/{name}", later))
        assert (await client.get("/late")).json() == {"served": "late route"}
        assert (await client.get("/later/x")).json() == {"served": "x"}


async def test_a_route_added_to_an_included_router_is_honoured_within_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    router = APIRouter()
    app = create_app()
    app.include_router(router)  # at the root: no prefix announces its paths
    app.router.routes.insert(-1, app.router.routes.pop())  # ahead of the catch-all mount
    async with serve(app) as client:
        assert (await client.get("/grown")).status_code == 404  # remembered as legacy

        @router.get("/grown")
        async def grown() -> dict[str, str]:
            return {"served": "grown"}

        monkeypatch.setattr(legacy_lane, "_DECISIONS_TTL", 0.0)  # the second has passed
        assert (await client.get("/grown")).json() == {"served": "grown"}


async def test_a_host_route_is_asked_on_every_request(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["localhost", "admin.localhost"]

    async def admin_site(request: Request) -> JSONResponse:
        return JSONResponse({"served": "admin host"})

    app = create_app()
    app.router.routes.insert(-1, Host("admin.localhost", Route("/", admin_site)))
    async with serve(app) as client:
        assert (await client.get("/", headers={"Host": "localhost"})).status_code in (200, 302)  # Django's
        answer = await client.get("/", headers={"Host": "admin.localhost"})
        assert answer.json() == {"served": "admin host"}


async def test_a_wrong_method_on_a_gateway_route_goes_where_the_router_sends_it(gateway: httpx.AsyncClient) -> None:
    # The router passes over a route whose method does not match; the catch-all takes it.
    response = await gateway.post("/metrics")  # a GET route of the gateway's own router
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]  # Django's page, as without the lane


async def test_a_gradio_page_without_its_slash_is_still_the_gateways(gateway_factory: Callable[..., Any]) -> None:
    async with gateway_factory(gradio_pages=[PROBE]) as client:
        response = await client.get("/ui/probe", follow_redirects=False)
        assert response.status_code == 307
        assert response.headers["location"].endswith("/ui/probe/")
        assert (await client.get("/ui/probe/config")).status_code == 401  # Gradio's, behind the login


async def test_a_migrated_route_keeps_the_route_table(
    gateway_factory: Callable[..., Any], inner_calls: list[str]
) -> None:
    route = MigratedRoute(name="ticket-list", legacy="/tickets/", new="/api/v2/tickets")
    async with gateway_factory(migrated_routes=[route]) as client:
        response = await client.get("/tickets/", follow_redirects=False)
        assert response.status_code == 302  # Django's login redirect: served by legacy
        assert response.headers["x-served-by"] == "legacy"
        assert inner_calls == []  # the legacy side of a route is called directly too


async def test_routes_are_matched_below_the_root_path() -> None:
    app = create_app()
    async with serve(app):
        transport = httpx.ASGITransport(app=app, root_path="/site")
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            health = await client.get("/site/healthz")
            assert health.status_code == 200 and health.json() == {"status": "ok"}


async def test_a_preflight_to_a_legacy_url_is_answered_by_django(gateway: httpx.AsyncClient) -> None:
    preflight = await gateway.options(
        "/accounts/login/", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    # Django's own answer to OPTIONS, as before the gateway; no origin is let in.
    assert preflight.status_code == 200
    assert "GET" in preflight.headers["allow"]
    assert "access-control-allow-origin" not in preflight.headers
