"""The rules engine alone: plain ticket facts in, Markdown out, with a fixed clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from gradio_ui.assistant_rules import TicketFacts, answer, greeting, help_text

NOW = datetime(2026, 11, 26, 15, 30, tzinfo=timezone.utc)
MIDNIGHT = datetime(2026, 11, 26, tzinfo=timezone.utc)

Facts = Callable[..., TicketFacts]


@pytest.fixture
def alices(facts_factory: Facts) -> list[TicketFacts]:
    """Alice's visible tickets: two open (one urgent), one pending high, one closed."""
    return [
        facts_factory(1, title="VPN drops", status="open", priority="urgent", body="Every hour."),
        facts_factory(2, title="Need a monitor", status="open", priority="low"),
        facts_factory(3, title="Expense tool", status="pending", priority="high"),
        facts_factory(4, title="Password reset", status="closed", priority="normal"),
    ]


def ask(message: str, tickets: list[TicketFacts], now: datetime = NOW) -> str:
    return answer(message, tickets, username="alice", now=now)


@pytest.mark.parametrize("message", ["hi", "Hello!", "hey there", "Good morning"])
def test_greeting_names_the_user_and_summarises(message: str, alices: list[TicketFacts]) -> None:
    reply = ask(message, alices)
    assert reply.startswith("Hello alice!")
    assert "You have 4 tickets: 2 open, 1 pending, 1 closed." in reply


def test_greeting_escapes_markdown_in_the_username() -> None:
    assert greeting("a_b*c", []).startswith(r"Hello a\_b\*c!")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("how many open tickets?", "You have 2 open tickets."),
        ("How many PENDING tickets do I have", "You have 1 pending ticket."),
        ("how many closed tickets", "You have 1 closed ticket."),
        ("how many urgent tickets?", "You have 1 urgent ticket."),
        ("how many urgent open tickets?", "You have 1 urgent open ticket."),
        ("how many high closed tickets?", "You have 0 high closed tickets."),
    ],
)
def test_counts_by_status_and_priority(message: str, expected: str, alices: list[TicketFacts]) -> None:
    assert ask(message, alices) == expected


@pytest.mark.parametrize("message", ["how many tickets?", "How many tickets in total", "count all"])
def test_count_of_all_tickets_breaks_down_by_status(message: str, alices: list[TicketFacts]) -> None:
    assert ask(message, alices) == "You have 4 tickets: 2 open, 1 pending, 1 closed."


@pytest.mark.parametrize("message", ["show ticket 3", "Ticket #3?", "details for #3", "open ticket number 3"])
def test_show_ticket_gives_its_details(message: str, alices: list[TicketFacts]) -> None:
    reply = ask(message, alices)
    assert reply.startswith("**#3 Expense tool**")
    assert "- Status: pending" in reply
    assert "- Priority: high" in reply
    assert "- Owner: alice" in reply
    assert "- Updated: 2026-11-20 09:00 UTC" in reply


def test_show_ticket_includes_the_body(alices: list[TicketFacts]) -> None:
    assert ask("show ticket 1", alices).endswith("Every hour.")


def test_another_users_ticket_and_a_missing_one_get_the_same_answer(
    facts_factory: Facts, alices: list[TicketFacts]
) -> None:
    bobs = facts_factory(12, title="Bob's salary sheet", owner="bob")
    everything = [*alices, bobs]
    # Staff see bob's ticket; alice's list does not hold it, so she cannot tell it exists.
    assert "Bob's salary sheet" in answer("show ticket 12", everything, username="admin", now=NOW)
    assert ask("show ticket 12", alices) == "I can't find ticket 12."
    assert ask("show ticket 999", alices) == "I can't find ticket 999."


def test_what_changed_today_counts_from_midnight_utc(facts_factory: Facts) -> None:
    tickets = [
        facts_factory(1, title="Just before", updated_at=MIDNIGHT - timedelta(seconds=1)),
        facts_factory(2, title="At midnight", updated_at=MIDNIGHT),
        facts_factory(
            3, title="New this morning",
            created_at=MIDNIGHT + timedelta(hours=9), updated_at=MIDNIGHT + timedelta(hours=9),
        ),
    ]
    reply = ask("What changed today?", tickets)
    assert reply.splitlines()[0] == "2 tickets changed today (since 00:00 UTC):"
    assert "- #3 New this morning (open, normal), created at 09:00 UTC" in reply
    assert "- #2 At midnight (open, normal), updated at 00:00 UTC" in reply
    assert "Just before" not in reply
    assert reply.index("#3") < reply.index("#2"), "most recent change first"


def test_today_is_the_utc_day_even_when_now_carries_another_offset(facts_factory: Facts) -> None:
    # 01:30 on the 27th in UTC+2 is still the 26th in UTC.
    now = datetime(2026, 11, 27, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    tickets = [facts_factory(1, updated_at=datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc))]
    assert ask("what changed today", tickets, now=now).startswith("1 ticket changed today")


def test_naive_datetimes_are_read_as_utc(facts_factory: Facts) -> None:
    tickets = [facts_factory(1, updated_at=datetime(2026, 11, 26, 8, 0))]
    assert ask("what changed today", tickets).startswith("1 ticket changed today")


def test_nothing_changed_today(alices: list[TicketFacts]) -> None:
    assert ask("what changed today?", alices) == "Nothing changed today (since 00:00 UTC)."


def test_list_urgent_and_high_tickets_most_urgent_first(alices: list[TicketFacts]) -> None:
    reply = ask("List my urgent/high tickets", alices)
    assert reply.splitlines() == [
        "Your 2 urgent or high tickets:",
        "- #1 VPN drops (open, urgent)",
        "- #3 Expense tool (pending, high)",
    ]


def test_list_by_status(alices: list[TicketFacts]) -> None:
    reply = ask("what are my open tickets?", alices)
    assert reply.splitlines()[0] == "Your 2 open tickets:"
    assert "Expense tool" not in reply


def test_list_with_no_match(alices: list[TicketFacts]) -> None:
    assert ask("list my high closed tickets", alices) == "You have no high closed tickets."


def test_long_lists_are_cut_with_a_count_of_the_rest(facts_factory: Facts) -> None:
    tickets = [facts_factory(i, priority="urgent") for i in range(1, 26)]
    reply = ask("list my urgent tickets", tickets)
    assert reply.splitlines()[0] == "Your 25 urgent tickets:"
    assert reply.splitlines()[-1] == "- … and 5 more"
    assert len(reply.splitlines()) == 22


def test_titles_are_shown_literally_not_as_markdown(facts_factory: Facts) -> None:
    tickets = [facts_factory(7, title="**boom** [click](http://evil)", priority="urgent")]
    reply = ask("list my urgent tickets", tickets)
    assert r"\*\*boom\*\* \[click\]\(http://evil\)" in reply


@pytest.mark.parametrize("message", ["", "   ", "what is the meaning of life", "reboot the server"])
def test_fallback_lists_what_it_understands(message: str, alices: list[TicketFacts]) -> None:
    reply = ask(message, alices)
    assert reply == help_text(alices)
    for phrase in ("How many open tickets?", f"Show ticket {alices[0].id}", "What changed today?", "List my urgent tickets"):
        assert phrase in reply


def test_the_ticket_it_suggests_is_one_the_user_can_see(alices: list[TicketFacts]) -> None:
    """Alice was told to try "Show ticket 12", which is Bob's: refused when she tried."""
    assert all(ticket.owner == "alice" for ticket in alices)
    suggested = int(help_text(alices).split('"Show ticket ')[1].split('"')[0])
    assert suggested in {ticket.id for ticket in alices}
    assert ask(f"show ticket {suggested}", alices).startswith(f"**#{suggested} ")  # shown, not refused
    assert "Show ticket" not in help_text([])  # no ticket of one's own: no such suggestion


def test_a_greeting_with_a_question_answers_the_question(alices: list[TicketFacts]) -> None:
    assert ask("hi, how many open tickets?", alices) == "You have 2 open tickets."


def test_no_tickets_at_all() -> None:
    assert ask("how many tickets?", []) == "You have 0 tickets: 0 open, 0 pending, 0 closed."
    assert ask("show ticket 1", []) == "I can't find ticket 1."
    assert ask("list my tickets", []) == "You have no tickets."
