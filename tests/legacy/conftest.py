"""Fixtures for the legacy project's own tests: signed-in clients and a ticket of bob's with a file."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AbstractUser
from django.core.files.base import ContentFile
from django.test import Client

from legacy_django.tickets.models import Ticket
from legacy_django.tickets.queries import create_ticket


@pytest.fixture
def alice_client(alice: AbstractUser) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_secret_ticket(bob: AbstractUser) -> Ticket:
    """A ticket of bob's with an attachment, so every route has something to leak."""
    return create_ticket(
        bob,
        title="Bob: salary spreadsheet will not open",
        body="Attached the file that fails.",
        attachment=ContentFile(b"bob's salaries", name="salaries.csv"),
    )
