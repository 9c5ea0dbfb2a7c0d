"""The ticket admin (``legacy_django/tickets/admin.py``) for the help-desk staff."""

from __future__ import annotations

from django.test import Client

from legacy_django.tickets.models import Ticket


def test_staff_see_every_ticket_in_the_changelist(admin_client: Client) -> None:
    response = admin_client.get("/admin/tickets/ticket/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "Alice: VPN drops every hour" in page
    assert "Bob: Printer on floor 3 jams" in page
    assert "18 tickets" in page


def test_staff_search_by_owner_and_filter_by_status(admin_client: Client) -> None:
    page = admin_client.get("/admin/tickets/ticket/", {"q": "bob", "status__exact": "closed"})

    content = page.content.decode()
    assert "Bob: Replace broken keyboard" in content
    assert "Bob: Printer on floor 3 jams" not in content
    assert "Alice:" not in content


def test_staff_can_open_a_ticket_in_the_admin(admin_client: Client) -> None:
    ticket = Ticket.objects.get(title="Bob: Shared drive is full")

    page = admin_client.get(f"/admin/tickets/ticket/{ticket.pk}/change/")

    assert page.status_code == 200
    assert "Bob: Shared drive is full" in page.content.decode()


def test_regular_users_are_sent_to_the_admin_login(alice_client: Client) -> None:
    response = alice_client.get("/admin/tickets/ticket/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
