"""Who sees which tickets, and how tickets are made and changed.

The legacy views, the FastAPI ``/api/v2`` routes and the Gradio pages all call
these functions, so the permission rules live in one place and cannot drift
between the old and the new code.
"""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db.models import QuerySet
from django.urls import reverse

from .exceptions import UnknownStatus, UnknownTicketField
from .models import Ticket

__all__ = [
    "UPDATABLE_FIELDS",
    "create_ticket",
    "filter_by_status",
    "get_visible_ticket",
    "ticket_as_dict",
    "update_ticket",
    "visible_tickets",
]

UPDATABLE_FIELDS = ("title", "body", "status", "priority")


def visible_tickets(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Ticket]:
    """Staff see every ticket, other users their own, anonymous and inactive users none.

    An inactive user is refused here too, not only at login, so a deactivated
    account's still-open session shows nothing.
    """
    tickets = Ticket.objects.select_related("owner")
    if not user.is_authenticated or not user.is_active:
        return tickets.none()
    if getattr(user, "is_staff", False):
        return tickets.all()
    return tickets.filter(owner=user)


def filter_by_status(tickets: QuerySet[Ticket], status: str | None) -> QuerySet[Ticket]:
    """Narrow to one status; a misspelt status is an error, not silently an empty list."""
    if not status:
        return tickets
    if status not in Ticket.Status.values:
        raise UnknownStatus(status, Ticket.Status.values)
    return tickets.filter(status=status)


def get_visible_ticket(user: AbstractBaseUser | AnonymousUser, ticket_id: int) -> Ticket:
    """Fetch one ticket, raising ``Ticket.DoesNotExist`` alike for missing and for hidden ones.

    Telling the two apart would let anyone probe which ids exist.
    """
    return visible_tickets(user).get(pk=ticket_id)


def create_ticket(
    owner: AbstractBaseUser,
    *,
    title: str,
    body: str = "",
    priority: str = "normal",
    status: str = "open",
    attachment: File[Any] | None = None,
) -> Ticket:
    """Validate with the model's own rules, then save; raises ``ValidationError``.

    The attachment is stored under its base name only, since a ``File`` opened
    from disk carries its full path and Django refuses absolute upload names.
    """
    ticket = Ticket(owner=owner, title=title, body=body, priority=priority, status=status)
    if attachment is not None:
        name = os.path.basename(attachment.name or "") or "attachment"
        ticket.attachment = attachment if attachment.name == name else File(attachment, name)
    ticket.full_clean()
    ticket.save()
    return ticket


def update_ticket(ticket: Ticket, **changes: Any) -> Ticket:
    """Change the user-editable fields, validate, save; the ticket is left as it was on error.

    Owner and dates are not editable, so asking for them raises ``UnknownTicketField``
    (a ``ValueError``) instead of being ignored.
    """
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise UnknownTicketField(unknown, UPDATABLE_FIELDS)
    previous = {field: getattr(ticket, field) for field in changes}
    for field, value in changes.items():
        setattr(ticket, field, value)
    try:
        ticket.full_clean()
    except ValidationError:
        for field, value in previous.items():
            setattr(ticket, field, value)
        raise
    ticket.save()
    return ticket


def ticket_as_dict(ticket: Ticket) -> dict[str, Any]:
    """The JSON shape shared by ``/api/tickets/`` and ``/api/v2/tickets``, which parity compares."""
    return {
        "id": ticket.pk,
        "title": ticket.title,
        "body": ticket.body,
        "status": ticket.status,
        "priority": ticket.priority,
        "owner": ticket.owner.get_username(),
        "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
        "attachment_url": (
            reverse("ticket-attachment", args=[ticket.pk]) if ticket.attachment else None
        ),
    }
