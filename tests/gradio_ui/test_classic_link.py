"""The account bar's way back to the classic ticket list follows the route's live state."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


async def test_the_classic_link_is_offered_until_the_tickets_route_is_new() -> None:
    from fastapi_gateway.orm import run_orm
    from fastapi_gateway.routing.table import set_route_state
    from gradio_ui.classic_link import RETIRED, classic_links_text

    assert "(/tickets/?classic=1)" in await classic_links_text()
    await run_orm(set_route_state, "tickets-page", "redirect")
    assert "(/tickets/?classic=1)" in await classic_links_text()
    await run_orm(set_route_state, "tickets-page", "new")
    assert await classic_links_text() == RETIRED
