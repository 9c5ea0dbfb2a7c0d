"""Canary buckets: sticky, close to the asked percentage, independent across routes."""

from __future__ import annotations

from fastapi_gateway.routing.canary import canary_bucket, in_canary


def test_twenty_percent_of_a_thousand_users() -> None:
    chosen = sum(in_canary("api-tickets", f"user:{pk}", 20) for pk in range(1, 1001))
    assert 170 <= chosen <= 230, chosen


def test_the_same_user_always_gets_the_same_answer() -> None:
    assert len({in_canary("api-tickets", "user:42", 35) for _ in range(100)}) == 1


def test_raising_the_percentage_only_adds_users() -> None:
    at_10 = {pk for pk in range(1000) if in_canary("r", f"user:{pk}", 10)}
    at_30 = {pk for pk in range(1000) if in_canary("r", f"user:{pk}", 30)}
    assert at_10 <= at_30


def test_routes_are_bucketed_independently() -> None:
    first = {pk for pk in range(1000) if in_canary("route-a", f"user:{pk}", 50)}
    second = {pk for pk in range(1000) if in_canary("route-b", f"user:{pk}", 50)}
    assert 150 < len(first & second) < 350  # about a quarter, not all or nothing


def test_edges() -> None:
    assert not in_canary("r", None, 100), "no identity (no login, no session): legacy"
    assert not in_canary("r", "user:1", 0)
    assert in_canary("r", "user:1", 100)
    assert 0 <= canary_bucket("r", "user:1") < 100
