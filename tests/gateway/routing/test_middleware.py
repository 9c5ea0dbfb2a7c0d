"""Each route state end to end through the gateway, and every way the new side can fail."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, ContextManager

import httpx
import pytest
from django.contrib.auth.models import AbstractUser
from prometheus_client import REGISTRY

from fastapi_gateway.routing import MigratedRoute
from fastapi_gateway.routing.middleware import RoutingMiddleware
from fastapi_gateway.routing.models import ShadowMismatch
from legacy_django.tickets.models import Ticket
from tests.gateway.conftest import login, record_paths

from .conftest import CALLS, FAULTY_ROUTES, Gateway

pytestmark = pytest.mark.django_db(transaction=True)

FAULTY = {route.name: route for route in FAULTY_ROUTES}


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_legacy_is_the_default(gateway: Gateway, alice_on: httpx.AsyncClient) -> None:
    response = await alice_on.get("/api/tickets/")
    assert response.status_code == 200
    assert response.headers["x-served-by"] == "legacy"
    assert {t["owner"] for t in response.json()} == {"alice"}
    # Unmigrated URLs are not tagged: they are not routed.
    assert "x-served-by" not in (await alice_on.get("/tickets/new/")).headers


async def test_a_route_settled_on_legacy_skips_the_route_table_yet_is_tagged_and_counted(
    gateway: Gateway, alice_on: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    reached = record_paths(monkeypatch, RoutingMiddleware)
    counted = metric("gateway_route_requests_total", route="api-tickets", side="legacy", status="2xx")
    response = await alice_on.get("/api/tickets/")
    assert response.status_code == 200 and response.headers["x-served-by"] == "legacy"
    assert metric("gateway_route_requests_total", route="api-tickets", side="legacy", status="2xx") == counted + 1
    assert reached == []  # the legacy lane served it: nothing for the route table to decide

    await gateway.flip("api-tickets", "shadow")  # now the table has work to do on every GET
    response = await alice_on.get("/api/tickets/")
    assert response.headers["x-served-by"] == "legacy"
    assert reached == ["/api/tickets/"]
    await gateway.flip("api-tickets", "legacy")
    await alice_on.get("/api/tickets/")
    assert reached == ["/api/tickets/"]
    assert metric("gateway_route_requests_total", route="api-tickets", side="legacy", status="2xx") == counted + 3


async def test_new_serves_the_same_json_contract(gateway: Gateway, alice_on: httpx.AsyncClient, alice: AbstractUser) -> None:
    legacy_list = (await alice_on.get("/api/tickets/?status=open")).json()
    ticket = await Ticket.objects.filter(owner=alice).afirst()
    assert ticket is not None
    legacy_detail = (await alice_on.get(f"/api/tickets/{ticket.pk}/")).json()
    await gateway.flip("api-tickets", "new")
    await gateway.flip("api-ticket-detail", "new")
    new_list = await alice_on.get("/api/tickets/?status=open")
    assert new_list.headers["x-served-by"] == "new"
    assert new_list.json() == legacy_list
    new_detail = await alice_on.get(f"/api/tickets/{ticket.pk}/")
    assert new_detail.headers["x-served-by"] == "new" and new_detail.json() == legacy_detail
    # Same permission rules on the new side: bob's ticket is 404, anonymous is 401.
    bobs = await Ticket.objects.exclude(owner=alice).afirst()
    assert bobs is not None
    assert (await alice_on.get(f"/api/tickets/{bobs.pk}/")).status_code == 404
    async with gateway.client() as anonymous:
        assert (await anonymous.get("/api/tickets/")).status_code == 401


async def test_the_old_url_keeps_its_whole_list_when_the_new_side_pages(
    gateway: Gateway, alice_on: httpx.AsyncClient, alice: AbstractUser
) -> None:
    """``/api/v2/tickets`` pages by default; served for the legacy ``/api/tickets/`` it answers
    the legacy contract, every ticket in one list, so old clients notice nothing; asked for a
    page, the next page's link stays on the old URL."""
    from api_v2.routes import DEFAULT_PAGE_SIZE

    await Ticket.objects.abulk_create(Ticket(title=f"many {n}", owner=alice) for n in range(DEFAULT_PAGE_SIZE + 5))
    legacy_list = (await alice_on.get("/api/tickets/")).json()
    assert len(legacy_list) == DEFAULT_PAGE_SIZE + 14
    await gateway.flip("api-tickets", "new")
    served = await alice_on.get("/api/tickets/")
    assert served.headers["x-served-by"] == "new"
    assert served.json() == legacy_list and "link" not in served.headers
    direct = await alice_on.get("/api/v2/tickets")
    assert direct.json() == legacy_list[:DEFAULT_PAGE_SIZE] and 'rel="next"' in direct.headers["link"]
    paged = await alice_on.get("/api/tickets/?limit=10")
    assert paged.json() == legacy_list[:10]
    assert paged.headers["link"].startswith("</api/tickets/?limit=10&cursor=")


async def test_a_moved_route_stays_below_the_root_path(gateway: Gateway, alice_on: httpx.AsyncClient) -> None:
    """Served below a root path (``uvicorn --root-path /site``), a redirect names the new URL
    below it, and the new side is reached there (not outside the site)."""
    transport = httpx.ASGITransport(app=gateway.app, root_path="/site", client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=str(alice_on.base_url), cookies=alice_on.cookies) as site:
        await gateway.flip("tickets-page", "redirect")
        moved = await site.get("/site/tickets/?status=open")
        assert moved.status_code == 302 and moved.headers["location"] == "/site/ui/tickets/?status=open"
        legacy_list = (await site.get("/site/api/tickets/")).json()
        await gateway.flip("api-tickets", "new")
        served = await site.get("/site/api/tickets/")
        assert served.status_code == 200 and served.headers["x-served-by"] == "new"
        assert served.json() == legacy_list


async def test_redirect_keeps_the_query(gateway: Gateway, alice_on: httpx.AsyncClient) -> None:
    await gateway.flip("tickets-page", "redirect")
    response = await alice_on.get("/tickets/?status=open&page=2")
    assert response.status_code == 302
    assert response.headers["location"] == "/ui/tickets/?status=open&page=2"
    assert response.headers["x-served-by"] == "new"
    # A page route in "new" (or a canary's new side) reaches the page by redirect too.
    await gateway.flip("tickets-page", "new")
    assert (await alice_on.get("/tickets/")).headers["location"] == "/ui/tickets/"
    # Rolled back: Django's list page again.
    await gateway.flip("tickets-page", "legacy")
    page = await alice_on.get("/tickets/")
    assert page.status_code == 200 and page.headers["x-served-by"] == "legacy"


async def test_the_classic_page_stays_reachable_until_the_route_is_new(gateway: Gateway, alice_on: httpx.AsyncClient) -> None:
    await gateway.flip("tickets-page", "redirect")
    classic = await alice_on.get("/tickets/?classic=1")
    assert (classic.status_code, classic.headers["x-served-by"]) == (200, "legacy")
    assert "gateway_classic=tickets-page" in classic.headers["set-cookie"] and "HttpOnly" in classic.headers["set-cookie"]
    # The choice is kept while the visitor moves around the classic page (a filter link).
    filtered = await alice_on.get("/tickets/?status=open")
    assert (filtered.status_code, filtered.headers["x-served-by"]) == (200, "legacy")
    # ?classic=0 gives the choice up: the new page again.
    back = await alice_on.get("/tickets/?classic=0")
    assert back.status_code == 302 and back.headers["location"].startswith("/ui/tickets/")
    assert "Max-Age=0" in back.headers["set-cookie"]
    assert (await alice_on.get("/tickets/")).status_code == 302
    # Once the route is new the classic page is retired: the choice no longer holds.
    await alice_on.get("/tickets/?classic=1")
    await gateway.flip("tickets-page", "new")
    retired = await alice_on.get("/tickets/?classic=1")
    assert retired.status_code == 302 and retired.headers["x-served-by"] == "new"


async def test_a_malformed_classic_cookie_is_no_choice(gateway: Gateway, alice_on: httpx.AsyncClient) -> None:
    await gateway.flip("tickets-page", "redirect")
    alice_on.headers["cookie"] = 'gateway_classic="\\x00; ;;=='
    response = await alice_on.get("/tickets/")
    assert response.status_code == 302


async def test_methods_that_may_not_move_stay_on_legacy(gateway: Gateway, alice_on: httpx.AsyncClient) -> None:
    await gateway.flip("api-tickets", "new")
    response = await alice_on.post("/api/tickets/", json={})
    assert response.status_code == 405  # the legacy API's answer, not the new API's POST
    assert response.headers["x-served-by"] == "legacy"


async def test_canary_is_sticky_per_user(gateway: Gateway, demo_password: str) -> None:
    await gateway.flip("api-tickets", "canary", percent=50)
    sides: dict[str, set[str]] = {}
    for username in ("alice", "bob", "admin"):
        async with gateway.client() as client:
            await login(client, username, demo_password)
            sides[username] = {(await client.get("/api/tickets/")).headers["x-served-by"] for _ in range(5)}
            # A new login (new session, same user) lands on the same side.
            await client.post("/accounts/logout/", data={"csrfmiddlewaretoken": client.cookies["csrftoken"]}, headers={"Referer": "http://testserver/"})
            await login(client, username, demo_password)
            sides[username].add((await client.get("/api/tickets/")).headers["x-served-by"])
    assert all(len(seen) == 1 for seen in sides.values()), sides
    await gateway.flip("api-tickets", "canary", percent=100)
    async with gateway.client() as client:
        await login(client, "alice", demo_password)
        assert (await client.get("/api/tickets/")).headers["x-served-by"] == "new"
    await gateway.flip("api-tickets", "canary", percent=0)
    async with gateway.client() as client:
        await login(client, "alice", demo_password)
        assert (await client.get("/api/tickets/")).headers["x-served-by"] == "legacy"


@pytest.mark.parametrize("name", ["raises", "five-hundred", "hangs"])
async def test_failing_new_side_falls_back_to_legacy(gateway_with: Any, demo_password: str, name: str) -> None:
    async with gateway_with(FAULTY[name]) as gateway:
        await gateway.flip(name, "new")
        reason = {"raises": "exception", "five-hundred": "status", "hangs": "timeout"}[name]
        before = metric("gateway_route_fallbacks_total", route=name, reason=reason)
        async with gateway.client() as client:
            await login(client, "alice", demo_password)
            response = await client.get("/api/tickets/")
        assert response.status_code == 200
        assert response.headers["x-served-by"] == "legacy"
        assert {t["owner"] for t in response.json()} == {"alice"}
        assert metric("gateway_route_fallbacks_total", route=name, reason=reason) == before + 1


async def test_unsafe_methods_are_not_retried_on_legacy(gateway_with: Any, demo_password: str) -> None:
    async with gateway_with(FAULTY["raises"]) as gateway:
        await gateway.flip("raises", "new")
        async with gateway.client() as client:
            await login(client, "alice", demo_password)
            response = await client.post("/api/tickets/", json={}, headers={"Origin": "http://testserver"})
        assert response.status_code == 500 and response.headers["x-served-by"] == "new"


async def _wait_for_shadow(gateway: Gateway, count: int) -> None:
    for _ in range(200):
        if gateway.app.state.route_table and _shadow(gateway).completed >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the shadow comparison never ran")


def _bridge_admission(gateway: Gateway) -> Any:
    layer: Any = _routing(gateway).legacy
    while not hasattr(layer, "admission"):
        layer = layer.app
    return layer.admission


def _routing(gateway: Gateway) -> Any:
    from fastapi_gateway.routing.middleware import RoutingMiddleware

    stack = gateway.app.middleware_stack
    while not isinstance(stack, RoutingMiddleware):
        stack = stack.app
    return stack


def _shadow(gateway: Gateway) -> Any:
    return _routing(gateway).shadow


async def test_shadow_answers_like_legacy_and_records_mismatches(gateway_with: Any, demo_password: str) -> None:
    async with gateway_with(FAULTY["wrong"]) as gateway:
        async with gateway.client() as client:
            await login(client, "alice", demo_password)
            legacy = await client.get("/api/tickets/")
            await gateway.flip("wrong", "shadow")
            shadowed = await client.get("/api/tickets/")
            await _wait_for_shadow(gateway, 1)
        assert shadowed.status_code == legacy.status_code
        assert shadowed.content == legacy.content
        assert shadowed.headers["x-served-by"] == "legacy"
        mismatch = await ShadowMismatch.objects.aget(route="wrong")
        assert mismatch.count == 1
        paths = {d["path"] for d in mismatch.differences}
        assert "$.length" in paths
        assert "alice" not in mismatch.new_body


async def test_shadow_of_a_matching_new_side_agrees(gateway: Gateway, alice_on: httpx.AsyncClient) -> None:
    await gateway.flip("api-tickets", "shadow")
    before = metric("gateway_shadow_comparisons_total", route="api-tickets", result="agree")
    response = await alice_on.get("/api/tickets/")
    assert response.headers["x-served-by"] == "legacy"
    await _wait_for_shadow(gateway, 1)
    assert metric("gateway_shadow_comparisons_total", route="api-tickets", result="agree") == before + 1
    assert not await ShadowMismatch.objects.filter(route="api-tickets").aexists()


async def test_unsafe_methods_are_never_shadowed_unless_opted_in(gateway_with: Any, demo_password: str) -> None:
    async with gateway_with(FAULTY["wrong"]) as gateway:
        await gateway.flip("wrong", "shadow")
        calls = CALLS.get("wrong-tickets", 0)
        async with gateway.client() as client:
            await login(client, "alice", demo_password)
            await client.post("/api/tickets/", json={})
        await asyncio.sleep(0.2)
        assert CALLS.get("wrong-tickets", 0) == calls


async def test_undeclared_and_unknown_rows_are_ignored(gateway: Gateway, alice_on: httpx.AsyncClient, caplog: Any) -> None:
    from fastapi_gateway.orm import run_orm
    from fastapi_gateway.routing.models import RouteStateRecord

    await run_orm(RouteStateRecord.objects.create, name="removed-route", state="new")
    await run_orm(RouteStateRecord.objects.create, name="api-ticket-detail", state="sideways")
    await gateway.flip("api-tickets", "new")
    assert (await alice_on.get("/api/tickets/")).headers["x-served-by"] == "new"
    assert (await alice_on.get("/api/tickets/1/")).headers["x-served-by"] == "legacy"
    assert "undeclared route 'removed-route'" in caplog.text
    assert "unknown state 'sideways'" in caplog.text


async def test_flip_reaches_the_worker_within_the_poll_interval(gateway: Gateway, alice_on: httpx.AsyncClient) -> None:
    seconds = await gateway.flip("api-tickets", "new")
    assert seconds < 2
    assert (await alice_on.get("/api/tickets/")).headers["x-served-by"] == "new"


async def test_broken_new_router_leaves_the_site_working(gateway_with: Any, demo_password: str, caplog: Any) -> None:
    from fastapi_gateway.routing import MigratedRoute

    route = MigratedRoute(name="to-broken", legacy="/api/tickets/", new="/broken/tickets")
    async with gateway_with(route, api_routers={"/broken": "no_such_module.anywhere:router"}) as gateway:
        assert "could not be imported" in caplog.text
        await gateway.flip("to-broken", "new")
        async with gateway.client() as client:
            await login(client, "alice", demo_password)
            routed = await client.get("/api/tickets/")
            assert routed.status_code == 200 and routed.headers["x-served-by"] == "legacy"
            assert (await client.get("/broken/tickets")).status_code == 503
            assert (await client.get("/api/v2/me")).status_code == 200
            assert (await client.get("/tickets/")).status_code == 200


async def test_broken_gradio_page_answers_503_alone(gateway_factory: Any, demo_users: Any, demo_password: str, caplog: Any) -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class BrokenPage:
        path: str = "/ui/broken"

        @staticmethod
        def build() -> Any:
            raise ImportError("a page module that does not import")

    async with gateway_factory(gradio_pages=[BrokenPage()]) as client:
        assert "could not be built" in caplog.text
        await login(client, "alice", demo_password)
        assert (await client.get("/ui/broken/")).status_code == 503
        assert (await client.get("/tickets/")).status_code == 200


async def test_metrics_need_staff_or_the_token(gateway_with: Any, demo_password: str) -> None:
    from migration_plan.routes import ROUTES

    async with gateway_with(*ROUTES, metrics_token="s3cret-scrape-token") as gateway:
        async with gateway.client() as client:
            assert (await client.get("/metrics")).status_code == 403
            assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 403
            await login(client, "alice", demo_password)
            await client.get("/api/tickets/")
            assert (await client.get("/metrics")).status_code == 403
            scraped = await client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
        assert scraped.status_code == 200
        assert re.search(r'gateway_route_requests_total\{route="api-tickets",side="legacy",status="2xx"\} \d', scraped.text)
        assert "gateway_route_latency_seconds_bucket" in scraped.text
        async with gateway.client() as staff:
            await login(staff, "admin", demo_password)
            assert (await staff.get("/metrics")).status_code == 200


@contextlib.contextmanager
def _running(work: Callable[[threading.Event], None]) -> Iterator[None]:
    """``work(stop)`` in a thread of its own for as long as the block lasts."""
    stop = threading.Event()
    worker = threading.Thread(target=work, args=(stop,), daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join()


async def _a_comparison_waits_while(gateway: Gateway, alice_on: httpx.AsyncClient,
                                    busy: ContextManager[Any] | AbstractAsyncContextManager[Any], why: str,
                                    *, max_wait: float = 0.6) -> Any:
    """Inside ``busy`` a queued comparison does not run, and past ``max_wait`` it is dropped and
    counted; once out of it, the next one runs. Returns the shadow runner."""
    await gateway.flip("api-tickets", "shadow")
    runner = _shadow(gateway)
    runner.max_wait = max_wait
    busy_before = metric("gateway_shadow_dropped_total", route="api-tickets", reason="busy")
    async with contextlib.AsyncExitStack() as stack:
        if isinstance(busy, AbstractAsyncContextManager):
            await stack.enter_async_context(busy)
        else:
            stack.enter_context(busy)
        started, preempted = runner.completed, runner.preempted
        assert (await alice_on.get("/api/tickets/")).headers["x-served-by"] == "legacy"
        await asyncio.sleep(1.0)
        assert (runner.completed, runner.preempted) == (started, preempted), why
        assert metric("gateway_shadow_dropped_total", route="api-tickets", reason="busy") == busy_before + 1
    runner.max_wait = 10.0  # the default: the next one finds its quiet moment however loaded the machine
    await alice_on.get("/api/tickets/")
    await _wait_for_shadow(gateway, started + 1)
    return runner


async def test_shadow_waits_for_a_quiet_moment_and_drops_what_never_finds_one(gateway: Gateway, alice_on: httpx.AsyncClient) -> None:
    """The control always wins: while the worker is busy (here a thread burning a CPU, as
    back-to-back users do) a queued comparison does not run; past ``max_wait`` it is dropped
    and counted. Once the worker is quiet again, comparisons run."""

    def burn(stop: threading.Event) -> None:
        while not stop.is_set():
            time.perf_counter()  # pure CPU, holding the GIL in turns like a Django view

    runner = await _a_comparison_waits_while(gateway, alice_on, _running(burn), "a comparison ran while the worker was busy",
                                             max_wait=0.5)
    assert runner.dropped_busy == 1


async def test_shadow_waits_while_a_django_call_runs_even_with_the_cpu_idle(gateway: Gateway, alice_on: httpx.AsyncClient) -> None:
    """A comparison started while a page is being made would make that page wait (at 16
    saturating connections the CPU test alone let a few through: p99 1.36x). So nothing
    starts while a Django call holds or waits for its turn, even one asleep on I/O."""
    gate = _bridge_admission(gateway)

    @contextlib.contextmanager
    def slow_view() -> Iterator[None]:  # a Django call in progress, using no CPU (a slow query, a remote API)
        view = object()
        assert gate.enter(view)
        try:
            yield  # the page asked for meanwhile is let past it, as stuck
        finally:
            gate.leave(view)

    await _a_comparison_waits_while(gateway, alice_on, slow_view(), "a comparison ran while a Django call was in progress")


@contextlib.asynccontextmanager
async def _pages_back_to_back(gate: Any, *, page_seconds: float) -> AsyncIterator[None]:
    """One client's pages through ``gate`` for as long as the block lasts: each ``page_seconds``
    long (asleep, no CPU: a slow query), the next handed over 1 ms after the last one's end.

    Handed over on the event loop, as the bridge hands calls over, so the runner's test of a
    window sees them as it would in a server: each of these pages is due before a window that
    ends after it, and runs first; a window that ends before it counts only if the loop woke
    within ``_LATE_WAKE`` (3 ms) of its end, so its last page ended under 4 ms before, not
    ``RECENT_SECONDS``. A thread's 1 ms sleeps instead overran 5 ms on a loaded machine."""

    async def pages() -> None:
        while True:
            ticket = gate.queue()
            if gate.running or gate.waiting or gate.queued > 1:
                gate.unqueue(ticket)  # a real page holds the gate: this one's arrival is counted all the same
            else:
                page = object()
                assert gate.enter(page, ticket=ticket)  # nobody ahead: at once, the loop never blocks
                try:
                    await asyncio.sleep(page_seconds)
                finally:
                    gate.leave(page)
            await asyncio.sleep(0.001)

    task = asyncio.create_task(pages())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_shadow_waits_while_pages_keep_arriving_even_between_them(gateway: Gateway, alice_on: httpx.AsyncClient) -> None:
    """One client's back-to-back pages leave the bridge idle for a fraction of a millisecond
    between two calls, with the CPU far from busy: a comparison started in such a gap made the
    next page wait behind it (p99 1.10x at one connection). So a quiet moment is one in which
    no Django call started or ended for ``RECENT_SECONDS``."""
    gate = _bridge_admission(gateway)
    await _a_comparison_waits_while(gateway, alice_on, _pages_back_to_back(gate, page_seconds=0.0),
                                    "a comparison ran between two back-to-back pages")


async def test_shadow_waits_between_back_to_back_pages_longer_than_the_gap(gateway: Gateway, alice_on: httpx.AsyncClient) -> None:
    """A page that took longer than ``RECENT_SECONDS`` (asleep on a slow query: the CPU idle)
    started before the gap that follows it: judged by when calls start alone, that gap looked
    quiet, and a comparison made the client's next page wait. A call's end counts as well."""
    gate = _bridge_admission(gateway)
    await _a_comparison_waits_while(gateway, alice_on, _pages_back_to_back(gate, page_seconds=0.008),
                                    "a comparison ran between two back-to-back pages longer than the gap")


def _slow_new_side(seen: dict[str, Any]) -> Any:
    """A new side that takes ``seen["seconds"]`` (0.3) to answer wrongly, counting its starts and
    cancellations, and (with ``seen["gate"]``) hands a call of its own to the bridge first."""
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/tickets")
    async def slow_tickets() -> list[dict[str, Any]]:
        seen["started"] = seen.get("started", 0) + 1
        if (gate := seen.get("gate")) is not None:
            gate.unqueue(gate.queue())  # the new side asks Django something through the bridge
        try:
            await asyncio.sleep(seen.get("seconds", 0.3))
        except asyncio.CancelledError:
            seen["cancelled"] = seen.get("cancelled", 0) + 1
            raise
        return [{"id": 0, "title": "not the same", "status": "open"}]

    return router


SLOW = MigratedRoute(name="slow", legacy="/api/tickets/", new="/slow/tickets")


@contextlib.asynccontextmanager
async def _shadowing_slow(gateway_with: Any, demo_password: str, seen: dict[str, Any]) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    """A gateway shadowing ``SLOW`` (``_slow_new_side(seen)``), and alice's client on it."""
    async with gateway_with(SLOW, api_routers={"/slow": _slow_new_side(seen)}) as gateway:
        async with gateway.client() as client:
            await login(client, "alice", demo_password)
            await gateway.flip("slow", "shadow")
            yield gateway, client


async def _until(predicate: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.005)


async def test_a_page_that_arrives_stops_the_comparison_which_runs_again_later(gateway_with: Any, demo_password: str) -> None:
    """A comparison started in a quiet moment can still be running when a page arrives (paced
    pages' p99 1.30x the legacy state's): the page does not wait for it. The comparison stops
    at its next ``await`` (the new side's handler is cancelled), and is done again whole in
    the next quiet moment, where it is counted and its mismatch stored."""
    seen: dict[str, Any] = {"seconds": 30.0}  # past its timeout: only a cancellation ends it soon
    async with _shadowing_slow(gateway_with, demo_password, seen) as (gateway, client):
        runner, gate = _shadow(gateway), _bridge_admission(gateway)
        differ = metric("gateway_shadow_comparisons_total", route="slow", result="differ")
        preempted = metric("gateway_shadow_preempted_total", route="slow")
        assert (await client.get("/api/tickets/")).headers["x-served-by"] == "legacy"
        await _until(lambda: seen.get("started") == 1, "the comparison started")
        seen["seconds"] = 0.0  # the next try answers at once
        gate.unqueue(gate.queue())  # a page is handed to Django
        await _until(lambda: runner.preempted == 1, "the comparison stopped for the page")
        assert seen["cancelled"] == 1, "the new side ran on beside the page"
        assert metric("gateway_shadow_preempted_total", route="slow") == preempted + 1
        await _wait_for_shadow(gateway, 1)
        assert (seen["started"], seen["cancelled"]) == (2, 1)
        assert metric("gateway_shadow_comparisons_total", route="slow", result="differ") == differ + 1
        assert (await ShadowMismatch.objects.aget(route="slow")).count == 1


async def test_the_last_try_of_a_comparison_stopped_again_and_again_runs_to_its_end(gateway_with: Any, demo_password: str) -> None:
    """Stopped ``PREEMPTIONS`` times, a comparison's next try runs whatever arrives: stopped
    every time, a new side that hangs until its timeout (or errs slowly) would never be counted,
    and a rollout's gate would see only the quick answers."""
    from fastapi_gateway.routing.shadow import PREEMPTIONS

    seen: dict[str, Any] = {"seconds": 30.0}
    async with _shadowing_slow(gateway_with, demo_password, seen) as (gateway, client):
        runner, gate = _shadow(gateway), _bridge_admission(gateway)
        timeouts = metric("gateway_shadow_comparisons_total", route="slow", result="timeout")
        assert (await client.get("/api/tickets/")).headers["x-served-by"] == "legacy"
        for tries in range(1, PREEMPTIONS + 1):
            await _until(lambda: seen.get("started") == tries, f"try {tries} started")
            gate.unqueue(gate.queue())
            await _until(lambda: runner.preempted == tries, f"try {tries} stopped")
        await _until(lambda: seen.get("started") == PREEMPTIONS + 1, "the last try started")
        gate.unqueue(gate.queue())  # this one it does not stop for
        await _wait_for_shadow(gateway, 1)  # the runner's 2 s timeout: the hang is counted
        assert runner.preempted == PREEMPTIONS and seen["started"] == PREEMPTIONS + 1
        assert seen["cancelled"] == PREEMPTIONS + 1  # the last one by its timeout, not by the page
        assert metric("gateway_shadow_comparisons_total", route="slow", result="timeout") == timeouts + 1
        assert (await ShadowMismatch.objects.aget(route="slow")).new_status is None


async def test_a_comparison_stopped_for_a_page_that_finds_no_quiet_moment_again_is_dropped(
    gateway_with: Any, demo_password: str
) -> None:
    seen: dict[str, Any] = {"seconds": 30.0}
    async with _shadowing_slow(gateway_with, demo_password, seen) as (gateway, client):
        runner, gate = _shadow(gateway), _bridge_admission(gateway)
        runner.max_wait = 1.0
        dropped = metric("gateway_shadow_dropped_total", route="slow", reason="preempted")
        assert (await client.get("/api/tickets/")).headers["x-served-by"] == "legacy"
        await _until(lambda: seen.get("started") == 1, "the comparison started")
        page = object()
        assert gate.enter(page, ticket=gate.queue())  # a page arrives, and is still being made at the deadline
        try:
            await _until(lambda: metric("gateway_shadow_dropped_total", route="slow", reason="preempted") == dropped + 1,
                         "the comparison dropped")
        finally:
            gate.leave(page)
        assert (runner.preempted, runner.dropped_busy, runner.completed) == (1, 1, 0) and seen["started"] == 1
        assert not await ShadowMismatch.objects.filter(route="slow").aexists()
        seen["seconds"] = 0.0
        runner.max_wait = 10.0
        assert (await client.get("/api/tickets/")).headers["x-served-by"] == "legacy"
        await _wait_for_shadow(gateway, 1)  # the next comparison, left alone, runs


async def test_the_new_sides_own_call_to_django_does_not_stop_its_comparison(gateway_with: Any, demo_password: str) -> None:
    """A new side may ask Django something through the bridge (a handler that proxies part of
    its answer): that call is the comparison's own, and stopping for it would stop every one."""
    seen: dict[str, Any] = {"seconds": 0.05}
    async with _shadowing_slow(gateway_with, demo_password, seen) as (gateway, client):
        seen["gate"] = _bridge_admission(gateway)
        assert (await client.get("/api/tickets/")).headers["x-served-by"] == "legacy"
        await _wait_for_shadow(gateway, 1)
        assert _shadow(gateway).preempted == 0 and seen["started"] == 1 and "cancelled" not in seen


async def test_the_last_try_of_one_comparison_is_no_page_to_another_running_beside_it() -> None:
    """Two gateways in one process, each comparing: the Django calls of one's last try (which
    no page stops) must not stop the other's comparison, and a page still does. A last try
    that fails leaves its calls marked no longer."""
    from fastapi_gateway.legacy.admission import Admission
    from fastapi_gateway.routing import shadow

    gate = Admission(limit=1, ceiling=1, overflow_after=1.0)
    first, last = shadow.ShadowRunner(), shadow.ShadowRunner()
    waiting, release = asyncio.Event(), asyncio.Event()

    async def long_comparison(job: Any) -> tuple[bool, None, list[Any]]:
        waiting.set()
        await release.wait()
        return True, None, []

    async def calls_django_then(outcome: BaseException | None) -> tuple[bool, None, list[Any]]:
        gate.queue()  # the new side asks Django something through a bridge
        if outcome is not None:
            raise outcome
        return True, None, []

    first._compare = long_comparison  # type: ignore[method-assign]
    running = asyncio.create_task(first._preemptible(object(), preemptible=True))  # type: ignore[arg-type]
    await waiting.wait()
    for outcome in (None, RuntimeError("the new side broke")):
        last._compare = lambda job, outcome=outcome: calls_django_then(outcome)  # type: ignore[method-assign]
        try:
            await last._preemptible(object(), preemptible=False)  # type: ignore[arg-type]
        except RuntimeError:
            assert outcome is not None
        await asyncio.sleep(0)
        assert not running.done(), "another comparison's own call to Django stopped this one"
        assert shadow._COMPARING.get() is False
    gate.queue()  # a page
    assert await asyncio.wait_for(running, 5) is None, "a page did not stop the comparison"


async def test_a_full_shadow_queue_drops_at_once_and_copies_nothing(
    gateway: Gateway, alice_on: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A saturated process shadows nothing: with the queue full, the request is Django's alone,
    its answer and body are not copied for a comparison that could not be queued, and the drop
    is counted as before, once the answer is out."""
    await gateway.flip("api-tickets", "shadow")
    runner = _shadow(gateway)
    submitted: list[Any] = []
    monkeypatch.setattr(runner, "submit", submitted.append)
    monkeypatch.setattr(runner, "has_room", lambda: False)
    dropped = metric("gateway_shadow_dropped_total", route="api-tickets", reason="queue_full")
    response = await alice_on.get("/api/tickets/")
    assert response.status_code == 200 and response.headers["x-served-by"] == "legacy"
    assert {t["owner"] for t in response.json()} == {"alice"}
    assert submitted == [], "a comparison with no room in the queue was still prepared"
    assert metric("gateway_shadow_dropped_total", route="api-tickets", reason="queue_full") == dropped + 1
    monkeypatch.undo()
    started = runner.completed
    await alice_on.get("/api/tickets/")  # room again: compared
    await _wait_for_shadow(gateway, started + 1)


async def test_the_shadow_queue_has_room_until_its_buffer_is_full() -> None:
    from fastapi_gateway.routing.shadow import ShadowRunner

    runner = ShadowRunner(max_queue=2)
    assert not runner.has_room(), "not running: a comparison would be dropped"
    blocked = asyncio.Event()

    async def never_quiet(deadline: float) -> bool:
        await blocked.wait()
        return False

    runner._quiet_moment = never_quiet  # type: ignore[method-assign]
    task = asyncio.create_task(runner.run_forever())
    try:
        await asyncio.sleep(0.01)
        assert runner.has_room()
        job: Any = type("Job", (), {"route": FAULTY["wrong"]})()
        for expected in (True, True, False):  # the worker takes one and waits; two fill the buffer
            runner.submit(job)
            await asyncio.sleep(0.01)
            assert runner.has_room() is expected
    finally:
        task.cancel()
        blocked.set()


async def test_a_body_sent_with_a_safe_request_is_held_to_the_limits(gateway_with: Any, demo_password: str) -> None:
    """From a review: a GET's body to a route on the new side was read whole into memory, and a
    shadowed route kept a copy of any body it passed to Django, however large."""
    async with gateway_with(FAULTY["wrong"], max_upload_mb=1) as gateway:
        async with gateway.client() as client:
            await login(client, "alice", demo_password)
            await gateway.flip("wrong", "new")
            refused = await client.request("GET", "/api/tickets/", content=b"x" * (2 * 1024 * 1024))
            assert refused.status_code == 413 and refused.text == "Content Too Large"
            # A long body is refused at the limit, not read to its end first.
            read = 0

            async def long_body() -> dict[str, Any]:
                nonlocal read
                read += 1
                await asyncio.sleep(0)
                return {"type": "http.request", "body": b"x" * 65536, "more_body": read < 100}  # 6.25 MiB

            sent: list[dict[str, Any]] = []
            cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
            scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
                     "path": "/api/tickets/", "raw_path": b"/api/tickets/", "query_string": b"", "root_path": "",
                     "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode()), (b"transfer-encoding", b"chunked")],
                     "client": ("127.0.0.1", 50000), "server": ("testserver", 80), "state": {}}

            async def collect(message: dict[str, Any]) -> None:
                sent.append(message)

            await asyncio.wait_for(gateway.app(scope, long_body, collect), 10)
            assert sent[0]["status"] == 413 and read == 17  # 1 MiB and one block past it
            assert (await client.get("/api/tickets/")).headers["x-served-by"] == "new"
            await gateway.flip("wrong", "shadow")
            submitted: list[bytes] = []
            shadow = _shadow(gateway)
            submit = shadow.submit
            shadow.submit = lambda job: (submitted.append(job.body), submit(job))  # type: ignore[method-assign]
            served = await client.request("GET", "/api/tickets/", content=b"x" * (2 * 1024 * 1024))
            assert served.status_code == 200 and served.headers["x-served-by"] == "legacy"
            assert submitted == [], "no comparison is kept of a body over the capture limit"
            await client.get("/api/tickets/")
            assert submitted == [b""]
