"""``manage.py seed_demo`` (``legacy_django/tickets/management/commands/seed_demo.py``)."""

from __future__ import annotations

import io
from collections import Counter

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from legacy_django.tickets.models import Ticket

pytestmark = pytest.mark.django_db


def _seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_creates_the_demo_users() -> None:
    _seed()

    users = {user.username: user for user in get_user_model().objects.all()}
    assert set(users) == {"alice", "bob", "admin"}
    assert not users["alice"].is_staff and not users["bob"].is_staff
    assert users["admin"].is_staff and users["admin"].is_superuser
    for username in users:
        assert authenticate(username=username, password="demo-password") is not None


def test_each_regular_user_has_tickets_of_their_own_in_every_status() -> None:
    _seed()

    for username, prefix in [("alice", "Alice: "), ("bob", "Bob: ")]:
        tickets = Ticket.objects.filter(owner__username=username)
        assert Counter(tickets.values_list("status", flat=True)) == {
            "open": 3,
            "pending": 3,
            "closed": 3,
        }
        assert all(title.startswith(prefix) for title in tickets.values_list("title", flat=True))
        assert len(set(tickets.values_list("priority", flat=True))) > 1
        assert all(tickets.values_list("body", flat=True))
    assert not Ticket.objects.filter(owner__username="admin").exists()


def test_running_twice_adds_nothing() -> None:
    first = _seed()
    second = _seed()

    assert get_user_model().objects.count() == 3
    assert Ticket.objects.count() == 18
    assert "18 created, 0 already there" in first
    assert "0 created, 18 already there" in second


def test_running_again_resets_the_demo_passwords() -> None:
    _seed()
    alice = get_user_model().objects.get(username="alice")
    alice.set_password("something-else")
    alice.is_active = False
    alice.save()

    _seed()

    assert authenticate(username="alice", password="demo-password") is not None


def test_password_option_sets_every_demo_password() -> None:
    _seed("--password", "s3cret-for-the-demo")

    for username in ["alice", "bob", "admin"]:
        assert authenticate(username=username, password="s3cret-for-the-demo") is not None
        assert authenticate(username=username, password="demo-password") is None


def test_keeps_tickets_users_have_changed() -> None:
    _seed()
    Ticket.objects.filter(title="Alice: VPN drops every hour").update(status="closed")

    _seed()

    assert Ticket.objects.get(title="Alice: VPN drops every hour").status == "closed"
