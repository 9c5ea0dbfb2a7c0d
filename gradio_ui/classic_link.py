"""The account bar's way back to the classic ticket list, true to the route's state.

While the ``tickets-page`` route is not ``new`` the classic list stays reachable (the link
asks for it with ``?classic=1``, which the gateway honours even in ``redirect``); once the
route is ``new`` the classic page is retired, and the bar says so instead of offering a link
that would bring the user straight back here.
"""

from __future__ import annotations

import gradio as gr

from fastapi_gateway.migrated_route import RouteState
from fastapi_gateway.orm import run_orm
from fastapi_gateway.routing.classic import classic_available
from fastapi_gateway.routing.table import load_states

__all__ = ["CLASSIC_LINKS", "ROUTE", "RETIRED", "classic_links_text", "wire_classic_links"]

ROUTE = "tickets-page"
CLASSIC_LINKS = (("All tickets (classic site)", "/tickets/?classic=1"),)
RETIRED = "The classic ticket list has been retired: this page replaces it."


def _route_state() -> RouteState:
    setting = load_states([ROUTE]).get(ROUTE)
    return setting.state if setting else RouteState.LEGACY


async def classic_links_text() -> str:
    """The bar's links line for the route's current state."""
    if classic_available(await run_orm(_route_state)):
        return " · ".join(f"[{label}]({url})" for label, url in CLASSIC_LINKS)
    return RETIRED


def wire_classic_links(demo: gr.Blocks, links: gr.Markdown) -> None:
    """Fill the bar's links line when the page loads, from the live route table."""
    demo.load(classic_links_text, inputs=None, outputs=links, api_visibility="private")
