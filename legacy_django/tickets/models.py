"""The one model of the support desk; its field names are the JSON contract of both APIs."""

from __future__ import annotations

import posixpath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.db import models
from django.urls import reverse


class Ticket(models.Model):
    """A request for help, owned by the user who filed it and visible to them and to staff."""

    class Status(models.TextChoices):
        OPEN = "open"
        PENDING = "pending"
        CLOSED = "closed"

    class Priority(models.TextChoices):
        LOW = "low"
        NORMAL = "normal"
        HIGH = "high"
        URGENT = "urgent"

    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    status = models.CharField(
        max_length=10, choices=Status, default=Status.OPEN, db_index=True
    )
    priority = models.CharField(max_length=10, choices=Priority, default=Priority.NORMAL)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tickets"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    attachment = models.FileField(upload_to="attachments/%Y/%m/", blank=True)

    class Meta:
        # "-id" breaks ties between tickets created in the same instant (the seed data).
        ordering = ["-created_at", "-id"]
        # The orders the lists page in (``/api/v2/tickets`` by creation, the Gradio table by
        # last change), for everyone (staff) and per owner: a page is an index range scan.
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="ticket_created_desc"),
            models.Index(fields=["owner", "-created_at", "-id"], name="ticket_owner_created_desc"),
            models.Index(fields=["-updated_at", "-id"], name="ticket_updated_desc"),
            models.Index(fields=["owner", "-updated_at", "-id"], name="ticket_owner_updated_desc"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    def clean(self) -> None:
        """Refuse text no database stores as sent: NUL characters (PostgreSQL rejects them;
        Django's forms already do) and lone surrogates, which a JSON escape (``"\\ud800"``)
        carries past every form and which cannot be encoded as UTF-8 on save."""
        errors: dict[str, ValidationError] = {}
        for field in ("title", "body"):
            value = getattr(self, field)
            try:
                ProhibitNullCharactersValidator()(value)
                value.encode("utf-8")
            except ValidationError as exc:
                errors[field] = exc
            except UnicodeEncodeError:
                errors[field] = ValidationError("Text must be valid Unicode (it holds an unpaired surrogate).", code="invalid_unicode")
        if errors:
            raise ValidationError(errors)

    @property
    def attachment_filename(self) -> str:
        """The name the user uploaded, without the dated folder storage put it in."""
        return posixpath.basename(self.attachment.name or "")

    def get_absolute_url(self) -> str:
        return reverse("ticket-detail", args=[self.pk])
