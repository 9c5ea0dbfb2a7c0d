"""``GET /api/v2/tickets`` pages by cursor: complete and stable while tickets are filed,
strict about what a client sends back, and one index range per page however deep."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.contrib.auth.models import AbstractUser
from django.db import connection
from django.test.utils import CaptureQueriesContext

from api_v2.pagination import InvalidCursor, decode_cursor, encode_cursor, keyset_page
from api_v2.routes import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from legacy_django.tickets.models import Ticket
from tests.gateway.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)

_NEXT = re.compile(r'^<([^>]+)>; rel="next"$')


@pytest.fixture
async def as_alice(gateway: httpx.AsyncClient, demo_users: Any, demo_password: str) -> httpx.AsyncClient:
    await login(gateway, "alice", demo_password)
    return gateway


def _file(owner: AbstractUser, count: int, *, prefix: str = "bulk") -> None:
    """``count`` tickets, several sharing each creation instant (ties broken by id)."""
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    made = Ticket.objects.bulk_create(Ticket(title=f"{prefix} {n}", owner=owner) for n in range(count))
    for n, ticket in enumerate(made):
        Ticket.objects.filter(pk=ticket.pk).update(created_at=start + timedelta(minutes=n // 3))


def _next_url(response: httpx.Response) -> str | None:
    link = response.headers.get("link")
    if link is None:
        return None
    match = _NEXT.match(link)
    assert match, link
    return match.group(1)


async def _walk(client: httpx.AsyncClient, url: str) -> tuple[list[dict[str, Any]], list[int]]:
    rows: list[dict[str, Any]] = []
    sizes: list[int] = []
    next_url: str | None = url
    while next_url is not None:
        page = await client.get(next_url)
        assert page.status_code == 200, page.text
        rows += page.json()
        sizes.append(len(page.json()))
        next_url = _next_url(page)
        assert len(sizes) < 100
    return rows, sizes


async def test_following_next_links_gives_the_legacy_list_exactly(as_alice: httpx.AsyncClient, alice: AbstractUser) -> None:
    await _afile(alice, 40)
    legacy = (await as_alice.get("/api/tickets/")).json()
    assert len(legacy) == 49
    rows, sizes = await _walk(as_alice, "/api/v2/tickets?limit=7")
    assert rows == legacy
    assert sizes == [7] * 7
    # The last page says so by having no Link, also when it is exactly full.
    rows, sizes = await _walk(as_alice, "/api/v2/tickets?limit=49")
    assert rows == legacy and sizes == [49]


async def test_the_default_page_is_bounded(as_alice: httpx.AsyncClient, alice: AbstractUser) -> None:
    await _afile(alice, DEFAULT_PAGE_SIZE + 20)
    first = await as_alice.get("/api/v2/tickets")
    assert len(first.json()) == DEFAULT_PAGE_SIZE
    assert _next_url(first) is not None
    rows, _sizes = await _walk(as_alice, "/api/v2/tickets")
    assert len(rows) == DEFAULT_PAGE_SIZE + 20 + 9
    assert len({row["id"] for row in rows}) == len(rows)


async def test_tickets_filed_while_paging_are_neither_skipped_nor_repeated(
    as_alice: httpx.AsyncClient, alice: AbstractUser
) -> None:
    await _afile(alice, 30)
    before = [row["id"] for row in (await as_alice.get("/api/tickets/")).json()]
    first = await as_alice.get("/api/v2/tickets?limit=10")
    seen = [row["id"] for row in first.json()]
    for n in range(5):
        created = await as_alice.post(
            "/api/v2/tickets", json={"title": f"meanwhile {n}"},
            headers={"X-CSRFToken": as_alice.cookies["csrftoken"], "Origin": str(as_alice.base_url).rstrip("/")},
        )  # fmt: skip
    assert created.status_code == 201
    next_url = _next_url(first)
    assert next_url is not None
    rest, _ = await _walk(as_alice, next_url)
    seen += [row["id"] for row in rest]
    assert seen == before


async def test_the_next_link_keeps_the_filter_and_the_size_and_names_no_host(
    gateway: httpx.AsyncClient, alice: AbstractUser, demo_password: str
) -> None:
    await _afile(alice, 12)
    await login(gateway, "alice", demo_password)
    page = await gateway.get("/api/v2/tickets?status=open&limit=4", headers={"Host": "evil.example"})
    assert "evil" not in page.headers.get("link", "")
    page = await gateway.get("/api/v2/tickets?status=open&limit=4")
    next_url = _next_url(page)
    assert next_url is not None and next_url.startswith("/api/v2/tickets?")
    query = parse_qs(urlsplit(next_url).query)
    assert query["status"] == ["open"] and query["limit"] == ["4"] and len(query["cursor"]) == 1
    rows, _ = await _walk(gateway, "/api/v2/tickets?status=open&limit=4")
    assert rows == (await gateway.get("/api/tickets/?status=open")).json()
    assert {row["status"] for row in rows} == {"open"}


def _cursor_of(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


HOSTILE_CURSORS = [
    "x",
    "!!!!",
    "é",
    "a" * 201,
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    _cursor_of("not a list"),
    _cursor_of([1, 2, 3]),
    _cursor_of(["2026-01-01T00:00:00+00:00"]),
    _cursor_of(["2026-01-01T00:00:00+00:00", 0]),
    _cursor_of(["yesterday", 5]),
    _cursor_of(["2026-01-01T00:00:00", 5]),  # no time zone
    _cursor_of(["2026-01-01T00:00:00+00:00", "5"]),
    _cursor_of(["2026-01-01T00:00:00+00:00", 5.0]),
    _cursor_of(["2026-01-01T00:00:00+00:00", True]),
    _cursor_of(["2026-01-01T00:00:00+00:00", -1]),
    _cursor_of(["2026-01-01T00:00:00+00:00", 2**70]),
    _cursor_of([{"$gt": ""}, 5]),
    _cursor_of(["9999-12-31T23:59:59-01:00", 1]),  # past year 9999 once in UTC
    _cursor_of(["0001-01-01T00:00:00+05:00", 1]),  # before year 1 once in UTC
]


async def test_a_cursor_it_did_not_hand_out_is_a_clear_400(as_alice: httpx.AsyncClient) -> None:
    for cursor in HOSTILE_CURSORS:
        answered = await as_alice.get("/api/v2/tickets", params={"cursor": cursor})
        assert answered.status_code in (400, 422), (cursor, answered.text)
        assert "cursor" in answered.text.lower(), (cursor, answered.text)


async def test_a_limit_out_of_range_is_422(as_alice: httpx.AsyncClient) -> None:
    for limit in ["0", "-1", str(MAX_PAGE_SIZE + 1), "ten", "1e3", ""]:
        answered = await as_alice.get("/api/v2/tickets", params={"limit": limit})
        assert answered.status_code == 422, (limit, answered.text)


async def test_a_forged_cursor_shows_nothing_beyond_the_users_own_tickets(
    as_alice: httpx.AsyncClient, bob: AbstractUser
) -> None:
    await _afile(bob, 20, prefix="bobs")
    far_future = encode_cursor(datetime(2999, 1, 1, tzinfo=timezone.utc), 2**62)
    answered = await as_alice.get("/api/v2/tickets", params={"cursor": far_future, "limit": MAX_PAGE_SIZE})
    assert answered.status_code == 200
    assert {row["owner"] for row in answered.json()} == {"alice"}
    assert len(answered.json()) == 9


def test_a_page_deep_in_the_list_is_one_query_on_a_range(demo_users: Any) -> None:
    _file(demo_users["alice"], 300)
    tickets = Ticket.objects.all()
    first = keyset_page(tickets, moment_field="created_at", limit=10, cursor=None)
    deep = first
    for _ in range(25):
        assert deep.next_cursor is not None
        deep = keyset_page(tickets, moment_field="created_at", limit=10, cursor=deep.next_cursor)
    with CaptureQueriesContext(connection) as queries:
        keyset_page(tickets, moment_field="created_at", limit=10, cursor=deep.next_cursor)
    assert len(queries) == 1
    sql = queries[0]["sql"].upper()
    assert "OFFSET" not in sql and "LIMIT 11" in sql


def test_cursors_round_trip_and_refuse_what_they_are_not() -> None:
    moment = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=timezone.utc)
    assert decode_cursor(encode_cursor(moment, 42)) == (moment, 42)
    elsewhere = datetime(2026, 5, 4, 5, 2, 1, tzinfo=timezone(timedelta(hours=2)))
    assert decode_cursor(encode_cursor(elsewhere, 7)) == (elsewhere, 7)
    with pytest.raises(InvalidCursor):
        decode_cursor("")


async def _afile(owner: AbstractUser, count: int, *, prefix: str = "bulk") -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(_file)(owner, count, prefix=prefix)
