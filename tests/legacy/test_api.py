"""The legacy JSON API (``legacy_django/tickets/api.py``) as an API client meets it."""

from __future__ import annotations

import pytest
from django.test import Client

from legacy_django.tickets.models import Ticket
from legacy_django.tickets.queries import ticket_as_dict

_KEYS = {"id", "title", "body", "status", "priority", "owner", "created_at", "updated_at", "attachment_url"}


@pytest.mark.parametrize("path", ["/api/tickets/", "/api/tickets/1/"])
def test_anonymous_callers_get_401_json_not_a_login_redirect(
    client: Client, db: None, path: str
) -> None:
    response = client.get(path)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Authentication required."}


def test_list_returns_the_users_tickets(alice_client: Client) -> None:
    response = alice_client.get("/api/tickets/")

    assert response.status_code == 200
    tickets = response.json()
    assert isinstance(tickets, list)
    assert len(tickets) == 9
    assert all(set(ticket) == _KEYS for ticket in tickets)
    assert {ticket["owner"] for ticket in tickets} == {"alice"}
    assert all(ticket["title"].startswith("Alice:") for ticket in tickets)


def test_list_for_staff_holds_every_ticket(admin_client: Client) -> None:
    owners = [ticket["owner"] for ticket in admin_client.get("/api/tickets/").json()]

    assert sorted(set(owners)) == ["alice", "bob"]
    assert len(owners) == 18


def test_list_filters_by_status(alice_client: Client) -> None:
    tickets = alice_client.get("/api/tickets/", {"status": "pending"}).json()

    assert [ticket["status"] for ticket in tickets] == ["pending"] * 3


def test_list_answers_400_json_to_an_unknown_status(alice_client: Client) -> None:
    response = alice_client.get("/api/tickets/", {"status": "done"})

    assert response.status_code == 400
    assert "Unknown status 'done'" in response.json()["detail"]


def test_detail_returns_one_ticket(alice_client: Client) -> None:
    ticket = Ticket.objects.get(title="Alice: VPN drops every hour")

    response = alice_client.get(f"/api/tickets/{ticket.pk}/")

    assert response.status_code == 200
    assert response.json() == ticket_as_dict(ticket)
    assert response.json()["status"] == "open"


def test_detail_of_another_users_ticket_is_404_like_a_missing_one(
    alice_client: Client, bob_secret_ticket: Ticket
) -> None:
    hidden = alice_client.get(f"/api/tickets/{bob_secret_ticket.pk}/")
    missing = alice_client.get("/api/tickets/999999/")

    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json() == {"detail": "Not found."}


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/api/tickets/", "/api/tickets/1/"])
def test_writes_are_405_json(alice: object, method: str, path: str) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)  # type: ignore[arg-type]

    response = getattr(client, method)(path)

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json() == {"detail": f'Method "{method.upper()}" not allowed.'}
    assert Ticket.objects.count() == 18
