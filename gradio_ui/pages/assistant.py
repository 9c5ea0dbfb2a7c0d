"""A chat assistant over the user's own tickets, answering by rules, with no model and no network.

The page only gathers facts: it loads the tickets ``visible_tickets`` allows (in a worker
thread) and hands them as plain data to ``assistant_rules.answer``, so what the assistant can
reveal is bounded by the same permission rule as every other page.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import gradio as gr
from django.contrib.auth.base_user import AbstractBaseUser

from fastapi_gateway.orm import run_orm
from fastapi_gateway.pages.account_bar import add_account_bar
from legacy_django.tickets.models import Ticket
from legacy_django.tickets.queries import visible_tickets

from ..assistant_rules import TicketFacts, answer, greeting
from ..classic_link import CLASSIC_LINKS, wire_classic_links
from ..identity import django_user

__all__ = ["EXAMPLES", "build", "greet_on_load", "reply", "ticket_facts"]

TITLE = "Assistant"
EXAMPLES = [
    "How many open tickets?",
    "What changed today?",
    "List my urgent/high tickets",
]
ChatMessage = dict[str, Any]


async def reply(message: str, history: list[ChatMessage], request: gr.Request) -> str:
    """The ChatInterface's function: one answer from the rules, over fresh ticket facts."""
    user = await django_user(request)
    tickets = await run_orm(ticket_facts, user)
    return answer(message, tickets, username=user.get_username(), now=datetime.now(timezone.utc))


async def greet_on_load(request: gr.Request) -> list[ChatMessage]:
    """The conversation's opening message, greeting the user by name with a ticket summary."""
    user = await django_user(request)
    tickets = await run_orm(ticket_facts, user)
    return [{"role": "assistant", "content": greeting(user.get_username(), tickets)}]


def ticket_facts(user: AbstractBaseUser) -> list[TicketFacts]:
    """The tickets ``user`` may see, as plain data for the rules (sync: call via ``run_orm``)."""
    return [_facts(ticket) for ticket in visible_tickets(user)]


def build() -> gr.Blocks:
    """The page mounted at ``/ui/assistant``."""
    with gr.Blocks(title=TITLE, fill_height=True) as demo:
        bar = add_account_bar(demo, legacy_links=CLASSIC_LINKS)
        wire_classic_links(demo, bar.links)
        chat = gr.ChatInterface(
            reply,
            title=TITLE,
            description="Ask about your tickets. Answers come from simple rules over your own tickets.",
            chatbot=gr.Chatbot(label="Assistant", scale=1, elem_id="assistant-chat"),
            examples=EXAMPLES,
            cache_examples=False,
            api_visibility="private",
        )
        demo.load(greet_on_load, None, chat.chatbot_value, api_visibility="private")
    return demo


def _facts(ticket: Ticket) -> TicketFacts:
    return TicketFacts(
        id=ticket.pk,
        title=ticket.title,
        status=ticket.status,
        priority=ticket.priority,
        owner=ticket.owner.get_username(),
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        body=ticket.body,
    )
