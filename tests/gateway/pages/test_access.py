"""A page's own rule (``staff_only``, ``permission``), enforced by the guard on every route under it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from django.contrib.auth import get_user_model
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fastapi_gateway import GradioPage, create_app
from fastapi_gateway.exceptions import GatewayConfigurationError
from fastapi_gateway.pages.access import PageAccess, page_access
from tests.gateway.conftest import BASE_URL, client_for, login, running
from tests.gradio_protocol import ENDED, HeldHeartbeat, fn_index_of, run_event

from .gradio_pages import probe_page

pytestmark = pytest.mark.django_db(transaction=True)

MOUNT = "/ui/probe"
SAME_ORIGIN = {"Origin": BASE_URL}
# Each route family a page is reached by: the page, its config and API, the queue, uploads, files.
EVERY_FAMILY = [
    ("GET", "/", None),
    ("GET", "/config", None),
    ("GET", "/gradio_api/info", None),
    ("POST", "/gradio_api/queue/join", {"data": [], "fn_index": 0, "session_hash": "abcdef123456"}),
    ("GET", "/gradio_api/queue/data?session_hash=abcdef123456", None),
    ("GET", "/gradio_api/heartbeat/abcdef123456", None),
    ("POST", "/gradio_api/run/whoami", {"data": [], "session_hash": "abcdef123456"}),
    ("POST", "/gradio_api/call/whoami", {"data": []}),
    ("POST", "/gradio_api/cancel", {"session_hash": "abcdef123456", "fn_index": 0, "event_id": "e"}),
    ("POST", "/gradio_api/upload", None),
    ("GET", "/gradio_api/file=/etc/hostname", None),
    ("GET", "/extra/report", None),
]


async def _report(request: Request) -> JSONResponse:
    return JSONResponse({"report": "for the page's users only"})


EXTRA_ROUTE = Route(f"{MOUNT}/extra/report", _report)


class Clients:
    def __init__(self, app: Any) -> None:
        self.app, self.admin, self.alice, self.bob = app, client_for(app), client_for(app), client_for(app)


@pytest.fixture
def gateway_with_page(demo_users: Any, demo_password: str) -> Callable[..., Any]:
    """``async with gateway_with_page(staff_only=..., permission=...) as clients:`` (admin, alice, bob)."""

    @asynccontextmanager
    async def start(**rule: Any) -> AsyncIterator[Clients]:
        page = GradioPage(MOUNT, "Probe", probe_page, routes=(EXTRA_ROUTE,), **rule)
        async with running(create_app(gradio_pages=[page], stream_recheck_seconds=0.2)) as app:
            clients = Clients(app)
            async with clients.admin, clients.alice, clients.bob:
                for name in ("admin", "alice", "bob"):
                    await login(getattr(clients, name), name, demo_password)
                yield clients

    return start


async def _statuses(client: httpx.AsyncClient) -> dict[str, int]:
    statuses = {}
    for method, path, body in EVERY_FAMILY:
        response = await client.request(method, MOUNT + path, json=body, headers=SAME_ORIGIN)
        statuses[f"{method} {path}"] = response.status_code
    return statuses


async def test_staff_only_refuses_everyone_else_on_every_route(gateway_with_page: Callable[..., Any]) -> None:
    async with gateway_with_page(staff_only=True) as clients:
        refused = await _statuses(clients.alice)
        assert set(refused.values()) == {403}, refused
        config = (await clients.admin.get(f"{MOUNT}/config")).json()
        completed = await run_event(clients.admin, MOUNT, fn_index_of(config, "whoami"), [])
        assert completed["output"]["data"] == ["Signed in as admin"]
        assert (await clients.admin.get(f"{MOUNT}/extra/report")).json() == {"report": "for the page's users only"}


async def test_a_permission_decides_who_may_use_the_page(gateway_with_page: Callable[..., Any]) -> None:
    async with gateway_with_page(permission=lambda user: user.get_username() == "bob") as clients:
        assert set((await _statuses(clients.alice)).values()) == {403}
        assert set((await _statuses(clients.admin)).values()) == {403}, "staff get no pass a permission does not give"
        assert (await clients.bob.get(f"{MOUNT}/config")).status_code == 200


@pytest.mark.parametrize("permission", [lambda user: 1 / 0, lambda user: "yes", lambda user: None])
async def test_a_permission_that_cannot_decide_refuses(gateway_with_page: Callable[..., Any], permission: Any) -> None:
    async with gateway_with_page(permission=permission) as clients:
        assert (await clients.admin.get(f"{MOUNT}/config")).status_code == 403


async def test_a_permission_may_use_the_orm(gateway_with_page: Callable[..., Any]) -> None:
    """Django's ``has_perm`` reads the database: the guard calls it off the event loop."""
    async with gateway_with_page(permission=lambda user: user.has_perm("auth.view_user")) as clients:
        assert (await clients.admin.get(f"{MOUNT}/config")).status_code == 200  # a superuser
        assert (await clients.alice.get(f"{MOUNT}/config")).status_code == 403


async def test_a_browser_refused_the_page_gets_a_page_saying_so(gateway_with_page: Callable[..., Any]) -> None:
    async with gateway_with_page(staff_only=True) as clients:
        response = await clients.alice.get(f"{MOUNT}/", headers={"Accept": "text/html"})
        assert response.status_code == 403
        assert "not open to your account" in response.text
        anonymous = await client_for(clients.app).get(f"{MOUNT}/", headers={"Accept": "text/html"})
        assert anonymous.status_code == 302, "signed out: the login first, as on every page"


async def test_losing_staff_ends_an_open_stream(gateway_with_page: Callable[..., Any]) -> None:
    async with gateway_with_page(staff_only=True) as clients:
        stream = await HeldHeartbeat(clients.app, MOUNT, clients.admin.cookies).started()
        assert not stream.task.done()
        await get_user_model()._default_manager.filter(username="admin").aupdate(is_staff=False)
        try:
            await asyncio.wait_for(stream.task, timeout=5)
        finally:
            stream.leave()
        assert stream.messages[-1] == ENDED


def test_the_rule_of_a_page_object() -> None:
    assert not page_access(object()).restricted, "a page without a rule is every signed-in user's"
    assert page_access(GradioPage(MOUNT, "Probe", probe_page, staff_only=True)) == PageAccess(staff_only=True)
    named = page_access(GradioPage(MOUNT, "Probe", probe_page, permission="django.contrib.auth.models:AnonymousUser"))
    assert named.permission is not None


@pytest.mark.parametrize(
    "rule",
    [{"staff_only": "yes"}, {"permission": 42}, {"routes": (Route("/elsewhere", _report),)},
     {"routes": (Route(f"{MOUNT}-other/x", _report),)}],
)
def test_a_bad_rule_is_refused_where_the_page_is_declared(rule: dict[str, Any]) -> None:
    with pytest.raises(GatewayConfigurationError):
        GradioPage(MOUNT, "Probe", probe_page, **rule)


def test_inactive_or_anonymous_users_never_pass() -> None:
    from django.contrib.auth.models import AnonymousUser

    class Former:
        is_authenticated, is_active, is_staff = True, False, True

    assert not PageAccess(staff_only=True).allows(Former())
    assert not PageAccess().allows(AnonymousUser())
