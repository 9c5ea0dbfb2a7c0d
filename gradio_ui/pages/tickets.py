"""The new ticket list: a filterable table of the tickets the user may see and a create form.

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
    "select_ticket",
]

TITLE = "Tickets"
ALL_STATUSES = "All"
COLUMNS = ["id", "title", "status", "priority", "updated"]
TicketRow = list[Any]

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
            label="Your tickets",
            elem_id="tickets-table",
        )
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
        table.select(select_ticket, [table], selected, **private)
        open_legacy.click(None, [selected], None, js=OPEN_IN_LEGACY_JS)
        create.click(
            create_ticket_from_form,
            [title, body, priority, status],
            [table, title, body, form_message],
            **private,
        )
    return demo


def _ticket_rows(user: AbstractBaseUser, status: str | None) -> list[TicketRow]:
    status = None if status in (None, "", ALL_STATUSES) else status
    tickets = filter_by_status(visible_tickets(user), status).order_by("-updated_at", "-id")
    return [
        [pk, title, state, priority, f"{updated.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"]
        for pk, title, state, priority, updated in tickets.values_list(
            "id", "title", "status", "priority", "updated_at"
        )
    ]


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
