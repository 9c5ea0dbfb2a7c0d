"""Each route's numbers, counted while serving and summed from every process's rows."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from fastapi_gateway.orm import run_orm
from fastapi_gateway.routing.models import TrafficSample
from fastapi_gateway.routing.traffic import RECORDER, SideNumbers, TrafficRecorder, pattern_counts, route_numbers, route_timeline

from .conftest import Gateway

pytestmark = pytest.mark.django_db(transaction=True)


async def test_requests_to_a_route_are_counted_per_side_and_written_by_the_process(
    gateway: Gateway, alice_on: httpx.AsyncClient
) -> None:
    RECORDER.take()  # what earlier tests counted
    since = timezone.now()
    for _ in range(3):
        assert (await alice_on.get("/api/tickets/")).headers["x-served-by"] == "legacy"
    await gateway.flip("api-tickets", "new")
    for _ in range(2):
        assert (await alice_on.get("/api/tickets/")).headers["x-served-by"] == "new"
    await alice_on.get("/tickets/new/")  # not a migrated route: coverage only
    await run_orm(RECORDER.flush)

    numbers = (await run_orm(route_numbers, since))["api-tickets"]
    assert numbers["legacy"].requests == 3 and numbers["new"].requests == 2
    assert numbers["legacy"].errors == 0 and numbers["legacy"].p50 is not None
    counts = await run_orm(pattern_counts, since)
    assert counts["api/tickets/"] == {"legacy": 3, "new": 2}
    assert counts["tickets/new/"]["legacy"] >= 1


async def test_fallbacks_are_counted_on_the_new_side(gateway_with: object, demo_password: str) -> None:
    from .conftest import FAULTY_ROUTES

    five_hundred = next(route for route in FAULTY_ROUTES if route.name == "five-hundred")
    async with gateway_with(five_hundred) as gateway:  # type: ignore[operator]
        RECORDER.take()
        since = timezone.now()
        await gateway.flip("five-hundred", "new")
        async with gateway.client() as client:
            from tests.gateway.conftest import login

            await login(client, "alice", demo_password)
            for _ in range(4):
                response = await client.get("/api/tickets/")
                assert response.status_code == 200 and response.headers["x-served-by"] == "legacy"
        await run_orm(RECORDER.flush)
        new = (await run_orm(route_numbers, since))["five-hundred"]["new"]
        assert new.fallbacks == 4 and new.requests == 0 and new.fallback_rate == 1.0


def test_two_processes_on_two_hosts_add_up_and_a_second_write_in_a_bucket_adds_to_it(db: None) -> None:
    since = timezone.now() - timedelta(seconds=1)
    web1, web2 = TrafficRecorder(source="web-1:100"), TrafficRecorder(source="web-2:200")
    for recorder, count in ((web1, 5), (web2, 7)):
        for _ in range(count):
            recorder.request("r", "new", 200, 0.004)
        recorder.request("r", "new", 503, 0.2)
        recorder.shadow("r", "agree")
        recorder.flush()
    web1.request("r", "new", 200, 0.004)
    web1.shadow("r", "differ")
    web1.shadow("r", "timeout")
    web1.shadow("r", "dropped")
    web1.flush()
    assert TrafficSample.objects.filter(route="r").values("source").distinct().count() == 2
    new = route_numbers(since)["r"]["new"]
    assert (new.requests, new.errors) == (15, 2)
    assert (new.shadow_agree, new.shadow_differ, new.shadow_error, new.shadow_dropped) == (2, 1, 1, 1)
    assert new.mismatch_rate == pytest.approx(2 / 4)
    assert 4 <= (new.p50 or 0) <= 4 * 1.2 + 0.01  # the bucket's upper edge: within 20 %
    assert 200 <= (new.p99 or 0) <= 240.1
    timeline = route_timeline("r", since)
    assert sum(point["requests"] for point in timeline if point["side"] == "new") == 15


def test_percentiles_from_the_histogram_are_within_a_bucket() -> None:
    numbers = SideNumbers()
    recorder = TrafficRecorder(source="x:1")
    for milliseconds in range(1, 101):  # 1..100 ms
        recorder.request("r", "legacy", 200, milliseconds / 1000)
    routes, _ = recorder.take()
    numbers.add(routes[("r", "legacy")])
    assert 50 <= (numbers.p50 or 0) <= 60
    assert 99 <= (numbers.p99 or 0) <= 119
    assert SideNumbers().p99 is None


def test_random_paths_cannot_grow_a_process_memory() -> None:
    recorder = TrafficRecorder(source="x:1")
    for index in range(10_000):
        recorder.path(f"/random/{index}/", "legacy")
    _, paths = recorder.take()
    assert len(paths) <= 4097
    assert sum(paths.values()) == 10_000  # the overflow is counted, not resolved


def test_numbers_that_could_not_be_written_are_kept_for_the_next_write(db: None, settings: object) -> None:
    recorder = TrafficRecorder(source="x:1")
    recorder.request("r", "new", 200, 0.01)
    recorder.path("/api/tickets/", "new")
    from django.db import connection

    with connection.cursor() as cursor:  # the table is gone for a moment: an outage of this write
        cursor.execute("ALTER TABLE gateway_routing_trafficsample RENAME TO trafficsample_away")
    try:
        with pytest.raises(Exception):
            recorder.flush()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE trafficsample_away RENAME TO gateway_routing_trafficsample")
    assert recorder.flush() == 2
    assert route_numbers(timezone.now() - timedelta(minutes=1))["r"]["new"].requests == 1


def test_old_numbers_are_pruned(db: None) -> None:
    recorder = TrafficRecorder(source="x:1")
    recorder.request("r", "new", 200, 0.01)
    recorder.flush(now=timezone.now() - timedelta(hours=50))
    assert TrafficSample.objects.count() == 1
    recorder._last_prune = None  # due now, however long the machine has been up
    recorder.request("r", "new", 200, 0.01)
    recorder.flush(keep_hours=48)
    assert TrafficSample.objects.count() == 1 and TrafficSample.objects.get().bucket > timezone.now() - timedelta(minutes=1)
