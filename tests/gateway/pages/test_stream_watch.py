"""The re-checks of open Gradio streams: bounded per user, one decision per session."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from fastapi_gateway.pages.access import PageAccess
from fastapi_gateway.pages import stream_watch
from fastapi_gateway.pages.stream_watch import StreamWatch


class Revoked:
    def __init__(self) -> None:
        self.ended: list[str] = []

    def __call__(self, name: str) -> Any:
        return lambda: self.ended.append(name)


async def test_one_user_keeps_at_most_their_budget_of_sessions_with_streams() -> None:
    """Logging in again and again to hold streams open would stretch everyone's re-check
    period (it is sessions / per_second past the budget of lookups): a user's own oldest
    session's streams end instead, and nobody else's."""
    watch = StreamWatch(interval=60, max_sessions_per_user=2)
    revoked = Revoked()
    bobs = watch.watch("bob-1", "2", PageAccess(), revoked("bob-1"))
    watch.watch("alice-1", "1", PageAccess(), revoked("alice-1 tab a"))
    watch.watch("alice-1", "1", PageAccess(), revoked("alice-1 tab b"))
    watch.watch("alice-2", "1", PageAccess(), revoked("alice-2"))
    assert revoked.ended == [] and len(watch) == 4
    watch.watch("alice-3", "1", PageAccess(), revoked("alice-3"))
    assert sorted(revoked.ended) == ["alice-1 tab a", "alice-1 tab b"]
    assert len(watch) == 3
    # A session whose streams all ended no longer counts against the budget.
    watch.unwatch(bobs)
    watch.watch("alice-3", "1", PageAccess(), revoked("alice-3 tab b"))
    assert len(watch) == 3 and len(revoked.ended) == 2
    watch.watch("alice-4", "1", PageAccess(), revoked("alice-4"))
    assert revoked.ended[2:] == ["alice-2"]
    # The session used last is the one kept: a new stream of alice-3 makes alice-4 the oldest.
    watch.watch("alice-3", "1", PageAccess(), revoked("alice-3 tab c"))
    watch.watch("alice-5", "1", PageAccess(), revoked("alice-5"))
    assert revoked.ended[3:] == ["alice-4"]


@pytest.mark.django_db(transaction=True)
async def test_a_pages_rule_is_decided_once_per_session_per_round(demo_users: dict[str, Any]) -> None:
    """Ten tabs of one page in one session: one lookup and one decision of the page's rule, not
    ten (a rule may query the database)."""
    client = Client()
    await sync_to_async(client.force_login)(demo_users["alice"])
    session_key = client.cookies["sessionid"].value
    asked: list[str] = []

    class Permission:  # a rule need not be hashable: one with __eq__ and no __hash__ is not
        def __eq__(self, other: object) -> bool:
            return other is self

        def __call__(self, user: Any) -> bool:
            asked.append(user.get_username())
            return True

    watch = StreamWatch(interval=60)
    access = PageAccess(permission=Permission())
    revoked = Revoked()
    handles = [watch.watch(session_key, str(demo_users["alice"].pk), access, revoked(f"tab {n}")) for n in range(10)]
    await watch._check([session_key])
    assert asked == ["alice"] and watch.lookups == 1 and revoked.ended == []
    for handle in handles:
        watch.unwatch(handle)
    await asyncio.sleep(0)


@pytest.mark.django_db(transaction=True)
async def test_a_round_hands_its_lookups_over_one_session_at_a_time(
    demo_users: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lookup holds the GIL for most of a millisecond, and a legacy page that arrives meanwhile
    waits for it: a round is spread over its interval one session per hand-off, never several
    sessions' lookups at once."""
    keys = []
    for name in ("alice", "bob", "admin"):
        client = Client()
        await sync_to_async(client.force_login)(demo_users[name])
        keys.append((client.cookies["sessionid"].value, str(demo_users[name].pk)))
    handed: list[list[str]] = []
    real = stream_watch._resolve_each
    monkeypatch.setattr(stream_watch, "_resolve_each", lambda session_keys: handed.append(list(session_keys)) or real(session_keys))
    watch = StreamWatch(interval=0.3)
    revoked = Revoked()
    handles = [watch.watch(key, pk, PageAccess(), revoked(key)) for key, pk in keys]
    for _ in range(200):
        if watch.lookups >= 3:
            break
        await asyncio.sleep(0.01)
    for handle in handles:
        watch.unwatch(handle)
    assert sorted(handed[:3]) == sorted([key] for key, _ in keys)
    assert revoked.ended == [] and watch.lookups >= 3
