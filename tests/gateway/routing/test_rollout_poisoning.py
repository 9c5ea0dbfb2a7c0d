"""A client cannot steer a rollout: the attacks of the outside pass on the route numbers.

Each test performs the attack against the real gateway and fails if its defence goes:
a made-up session cookie chooses no side; answers to no verified identity never reach the
gates; an upload's time is not the side's latency; a client that leaves mid-body is nobody's
error; hostile paths and patterns cannot stop or swell the numbers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.test import override_settings
from django.utils import timezone
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from fastapi_gateway.orm import run_orm
from fastapi_gateway.routing import MigratedRoute
from fastapi_gateway.routing.canary import in_canary
from fastapi_gateway.routing.models import TrafficSample
from fastapi_gateway.routing.traffic import RECORDER, UNRESOLVED, UNVERIFIED, TrafficRecorder, pattern_counts, route_numbers
from tests.gateway.conftest import login

from .conftest import Gateway

pytestmark = pytest.mark.django_db(transaction=True)


def _forged_cookie_in_canary(route: str, percent: int) -> str:
    index = 0
    while not in_canary(route, f"session:forged{index}", percent):
        index += 1
    return f"forged{index}"


async def _raw(app: Any, path: str, receive: Any, *, method: str = "GET", headers: tuple[tuple[bytes, bytes], ...] = ()) -> Any:
    """One request on the ASGI interface itself, to send what no HTTP client library sends."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers], "client": ("203.0.113.9", 4444), "server": ("testserver", 80),
    }
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return next((message["status"] for message in sent if message["type"] == "http.response.start"), None)


async def test_a_made_up_session_cookie_chooses_no_side(gateway: Gateway, alice_on: httpx.AsyncClient) -> None:
    await gateway.flip("api-tickets", "canary", percent=50)
    cookie = _forged_cookie_in_canary("api-tickets", 50)  # would be in the canary, were it a session
    async with gateway.client() as anonymous:
        anonymous.cookies.set("sessionid", cookie)
        assert (await anonymous.get("/api/tickets/")).headers["x-served-by"] == "legacy"
    await gateway.flip("api-tickets", "canary", percent=100)
    assert (await alice_on.get("/api/tickets/")).headers["x-served-by"] == "new"  # a real user is


def _broken_for_users() -> APIRouter:
    router = APIRouter()

    @router.get("/tickets")
    async def tickets(request: Request) -> JSONResponse:
        user = request.scope.get("user")
        if user is not None and user.is_authenticated:
            return JSONResponse({"detail": "boom"}, status_code=500)  # broken for every real user
        return JSONResponse({"detail": "login"}, status_code=401)  # fine-looking to anonymous clients

    return router


async def test_a_flood_of_anonymous_answers_never_reaches_the_gates(gateway_with: Any, demo_password: str) -> None:
    broken = MigratedRoute(name="broken", legacy="/api/tickets/", new="/broken/tickets")
    async with gateway_with(broken, api_routers={"/broken": _broken_for_users()}) as gateway:
        await gateway.flip("broken", "new")
        RECORDER.take()
        since = timezone.now()
        async with gateway.client() as anonymous:
            anonymous.cookies.set("sessionid", "forged")
            for _ in range(200):
                response = await anonymous.get("/api/tickets/")
                assert (response.status_code, response.headers["x-served-by"]) == (401, "new")
        async with gateway.client() as alice:
            await login(alice, "alice", demo_password)
            for _ in range(5):
                assert (await alice.get("/api/tickets/")).headers["x-served-by"] == "legacy"  # fell back
        await run_orm(RECORDER.flush)
        sides = (await run_orm(route_numbers, since))["broken"]
    assert sides["new"].requests == 0 and sides["new"].fallback_rate == 1.0  # what the gates read: all failed
    assert sides[UNVERIFIED].requests == 200  # shown apart


async def test_an_upload_s_time_is_not_the_side_s_latency(gateway: Gateway, alice_on: httpx.AsyncClient) -> None:
    await gateway.flip("api-tickets", "new")
    RECORDER.take()
    await alice_on.get("/api/tickets/")
    await alice_on.request("GET", "/api/tickets/", content=b"x" * 10)  # a GET with a body
    routes, _ = RECORDER.take()
    new = routes[("api-tickets", "new")]
    assert new.requests == 2 and sum(new.latency.values()) == 1


async def test_a_client_that_leaves_mid_body_is_nobody_s_error(gateway: Gateway) -> None:
    await gateway.flip("api-tickets", "new")
    RECORDER.take()

    async def gone() -> dict[str, str]:
        return {"type": "http.disconnect"}

    for method in ("GET", "POST"):
        assert await _raw(gateway.app, "/api/tickets/", gone, method=method, headers=((b"content-length", b"10"),)) is None
    routes, _ = RECORDER.take()
    assert all(numbers.errors == 0 for numbers in routes.values()), routes


def test_long_paths_and_patterns_are_counted_without_stopping_a_write(db: None) -> None:
    recorder = TrafficRecorder(source="x:1")
    recorder.request("r", "new", 200, 0.01)
    recorder.path("/" + "a" * 5000, "legacy")  # past the length a process keeps
    with override_settings(ROOT_URLCONF="tests.gateway.routing.long_urls"):
        from tests.gateway.routing.long_urls import URLS

        for url in URLS:  # two patterns of 306 characters, alike in their first 255
            recorder.path(url, "legacy")
        recorder.flush()
        recorder.path(URLS[0], "legacy")
        recorder.flush()  # the second write of the bucket finds the cut pattern's row
    counts = pattern_counts()
    assert counts[UNRESOLVED]["legacy"] == 1
    assert max(len(pattern) for pattern in counts) == 255 and sum(c["legacy"] for p, c in counts.items() if len(p) == 255) == 3
    assert route_numbers(timezone.now() - timedelta(minutes=1))["r"]["new"].requests == 1
    assert TrafficSample.objects.filter(route="r").count() == 1


def test_a_path_that_looks_like_the_overflow_marker_is_just_a_path(db: None) -> None:
    recorder = TrafficRecorder(source="x:1")
    recorder.path("\x00overflow", "legacy")
    recorder.flush()
    assert UNRESOLVED not in pattern_counts()


def test_a_path_in_another_language_counts_for_its_pattern(db: None, settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.gateway.routing.i18n_urls"
    settings.USE_I18N = True
    settings.LANGUAGES = [("en", "English"), ("fr", "French")]
    settings.LANGUAGE_CODE = "en"
    recorder = TrafficRecorder(source="x:1")
    for path in ("/en/about/", "/fr/about/", "/fr/about/"):
        recorder.path(path, "legacy")
    recorder.flush()
    counts = pattern_counts()
    assert counts["en/about/"]["legacy"] == 1 and counts["fr/about/"]["legacy"] == 2
    assert "<404>" not in counts
