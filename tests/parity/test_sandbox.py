"""Writes made inside the sandbox, from any thread, are gone after it."""

from __future__ import annotations

from typing import Any

import pytest

from fastapi_gateway.orm import run_orm
from fastapi_gateway.parity.sandbox import rolled_back
from legacy_django.tickets.models import Ticket
from legacy_django.tickets.queries import create_ticket

pytestmark = pytest.mark.django_db(transaction=True)


async def test_writes_from_worker_threads_are_rolled_back(alice: Any) -> None:
    before = await run_orm(Ticket.objects.count)
    async with rolled_back():
        await run_orm(create_ticket, alice, title="one")
        await run_orm(create_ticket, alice, title="two")  # another worker call, same transaction
        assert await run_orm(Ticket.objects.count) == before + 2
    assert await run_orm(Ticket.objects.count) == before
    assert await run_orm(Ticket.objects.filter(title__in=["one", "two"]).exists) is False


async def test_an_error_inside_still_rolls_back(alice: Any) -> None:
    before = await run_orm(Ticket.objects.count)
    with pytest.raises(RuntimeError):
        async with rolled_back():
            await run_orm(create_ticket, alice, title="doomed")
            raise RuntimeError("side failed")
    assert await run_orm(Ticket.objects.count) == before
