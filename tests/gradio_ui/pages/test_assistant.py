"""The assistant page: real tickets from Django, answers from the rules, greeting on load."""

from __future__ import annotations

import gradio as gr
import pytest
from django.contrib.auth.models import AbstractUser

from fastapi_gateway.orm import run_orm
from gradio_ui.identity import SignInRequired
from gradio_ui.pages import assistant as page
from legacy_django.tickets.models import Ticket

from ..conftest import RequestFactory

pytestmark = pytest.mark.django_db(transaction=True)


async def _first_ticket_of(username: str) -> Ticket:
    return await run_orm(lambda: Ticket.objects.filter(owner__username=username).first())


async def test_the_conversation_opens_by_greeting_the_user_by_name(
    gr_request: RequestFactory, demo_users: dict[str, AbstractUser]
) -> None:
    (message,) = await page.greet_on_load(gr_request("alice"))
    assert message["role"] == "assistant"
    assert message["content"].startswith("Hello alice! You have 9 tickets: 3 open, 3 pending, 3 closed.")


async def test_it_counts_only_the_users_own_tickets(
    gr_request: RequestFactory, demo_users: dict[str, AbstractUser]
) -> None:
    assert await page.reply("how many open tickets?", [], gr_request("bob")) == "You have 3 open tickets."
    admin_reply = await page.reply("how many tickets?", [], gr_request("admin"))
    assert admin_reply == "You have 18 tickets: 6 open, 6 pending, 6 closed."


async def test_it_shows_the_users_ticket_but_not_another_users(
    gr_request: RequestFactory, demo_users: dict[str, AbstractUser]
) -> None:
    alices = await _first_ticket_of("alice")
    bobs = await _first_ticket_of("bob")
    shown = await page.reply(f"show ticket {alices.pk}", [], gr_request("alice"))
    assert f"#{alices.pk} " in shown and "- Owner: alice" in shown
    hidden = await page.reply(f"show ticket {bobs.pk}", [], gr_request("alice"))
    missing = await page.reply("show ticket 999999", [], gr_request("alice"))
    assert hidden == f"I can't find ticket {bobs.pk}."
    assert missing == "I can't find ticket 999999."


async def test_seeded_tickets_changed_today(
    gr_request: RequestFactory, demo_users: dict[str, AbstractUser]
) -> None:
    reply = await page.reply("what changed today?", [], gr_request("alice"))
    assert reply.startswith("9 tickets changed today"), "seed_demo just created them"


async def test_list_my_urgent_tickets(gr_request: RequestFactory, demo_users: dict[str, AbstractUser]) -> None:
    reply = await page.reply("list my urgent tickets", [], gr_request("bob"))
    assert reply.splitlines()[0] == "Your 1 urgent ticket:"
    assert "Outlook crashes" in reply


async def test_a_deactivated_user_gets_no_answers(
    gr_request: RequestFactory, inactive_carol: AbstractUser
) -> None:
    with pytest.raises(SignInRequired):
        await page.reply("hi", [], gr_request("carol"))


async def test_the_page_is_a_chat_wired_to_reply_and_greeting() -> None:
    blocks = page.build()
    functions = list(blocks.fns.values())
    assert any(getattr(fn.fn, "__wrapped__", None) is page.reply for fn in functions)
    chatbot = next(b for b in blocks.blocks.values() if isinstance(b, gr.Chatbot))
    (greeting,) = [fn for fn in functions if fn.fn is page.greet_on_load]
    assert [event for _, event in greeting.targets] == ["load"]
    # ChatInterface's chatbot_value: a State whose change is copied into the visible chatbot.
    (chatbot_value,) = greeting.outputs
    assert any(
        (chatbot_value._id, "change") in fn.targets and chatbot in fn.outputs for fn in functions
    )
