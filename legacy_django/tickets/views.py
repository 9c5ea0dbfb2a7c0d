"""The server-rendered ticket pages, the ones being replaced by the Gradio ticket page."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from .exceptions import UnknownStatus
from .forms import StatusForm, TicketForm
from .models import Ticket
from .queries import (
    create_ticket,
    filter_by_status,
    get_visible_ticket,
    update_ticket,
    visible_tickets,
)

TICKETS_PER_PAGE = 10

_CSV_COLUMNS = ["id", "title", "status", "priority", "owner", "created_at", "updated_at"]


def _ticket_or_404(request: HttpRequest, pk: int) -> Ticket:
    try:
        return get_visible_ticket(request.user, pk)
    except Ticket.DoesNotExist:
        raise Http404("No such ticket.") from None


@login_required
@require_GET
def ticket_list(request: HttpRequest) -> HttpResponse:
    """One page of the user's tickets; a bad ``?status=`` is a 400 that still shows the filters."""
    status = request.GET.get("status") or ""
    context: dict[str, Any] = {"status": status, "statuses": Ticket.Status.choices}
    try:
        tickets = filter_by_status(visible_tickets(request.user), status)
    except UnknownStatus as exc:
        context["error"] = str(exc)
        return render(request, "tickets/ticket_list.html", context, status=400)
    context["page_obj"] = Paginator(tickets, TICKETS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "tickets/ticket_list.html", context)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def ticket_create(request: HttpRequest) -> HttpResponse:
    """The form validates the input; saving goes through ``create_ticket`` like the new API's."""
    form = TicketForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            ticket = create_ticket(
                request.user,  # type: ignore[arg-type]  # login_required: never anonymous
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                priority=form.cleaned_data["priority"],
                attachment=form.cleaned_data["attachment"] or None,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Ticket #{ticket.pk} created.")
            return redirect(ticket)
    return render(request, "tickets/ticket_form.html", {"form": form})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def ticket_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Show a ticket; its POST form moves it to another status."""
    ticket = _ticket_or_404(request, pk)
    form = StatusForm(request.POST or None, initial={"status": ticket.status})
    if request.method == "POST" and form.is_valid():
        update_ticket(ticket, status=form.cleaned_data["status"])
        messages.success(request, f"Ticket #{ticket.pk} is now {ticket.get_status_display()}.")
        return redirect(ticket)
    return render(request, "tickets/ticket_detail.html", {"ticket": ticket, "form": form})


@login_required
@require_GET
def ticket_attachment(request: HttpRequest, pk: int) -> FileResponse:
    """Uploads are not public (no MEDIA_URL route): this view is the only way to them."""
    ticket = _ticket_or_404(request, pk)
    if not ticket.attachment:
        raise Http404("This ticket has no attachment.")
    try:
        handle = ticket.attachment.open("rb")
    except FileNotFoundError:
        raise Http404("The attachment is missing from storage.") from None
    return FileResponse(handle, as_attachment=True, filename=ticket.attachment_filename)


class _Echo:
    """The pseudo-buffer from Django's CSV streaming recipe: ``write`` hands the row back."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(tickets: Iterator[Ticket]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(_CSV_COLUMNS)
    for ticket in tickets:
        yield writer.writerow(
            [
                ticket.pk,
                ticket.title,
                ticket.status,
                ticket.priority,
                ticket.owner.get_username(),
                ticket.created_at.isoformat(),
                ticket.updated_at.isoformat(),
            ]
        )


@login_required
@require_GET
def ticket_export(request: HttpRequest) -> HttpResponseBase:
    """Stream the visible tickets as CSV, row by row, so a large desk never sits in memory."""
    try:
        tickets = filter_by_status(visible_tickets(request.user), request.GET.get("status"))
    except UnknownStatus as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    return StreamingHttpResponse(
        _csv_lines(tickets.iterator(chunk_size=500)),
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="tickets.csv"'},
    )
