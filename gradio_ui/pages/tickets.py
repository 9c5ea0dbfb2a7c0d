"""The new ticket list: a filterable table of the tickets the user may see and a create form.

The table shows ``PAGE_SIZE`` tickets at a time, newest change first, with "Newer" and
"Older" buttons: a page is read from the index from the row it starts after (keyset), so it
costs the same however many tickets there are. The buttons take the table the browser shows,
but read only the first or last row's id from it, as a number, and look that ticket up among
the ones the user may see: a forged table can position the page, never widen it.

Every callback takes the user from ``gr.Request`` and goes through ``legacy_django.tickets.
queries``, the same functions the legacy views use, so the table holds the same tickets as
the classic ``/tickets/`` page. ORM work runs in a worker thread via ``run_orm``.
"""

from __future__ import annotations

import html
from datetime import timezone
from typing import Any

import gradio as gr
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Q, QuerySet

from fastapi_gateway.orm import run_orm
from fastapi_gateway.pages.account_bar import add_account_bar
from fastapi_gateway.pages.markdown import escape_markdown
from legacy_django.tickets.exceptions import UnknownStatus
from legacy_django.tickets.models import Ticket
from legacy_django.tickets.queries import create_ticket, filter_by_status, visible_tickets

from ..classic_link import CLASSIC_LINKS, wire_classic_links
from ..identity import django_user

__all__ = [
    "ALL_STATUSES",
    "COLUMNS",
    "OPEN_IN_LEGACY_JS",
    "build",
    "create_ticket_from_form",
    "list_ticket_rows",
    "load_tickets_page",
    "newer_ticket_rows",
    "older_ticket_rows",
    "PAGE_SIZE",
    "select_ticket",
]

TITLE = "Tickets"
ALL_STATUSES = "All"
COLUMNS = ["id", "title", "status", "priority", "updated"]
TicketRow = list[Any]
PAGE_SIZE = 50

OPEN_IN_LEGACY_JS = """(ticketId) => {
  const id = Number.parseInt(ticketId, 10);
  if (id > 0) {
    window.location.assign("/tickets/" + id + "/");
  }
}"""


async def load_tickets_page(request: gr.Request) -> tuple[str, list[TicketRow]]:
    """On page load: the filter from the page URL's ``?status=`` and the matching rows.

    Gradio's browser client sends the page's query string along with each event, so
    ``/ui/tickets/?status=open`` (where the legacy ``tickets-page`` route redirects) is honoured.
    """
    params = getattr(request, "query_params", None) or {}
    status = params.get("status") or ALL_STATUSES
    if status not in Ticket.Status.values:
        status = ALL_STATUSES
    return status, await list_ticket_rows(status, request)


async def list_ticket_rows(status: str | None, request: gr.Request) -> list[TicketRow]:
    """The user's visible tickets, newest change first, narrowed to ``status`` unless "All"."""
    user = await django_user(request)
    try:
        return await run_orm(_ticket_rows, user, status)
    except UnknownStatus as exc:
        raise gr.Error(html.escape(str(exc)), title="Unknown status") from exc


async def older_ticket_rows(status: str | None, rows: Any, request: gr.Request) -> Any:
    """The page after the one shown (older changes); the table stays when there is none."""
    return await _turn_page(status, rows, request, older=True)


async def newer_ticket_rows(status: str | None, rows: Any, request: gr.Request) -> Any:
    """The page before the one shown (newer changes); the table stays when this is the first."""
    return await _turn_page(status, rows, request, older=False)


async def _turn_page(status: str | None, rows: Any, request: gr.Request, *, older: bool) -> Any:
    user = await django_user(request)
    anchor = _row_id(rows, -1 if older else 0)
    try:
        turned = await run_orm(_neighbour_page, user, status, anchor, older)
    except UnknownStatus as exc:
        raise gr.Error(html.escape(str(exc)), title="Unknown status") from exc
    if not turned:
        gr.Info("No older tickets." if older else "These are the newest tickets.")
        return gr.skip()
    return turned


def _row_id(rows: Any, index: int) -> int | None:
    """The ticket id in the first column of row ``index`` of what the browser sent, or None."""
    try:
        value = rows[index][0]
    except (TypeError, IndexError, KeyError):
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        number = int(value)
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        number = int(value)
    else:
        return None
    return number if 0 < number < 2**63 else None


async def create_ticket_from_form(
    title: str, body: str, priority: str, status: str | None, request: gr.Request
) -> tuple[Any, Any, Any, str]:
    """Create a ticket owned by the user; returns (rows, title, body, message).

    Invalid input is shown as a warning and in the form's message line, and the form keeps
    what was typed, so a mistake costs nothing; nothing is raised to the user as a crash.
    """
    user = await django_user(request)
    try:
        ticket_id, rows = await run_orm(
            _create_and_list,
            user,
            status,
            title=(title or "").strip(),
            body=body or "",
            priority=priority or Ticket.Priority.NORMAL,
        )
    except ValidationError as exc:
        problems = _validation_problems(exc)
        gr.Warning(html.escape(problems), title="Ticket not created")
        return gr.skip(), gr.skip(), gr.skip(), f"**Not created.** {escape_markdown(problems)}"
    message = f"Created ticket #{ticket_id}."
    if status and status != ALL_STATUSES and status != Ticket.Status.OPEN:
        # A new ticket is open: under another status filter it is not in the table.
        message += (
            f" It is open, so the “{escape_markdown(status)}” filter hides it:"
            f" [open ticket #{ticket_id}](/tickets/{ticket_id}/) or show All tickets."
        )
    return rows, "", "", message


def select_ticket(rows: list[TicketRow] | None, event: gr.SelectData) -> int | None:
    """The id of the row the user clicked, for the "Open in legacy site" button."""
    row = event.row_value
    if not row and rows and isinstance(event.index, (list, tuple)):
        row_index = event.index[0]
        row = rows[row_index] if 0 <= row_index < len(rows) else None
    try:
        return int(row[0]) if row else None
    except (TypeError, ValueError):
        return None


def build() -> gr.Blocks:
    """The page mounted at ``/ui/tickets``."""
    statuses = [ALL_STATUSES, *Ticket.Status.values]
    with gr.Blocks(title=TITLE) as demo:
        bar = add_account_bar(demo, legacy_links=CLASSIC_LINKS)
        wire_classic_links(demo, bar.links)
        gr.Markdown(f"# {TITLE}")
        with gr.Row(equal_height=True):
            status = gr.Dropdown(statuses, value=ALL_STATUSES, label="Status", scale=1)
            refresh = gr.Button("Refresh", scale=0, min_width=100)
        table = gr.Dataframe(
            headers=COLUMNS,
            datatype=["number", "str", "str", "str", "str"],
            type="array",
            interactive=False,
            label=f"Your tickets, newest change first, {PAGE_SIZE} a page",
            elem_id="tickets-table",
        )
        with gr.Row():
            newer = gr.Button("◂ Newer", size="sm", scale=0, min_width=110, elem_id="tickets-newer")
            older = gr.Button("Older ▸", size="sm", scale=0, min_width=110, elem_id="tickets-older")
        with gr.Row(equal_height=True):
            selected = gr.Textbox(
                label="Selected ticket",
                placeholder="Click a row of the table",
                interactive=False,
                elem_id="selected-ticket",
            )
            open_legacy = gr.Button("Open in legacy site", scale=0, min_width=180)
        with gr.Accordion("New ticket", open=True):
            title = gr.Textbox(label="Title", max_lines=1, max_length=200)
            body = gr.Textbox(label="Description", lines=4)
            priority = gr.Dropdown(
                Ticket.Priority.values, value=Ticket.Priority.NORMAL, label="Priority"
            )
            create = gr.Button("Create ticket", variant="primary")
            form_message = gr.Markdown(elem_id="create-message")

        private: dict[str, Any] = {"api_visibility": "private"}
        demo.load(load_tickets_page, None, [status, table], **private)
        status.input(list_ticket_rows, [status], table, **private)
        refresh.click(list_ticket_rows, [status], table, **private)
        newer.click(newer_ticket_rows, [status, table], table, **private)
        older.click(older_ticket_rows, [status, table], table, **private)
        table.select(select_ticket, [table], selected, **private)
        open_legacy.click(None, [selected], None, js=OPEN_IN_LEGACY_JS)
        create.click(
            create_ticket_from_form,
            [title, body, priority, status],
            [table, title, body, form_message],
            **private,
        )
    return demo


def _visible(user: AbstractBaseUser, status: str | None) -> QuerySet[Ticket]:
    status = None if status in (None, "", ALL_STATUSES) else status
    return filter_by_status(visible_tickets(user), status)


def _as_rows(tickets: QuerySet[Ticket]) -> list[TicketRow]:
    return [
        [pk, title, state, priority, f"{updated.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"]
        for pk, title, state, priority, updated in tickets.values_list(
            "id", "title", "status", "priority", "updated_at"
        )
    ]


def _ticket_rows(user: AbstractBaseUser, status: str | None) -> list[TicketRow]:
    """The first page: the ``PAGE_SIZE`` tickets changed last."""
    return _as_rows(_visible(user, status).order_by("-updated_at", "-id")[:PAGE_SIZE])


def _neighbour_page(user: AbstractBaseUser, status: str | None, anchor_id: int | None, older: bool) -> list[TicketRow]:
    """The page right after (``older``) or right before the ticket ``anchor_id``, among the
    tickets the user may see under ``status``; the first page when that ticket is not one of
    them (deleted, or never theirs); an empty list when there is no such page."""
    tickets = _visible(user, status)
    anchor = tickets.filter(pk=anchor_id).values_list("updated_at", "id").first() if anchor_id else None
    if anchor is None:
        return _ticket_rows(user, status)
    moment, pk = anchor
    if older:
        page = tickets.filter(updated_at__lte=moment).filter(Q(updated_at__lt=moment) | Q(updated_at=moment, id__lt=pk))
        return _as_rows(page.order_by("-updated_at", "-id")[:PAGE_SIZE])
    page = tickets.filter(updated_at__gte=moment).filter(Q(updated_at__gt=moment) | Q(updated_at=moment, id__gt=pk))
    return _as_rows(page.order_by("updated_at", "id")[:PAGE_SIZE])[::-1]  # read upwards, shown newest first


def _create_and_list(
    user: AbstractBaseUser, status: str | None, *, title: str, body: str, priority: str
) -> tuple[int, list[TicketRow]]:
    ticket = create_ticket(user, title=title, body=body, priority=priority)
    return ticket.pk, _ticket_rows(user, status)


def _validation_problems(error: ValidationError) -> str:
    """``Title: This field cannot be blank.``: each message with the field it is about."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    return " ".join(
        " ".join(messages)
        if field == NON_FIELD_ERRORS
        else f"{field.replace('_', ' ').capitalize()}: {' '.join(messages)}"
        for field, messages in error.message_dict.items()
    )
