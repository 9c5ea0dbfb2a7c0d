"""The permission rules and ticket operations every UI shares (``legacy_django/tickets/queries.py``)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile

from legacy_django.tickets.models import Ticket
from legacy_django.tickets.queries import (
    create_ticket,
    filter_by_status,
    get_visible_ticket,
    ticket_as_dict,
    update_ticket,
    visible_tickets,
)


def test_users_see_only_their_own_tickets(alice: AbstractUser, bob: AbstractUser) -> None:
    alice_titles = [ticket.title for ticket in visible_tickets(alice)]

    assert len(alice_titles) == 9
    assert all(title.startswith("Alice:") for title in alice_titles)
    assert {ticket.owner for ticket in visible_tickets(bob)} == {bob}


def test_staff_see_every_ticket(admin_user: AbstractUser) -> None:
    owners = {ticket.owner.get_username() for ticket in visible_tickets(admin_user)}

    assert visible_tickets(admin_user).count() == 18
    assert owners == {"alice", "bob"}


def test_anonymous_users_see_nothing(demo_users: dict[str, AbstractUser]) -> None:
    assert list(visible_tickets(AnonymousUser())) == []


def test_deactivated_users_see_nothing(alice: AbstractUser, admin_user: AbstractUser) -> None:
    alice.is_active = False
    admin_user.is_active = False

    assert list(visible_tickets(alice)) == []
    assert list(visible_tickets(admin_user)) == []


def test_newest_tickets_come_first(alice: AbstractUser) -> None:
    newest = create_ticket(alice, title="Alice: newest")

    assert visible_tickets(alice).first() == newest


@pytest.mark.parametrize("status", [None, ""])
def test_no_status_filter_keeps_everything(alice: AbstractUser, status: str | None) -> None:
    assert filter_by_status(visible_tickets(alice), status).count() == 9


@pytest.mark.parametrize("status", ["open", "pending", "closed"])
def test_status_filter_keeps_that_status(alice: AbstractUser, status: str) -> None:
    statuses = [ticket.status for ticket in filter_by_status(visible_tickets(alice), status)]

    assert statuses == [status] * 3


def test_unknown_status_is_an_error_not_an_empty_list(alice: AbstractUser) -> None:
    with pytest.raises(ValueError, match="'done'.*open, pending, closed"):
        filter_by_status(visible_tickets(alice), "done")


def test_get_visible_ticket_hides_other_users_tickets_like_missing_ones(
    alice: AbstractUser, bob: AbstractUser, admin_user: AbstractUser
) -> None:
    bobs = visible_tickets(bob).first()
    assert bobs is not None

    with pytest.raises(Ticket.DoesNotExist):
        get_visible_ticket(alice, bobs.pk)
    with pytest.raises(Ticket.DoesNotExist):
        get_visible_ticket(alice, 10**9)
    with pytest.raises(Ticket.DoesNotExist):
        get_visible_ticket(AnonymousUser(), bobs.pk)
    assert get_visible_ticket(bob, bobs.pk) == bobs
    assert get_visible_ticket(admin_user, bobs.pk) == bobs


def test_create_ticket_applies_defaults(alice: AbstractUser) -> None:
    ticket = create_ticket(alice, title="Alice: Docking station flickers")

    ticket.refresh_from_db()
    assert (ticket.owner, ticket.status, ticket.priority) == (alice, "open", "normal")
    assert ticket.body == ""
    assert not ticket.attachment


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "priority": "whenever"}, "priority"),
        ({"title": "ok", "status": "done"}, "status"),
        ({"title": "a\x00b"}, "title"),
        ({"title": "ok", "body": "\x00"}, "body"),
        ({"title": "\ud800"}, "title"),
        ({"title": "ok", "body": "lone \udfff surrogate"}, "body"),
    ],
)
def test_create_ticket_rejects_invalid_input(
    alice: AbstractUser, fields: dict[str, str], bad_field: str
) -> None:
    with pytest.raises(ValidationError) as excinfo:
        create_ticket(alice, **fields)

    assert bad_field in excinfo.value.message_dict
    assert not Ticket.objects.filter(owner=alice).exclude(title__startswith="Alice:").exists()


def test_create_ticket_stores_the_attachment_under_its_base_name(
    alice: AbstractUser, tmp_path: Path
) -> None:
    source = tmp_path / "error log.txt"
    source.write_bytes(b"Traceback (most recent call last): ...")

    with source.open("rb") as handle:
        ticket = create_ticket(alice, title="Alice: crash report", attachment=File(handle))

    today = datetime.date.today()
    assert ticket.attachment.name.startswith(f"attachments/{today:%Y/%m}/")
    assert ticket.attachment_filename == "error_log.txt"
    with ticket.attachment.open("rb") as stored:
        assert stored.read() == b"Traceback (most recent call last): ..."


def test_update_ticket_changes_editable_fields(alice: AbstractUser) -> None:
    ticket = create_ticket(alice, title="Alice: old title")

    update_ticket(ticket, title="Alice: new title", status="pending", priority="urgent", body="b")

    ticket.refresh_from_db()
    assert (ticket.title, ticket.status, ticket.priority, ticket.body) == (
        "Alice: new title",
        "pending",
        "urgent",
        "b",
    )


def test_update_ticket_refuses_fields_users_may_not_change(
    alice: AbstractUser, bob: AbstractUser
) -> None:
    ticket = create_ticket(alice, title="Alice: mine")

    with pytest.raises(ValueError, match="owner"):
        update_ticket(ticket, owner=bob)

    ticket.refresh_from_db()
    assert ticket.owner == alice


def test_update_ticket_leaves_the_ticket_unchanged_when_invalid(alice: AbstractUser) -> None:
    ticket = create_ticket(alice, title="Alice: keep me")

    with pytest.raises(ValidationError):
        update_ticket(ticket, title="Alice: changed", status="done")

    assert (ticket.title, ticket.status) == ("Alice: keep me", "open")
    ticket.refresh_from_db()
    assert (ticket.title, ticket.status) == ("Alice: keep me", "open")


def test_ticket_as_dict_is_the_json_contract(alice: AbstractUser) -> None:
    ticket = create_ticket(
        alice,
        title="Alice: Screen glare",
        body="Too bright.",
        priority="low",
        attachment=ContentFile(b"jpeg", name="glare.jpg"),
    )

    data = ticket_as_dict(ticket)

    assert data == {
        "id": ticket.pk,
        "title": "Alice: Screen glare",
        "body": "Too bright.",
        "status": "open",
        "priority": "low",
        "owner": "alice",
        "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
        "attachment_url": f"/tickets/{ticket.pk}/attachment",
    }
    assert datetime.datetime.fromisoformat(data["created_at"]).tzinfo is not None


def test_ticket_without_attachment_has_no_attachment_url(alice: AbstractUser) -> None:
    ticket = create_ticket(alice, title="Alice: no file")

    assert ticket_as_dict(ticket)["attachment_url"] is None
