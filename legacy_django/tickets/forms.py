"""Forms of the ticket pages; saving goes through ``queries`` so the new UIs validate alike."""

from __future__ import annotations

from django import forms

from .models import Ticket


class TicketForm(forms.ModelForm):
    """What a user fills in; owner, status and dates are set by the desk, not by the form."""

    class Meta:
        model = Ticket
        fields = ["title", "body", "priority", "attachment"]
        widgets = {"attachment": forms.FileInput}


class StatusForm(forms.Form):
    """The small form on the detail page that moves a ticket between open, pending and closed."""

    status = forms.ChoiceField(choices=Ticket.Status.choices)
