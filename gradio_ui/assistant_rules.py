"""The assistant's brain: a few keyword rules over plain ticket facts, no ORM and no model.

Kept free of Django and Gradio so every answer can be tested with hand-made data and a fixed
clock. It only ever sees the tickets the caller may see, so "show ticket 12" cannot leak
another user's ticket: a hidden id and a missing id get the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from fastapi_gateway.pages.markdown import escape_markdown

__all__ = ["PRIORITIES", "STATUSES", "TicketFacts", "answer", "greeting", "help_text"]

STATUSES = ("open", "pending", "closed")
PRIORITIES = ("urgent", "high", "normal", "low")
_LIST_LIMIT = 20


@dataclass(frozen=True)
class TicketFacts:
    """What the assistant may say about one ticket; datetimes are timezone-aware (naive = UTC)."""

    id: int
    title: str
    status: str
    priority: str
    owner: str
    created_at: datetime
    updated_at: datetime
    body: str = ""


def answer(message: str, tickets: Sequence[TicketFacts], *, username: str, now: datetime) -> str:
    """Reply to ``message`` about ``tickets`` (those visible to ``username``) as of ``now``."""
    text = " ".join(message.lower().split())
    for rule in _RULES:
        reply = rule(text, tickets, username, now)
        if reply is not None:
            return reply
    return help_text(tickets)


def greeting(username: str, tickets: Sequence[TicketFacts]) -> str:
    """The first message of a conversation: the user's name and a summary of their tickets."""
    return f"Hello {escape_markdown(username)}! {_summary(tickets)}\n\n{help_text(tickets)}"


def help_text(tickets: Sequence[TicketFacts] = ()) -> str:
    """What the assistant understands, shown whenever a message matches no rule; the ticket
    it suggests showing is one of the user's own (a number they cannot see would be refused)."""
    show = f'- "Show ticket {tickets[0].id}"\n' if tickets else ""
    return (
        "I can answer questions about your tickets. Try:\n"
        '- "How many open tickets?" (or pending, closed, all)\n'
        + show
        + '- "What changed today?"\n'
        '- "List my urgent tickets" (or high, normal, low; open, pending, closed)'
    )


def _show_ticket(text: str, tickets: Sequence[TicketFacts], _user: str, _now: datetime) -> str | None:
    match = re.search(r"\bticket\s*(?:number\s*|no\.?\s*)?#?\s*(\d+)\b|#\s*(\d+)\b", text)
    if match is None:
        return None
    ticket_id = int(match.group(1) or match.group(2))
    ticket = next((t for t in tickets if t.id == ticket_id), None)
    if ticket is None:
        return f"I can't find ticket {ticket_id}."
    lines = [
        f"**#{ticket.id} {escape_markdown(ticket.title)}**",
        f"- Status: {ticket.status}",
        f"- Priority: {ticket.priority}",
        f"- Owner: {escape_markdown(ticket.owner)}",
        f"- Created: {_when(ticket.created_at)}",
        f"- Updated: {_when(ticket.updated_at)}",
    ]
    if ticket.body.strip():
        body = ticket.body.strip()
        lines += ["", escape_markdown(body if len(body) <= 500 else body[:500] + "…")]
    return "\n".join(lines)


def _count(text: str, tickets: Sequence[TicketFacts], _user: str, _now: datetime) -> str | None:
    if not re.search(r"\bhow many\b|\bcount\b|\bnumber of\b|\btotal\b", text):
        return None
    statuses = _mentioned(text, STATUSES)
    priorities = _mentioned(text, PRIORITIES)
    if not statuses and not priorities:
        return _summary(tickets)
    matching = _select(tickets, statuses, priorities)
    return f"You have {_tickets(len(matching), _label(statuses, priorities))}."


def _changed_today(text: str, tickets: Sequence[TicketFacts], _user: str, now: datetime) -> str | None:
    if not re.search(r"\btoday\b", text):
        return None
    midnight = _as_utc(now).replace(hour=0, minute=0, second=0, microsecond=0)
    changed = sorted(
        (t for t in tickets if _as_utc(t.updated_at) >= midnight),
        key=lambda t: _as_utc(t.updated_at),
        reverse=True,
    )
    if not changed:
        return "Nothing changed today (since 00:00 UTC)."
    lines = [f"{_tickets(len(changed))} changed today (since 00:00 UTC):"]
    for ticket in changed[:_LIST_LIMIT]:
        event = "created" if _as_utc(ticket.created_at) >= midnight else "updated"
        lines.append(f"{_line(ticket)}, {event} at {_as_utc(ticket.updated_at):%H:%M} UTC")
    return "\n".join(lines + _more(len(changed)))


def _list(text: str, tickets: Sequence[TicketFacts], _user: str, _now: datetime) -> str | None:
    if not re.search(r"\b(list|show|which|what are|my)\b", text) or "ticket" not in text:
        return None
    statuses = _mentioned(text, STATUSES)
    priorities = _mentioned(text, PRIORITIES)
    matching = sorted(
        _select(tickets, statuses, priorities),
        key=lambda t: (_priority_rank(t.priority), -_as_utc(t.updated_at).timestamp()),
    )
    label = _label(statuses, priorities)
    if not matching:
        return f"You have no {label + ' ' if label else ''}tickets."
    lines = [f"Your {_tickets(len(matching), label)}:"]
    lines += [_line(ticket) for ticket in matching[:_LIST_LIMIT]]
    return "\n".join(lines + _more(len(matching)))


def _greet(text: str, tickets: Sequence[TicketFacts], username: str, _now: datetime) -> str | None:
    if re.match(r"(hi|hello|hey|hiya|howdy|good (morning|afternoon|evening))\b", text):
        return greeting(username, tickets)
    return None


_Rule = Callable[[str, Sequence[TicketFacts], str, datetime], str | None]
# Order matters: a ticket number is the most specific request, a greeting the least.
_RULES: tuple[_Rule, ...] = (_show_ticket, _count, _changed_today, _list, _greet)


def _mentioned(text: str, words: Sequence[str]) -> list[str]:
    return [word for word in words if re.search(rf"\b{word}\b", text)]


def _select(
    tickets: Sequence[TicketFacts], statuses: Sequence[str], priorities: Sequence[str]
) -> list[TicketFacts]:
    return [
        t
        for t in tickets
        if (not statuses or t.status in statuses) and (not priorities or t.priority in priorities)
    ]


def _label(statuses: Sequence[str], priorities: Sequence[str]) -> str:
    """``urgent or high open``: alternatives within a kind, both kinds must hold."""
    return " ".join(part for part in (" or ".join(priorities), " or ".join(statuses)) if part)


def _summary(tickets: Sequence[TicketFacts]) -> str:
    counts = ", ".join(
        f"{sum(t.status == status for t in tickets)} {status}" for status in STATUSES
    )
    return f"You have {_tickets(len(tickets))}: {counts}."


def _tickets(count: int, label: str = "") -> str:
    noun = "ticket" if count == 1 else "tickets"
    return f"{count} {label} {noun}" if label else f"{count} {noun}"


def _line(ticket: TicketFacts) -> str:
    return f"- #{ticket.id} {escape_markdown(ticket.title)} ({ticket.status}, {ticket.priority})"


def _more(total: int) -> list[str]:
    return [f"- … and {total - _LIST_LIMIT} more"] if total > _LIST_LIMIT else []


def _priority_rank(priority: str) -> int:
    return PRIORITIES.index(priority) if priority in PRIORITIES else len(PRIORITIES)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _when(moment: datetime) -> str:
    return f"{_as_utc(moment):%Y-%m-%d %H:%M} UTC"
