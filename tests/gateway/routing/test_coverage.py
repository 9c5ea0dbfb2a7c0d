"""How far the move has come: the URLconf's patterns, the requests each side answered on them,
and the declared route covering each, for the example project and for another project's URLconf."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import resolve
from django.utils import timezone
from fastapi import APIRouter

from fastapi_gateway.orm import run_orm
from fastapi_gateway.routing import MigratedRoute
from fastapi_gateway.routing.coverage import coverage_rows, coverage_summary, url_patterns
from fastapi_gateway.routing.table import set_route_state
from fastapi_gateway.routing.traffic import RECORDER, TrafficRecorder

from . import thirdparty_urls
from .conftest import Gateway

pytestmark = pytest.mark.django_db(transaction=True)

THIRD_PARTY = "tests.gateway.routing.thirdparty_urls"


def by_pattern(rows: list[dict[str, Any]]) -> dict[str | None, dict[str, Any]]:
    return {row["pattern"]: row for row in rows}


# --- the example project ---------------------------------------------------------------------


def test_every_pattern_of_the_example_is_listed_with_the_route_covering_it() -> None:
    set_route_state("api-tickets", "canary", percent=25, reason="a quarter")
    set_route_state("tickets-page", "redirect")
    rows = by_pattern(coverage_rows())

    for url in ("/", "/tickets/", "/tickets/3/", "/api/tickets/7/", "/accounts/login/", "/admin/", "/admin/auth/user/"):
        assert resolve(url).route in rows, url  # named as Django names the pattern that answers it
    assert rows["tickets/<int:pk>/"]["name"] == "ticket-detail"
    assert rows["tickets/<int:pk>/"]["view"] == "legacy_django.tickets.views.ticket_detail"
    assert rows["admin/"]["name"] == "admin:index"
    assert rows["accounts/login/"]["view"] == "django.contrib.auth.views.LoginView"

    covered = {row["pattern"]: (row["route"], row["state"], row["percent"]) for row in rows.values() if row["route"]}
    assert covered == {
        "api/tickets/": ("api-tickets", "canary", 25),
        "api/tickets/<int:pk>/": ("api-ticket-detail", "legacy", 0),  # never flipped: legacy
        "tickets/": ("tickets-page", "redirect", 0),
    }
    assert rows["tickets/<int:pk>/"]["route"] is None and rows["tickets/<int:pk>/"]["state"] is None
    summary = coverage_summary(list(rows.values()))
    assert (summary["patterns"], summary["covered"], summary["requests"]) == (len(url_patterns()), 3, 0)


async def test_requests_through_the_gateway_are_counted_per_pattern_and_side(
    gateway: Gateway, alice_on: httpx.AsyncClient
) -> None:
    RECORDER.take()  # what the log-in and earlier tests counted
    since = timezone.now()
    for _ in range(3):
        assert (await alice_on.get("/api/tickets/")).headers["x-served-by"] == "legacy"
    await gateway.flip("api-tickets", "new")
    for _ in range(2):
        assert (await alice_on.get("/api/tickets/")).headers["x-served-by"] == "new"
    assert (await alice_on.get("/tickets/new/")).status_code == 200
    assert (await alice_on.get("/no/such/page/")).status_code == 404
    await run_orm(RECORDER.flush)

    rows = await run_orm(coverage_rows, since)
    assert rows[0]["pattern"] == "api/tickets/"  # the most requested first
    moved = by_pattern(rows)["api/tickets/"]
    assert (moved["requests"], moved["legacy_requests"], moved["new_requests"], moved["new_share"]) == (5, 3, 2, 0.4)
    assert (moved["route"], moved["state"]) == ("api-tickets", "new")
    assert by_pattern(rows)["tickets/new/"]["requests"] == 1 and by_pattern(rows)["tickets/new/"]["route"] is None
    assert by_pattern(rows)["api/tickets/<int:pk>/"]["requests"] == 0
    # The example has a home page at '': the 404 is not its, but the row no pattern answered.
    assert by_pattern(rows)[""]["requests"] == 0 and by_pattern(rows)[None]["requests"] == 1
    summary = coverage_summary(rows)
    assert (summary["requests"], summary["new_requests"], summary["unmatched_requests"]) == (7, 2, 1)

    out = io.StringIO()
    await run_orm(call_command, "routes", "coverage", "--since", "5", stdout=out)
    text = out.getvalue()
    table = text.splitlines()
    assert table[0].split() == ["PATTERN", "NAME", "REQUESTS", "NEW", "ROUTE", "STATE", "VIEW"]
    assert table[1].split()[:6] == ["api/tickets/", "api-tickets", "5", "40%", "api-tickets", "new"]
    assert f"3 of {len(url_patterns())} URL patterns have a declared route; the new side served 29% of 7 requests in the last 5 minutes" in text
    assert re.search(r"^\(no pattern: 404\)\s+-\s+1\s", text, re.MULTILINE)


def test_the_json_is_a_list_of_patterns_with_requests_route_and_state() -> None:
    recorder = TrafficRecorder(source="web-1:1")
    for _ in range(4):
        recorder.path("/tickets/3/", "legacy")
    recorder.path("/api/tickets/", "new")
    recorder.flush()
    out = io.StringIO()
    call_command("routes", "coverage", "--json", stdout=out)
    rows = json.loads(out.getvalue())
    assert isinstance(rows, list) and len(rows) == len(url_patterns())
    for row in rows:
        assert {"pattern", "name", "view", "requests", "legacy_requests", "new_requests", "new_share", "route", "state"} <= set(row)
    assert rows[0] == {**rows[0], "pattern": "tickets/<int:pk>/", "requests": 4, "route": None, "state": None}
    assert rows[1] == {**rows[1], "pattern": "api/tickets/", "requests": 1, "new_share": 1.0, "route": "api-tickets", "state": "legacy"}
    assert [row["requests"] for row in rows] == sorted((row["requests"] for row in rows), reverse=True)
    untouched = [row["pattern"] for row in rows if not row["requests"]]
    assert untouched == sorted(untouched)


def test_since_leaves_older_requests_out() -> None:
    recorder = TrafficRecorder(source="web-1:1")
    recorder.path("/tickets/", "legacy")
    recorder.flush(now=timezone.now() - timedelta(hours=2))
    recorder.path("/tickets/", "legacy")
    recorder.flush()
    assert by_pattern(coverage_rows())["tickets/"]["requests"] == 2
    assert by_pattern(coverage_rows(timezone.now() - timedelta(minutes=60)))["tickets/"]["requests"] == 1
    out = io.StringIO()
    call_command("routes", "coverage", "--since", "60", stdout=out)
    assert "of 1 requests in the last 60 minutes" in out.getvalue()
    with pytest.raises(CommandError, match="above 0"):
        call_command("routes", "coverage", "--since", "0", stdout=io.StringIO())


def test_no_requests_yet_says_so() -> None:
    out = io.StringIO()
    call_command("routes", "coverage", stdout=out)
    assert re.search(r"3 of \d+ URL patterns have a declared route; no requests recorded$", out.getvalue(), re.M)


# --- another project's URLconf ---------------------------------------------------------------

THIRD_PARTY_ROUTES = (
    # The same pattern under another parameter name.
    MigratedRoute(name="item", legacy="/shop/items/<slug:item>/", new="/new/items/{item}"),
    # A concrete URL a re_path() pattern answers.
    MigratedRoute(name="archive-2024", legacy="/blog/2024/", new="/new/blog/2024"),
    # Parameters, on a re_path() pattern two includes down: placed by a URL made up for it.
    MigratedRoute(name="thing", legacy="/api/v1/things/<int:pk>", new="/new/things/{pk}"),
    # The project's own converter, which no made-up value fits: placed by the requests counted.
    MigratedRoute(name="blob", legacy="/blobs/<hex8:digest>/", new="/new/blobs/{digest}"),
    # Declared on a URL the project does not have: covers nothing.
    MigratedRoute(name="nowhere", legacy="/nowhere/", new="/new/blog/2024"),
)


def third_party_router() -> APIRouter:
    router = APIRouter()

    @router.get("/blobs/{digest}")
    async def blob(digest: str) -> dict[str, str]:
        return {"digest": digest}

    @router.get("/blog/2024")
    async def archive() -> list[str]:
        return []

    return router


def test_every_pattern_is_named_as_django_names_the_pattern_that_answers() -> None:
    with override_settings(ROOT_URLCONF=THIRD_PARTY):
        patterns = url_patterns()
        assert [pattern.route for pattern in patterns] == [resolve(url).route for url in thirdparty_urls.URLS]
        names = {pattern.route: pattern.name for pattern in patterns}
        assert names["shop/items/<slug:slug>/"] == "shop:item"
        assert names["api/v1/status"] == "api:v1:status"
        assert names["api/v1/things/(?P<pk>[0-9]+)$"] is None and names["health"] is None
        views = {pattern.route: pattern.view for pattern in patterns}
        assert views["^blog/<int:pk>/"] == "tests.gateway.routing.thirdparty_urls.ArticleView"
    assert "shop/items/<slug:slug>/" not in {pattern.route for pattern in url_patterns()}  # the setting's URLconf again


async def test_coverage_of_another_projects_urlconf_through_the_gateway(gateway_with: Any) -> None:
    with override_settings(ROOT_URLCONF=THIRD_PARTY):
        async with gateway_with(*THIRD_PARTY_ROUTES, api_routers={"/new": third_party_router()}) as gateway:
            gateway: Gateway  # type: ignore[no-redef]
            RECORDER.take()
            since = timezone.now()
            await gateway.flip("blob", "new")
            await gateway.flip("archive-2024", "new")
            async with gateway.client() as client:
                for url in thirdparty_urls.URLS:
                    response = await client.get(url)
                    assert response.status_code == 200, (url, response.text[:200])
                assert (await client.get("/blobs/deadbeef/")).headers["x-served-by"] == "new"
                assert (await client.get("/no/such/page/")).status_code == 404
                assert (await client.get("/nowhere/")).status_code == 404
            await run_orm(RECORDER.flush)
            rows = await run_orm(coverage_rows, since)

    patterns = by_pattern(rows)
    covered = {row["pattern"]: (row["route"], row["state"]) for row in rows if row["route"]}
    assert covered == {
        "shop/items/<slug:slug>/": ("item", "legacy"),
        "^blog/(?P<year>[0-9]{4})/$": ("archive-2024", "new"),
        "api/v1/things/(?P<pk>[0-9]+)$": ("thing", "legacy"),
        "^blobs/(?P<digest>[0-9a-f]+)/$": ("blob", "new"),
    }
    assert patterns["^blobs/(?P<digest>[0-9a-f]+)/$"]["new_requests"] == 2
    assert patterns["^blog/(?P<year>[0-9]{4})/$"]["new_share"] == 1.0
    assert patterns["health"]["name"] is None and patterns["health"]["requests"] == 1
    # The 404s: a row of their own, after every pattern with as many requests.
    assert patterns[None] == {
        "pattern": None, "name": None, "view": None, "requests": 2, "legacy_requests": 2, "new_requests": 0,
        "new_share": 0.0, "route": None, "state": None, "percent": None, "in_urlconf": False,
    }
    summary = coverage_summary(rows)
    assert (summary["patterns"], summary["covered"], summary["unmatched_requests"]) == (11, 4, 2)
    assert summary["requests"] == len(thirdparty_urls.URLS) + 1 + 2


def test_a_pattern_gone_from_the_urlconf_keeps_its_counts(settings: Any) -> None:
    recorder = TrafficRecorder(source="web-1:1")
    with override_settings(ROOT_URLCONF=THIRD_PARTY):
        recorder.path("/shop/items/", "legacy")
        recorder.flush()
        assert by_pattern(coverage_rows())["shop/items/"]["in_urlconf"] is True
    gone = by_pattern(coverage_rows())["shop/items/"]
    assert (gone["requests"], gone["in_urlconf"], gone["view"]) == (1, False, None)
    assert coverage_summary([gone])["patterns"] == 0
    out = io.StringIO()
    call_command("routes", "coverage", stdout=out)
    assert re.search(r"^shop/items/ \(gone\)\s+-\s+1\s", out.getvalue(), re.M)
