"""The ticket pages (``legacy_django/tickets/views.py``) as a signed-in user meets them."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import AbstractUser
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http.response import HttpResponseBase
from django.test import Client

from legacy_django.tickets.models import Ticket
from legacy_django.tickets.queries import create_ticket


def _body(response: HttpResponseBase) -> bytes:
    """Read a response whole, streaming or not; reading also closes any file it streams."""
    if response.streaming:
        return b"".join(response.streaming_content)  # type: ignore[attr-defined]
    return response.content  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize(
    "path", ["/", "/tickets/", "/tickets/new/", "/tickets/export.csv", "/tickets/1/"]
)
def test_pages_send_anonymous_users_to_login(client: Client, db: None, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_home_links_old_and_new_pages(alice_client: Client) -> None:
    page = alice_client.get("/").content.decode()

    for link in ['href="/tickets/"', 'href="/ui/tickets/"', 'href="/ui/assistant/"', "/api/v2/docs"]:
        assert link in page


def test_nav_bar_names_the_user_and_logs_out_by_post(alice_client: Client) -> None:
    page = alice_client.get("/tickets/").content.decode()

    assert "Signed in as <strong>alice</strong>" in page
    assert '<form method="post" action="/accounts/logout/">' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert 'href="/tickets/new/"' in page
    assert 'href="/tickets/export.csv"' in page
    assert 'href="/admin/"' not in page


def test_nav_bar_links_the_admin_for_staff(admin_client: Client) -> None:
    assert 'href="/admin/"' in admin_client.get("/tickets/").content.decode()


def test_ticket_list_shows_only_the_users_tickets(
    alice_client: Client, bob_secret_ticket: Ticket
) -> None:
    page = alice_client.get("/tickets/").content.decode()

    assert page.count("Alice:") == 9
    assert "Bob:" not in page


def test_ticket_list_filters_by_status(alice_client: Client) -> None:
    page = alice_client.get("/tickets/", {"status": "closed"}).content.decode()

    assert "Alice: Password expired while travelling" in page
    assert "Alice: VPN drops every hour" not in page
    assert page.count("Alice:") == 3


def test_ticket_list_answers_400_to_an_unknown_status(alice_client: Client) -> None:
    response = alice_client.get("/tickets/", {"status": "done"})

    assert response.status_code == 400
    assert "Unknown status &#x27;done&#x27;" in response.content.decode()


def test_ticket_list_pages_by_ten_and_keeps_the_status_filter(
    alice: AbstractUser, alice_client: Client
) -> None:
    for number in range(1, 12):
        create_ticket(alice, title=f"Alice: extra {number:02}")

    first = alice_client.get("/tickets/", {"status": "open"}).content.decode()
    second = alice_client.get("/tickets/", {"status": "open", "page": "2"}).content.decode()

    assert "Page 1 of 2" in first
    assert first.count("Alice:") == 10
    assert 'href="?status=open&amp;page=2"' in first
    assert "Page 2 of 2" in second
    assert second.count("Alice:") == 4  # 14 open: 3 seeded + 11 extra
    assert 'href="?status=open&amp;page=1"' in second


def test_ticket_list_out_of_range_page_shows_the_last_page(alice_client: Client) -> None:
    page = alice_client.get("/tickets/", {"page": "99"}).content.decode()

    assert "Alice:" in page


def test_create_form_is_a_multipart_form_with_a_csrf_token(alice_client: Client) -> None:
    page = alice_client.get("/tickets/new/").content.decode()

    assert 'enctype="multipart/form-data"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert 'type="file" name="attachment"' in page


def test_create_without_csrf_token_is_refused(alice: AbstractUser) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = client.post("/tickets/new/", {"title": "Alice: forged", "priority": "normal"})

    assert response.status_code == 403
    assert not Ticket.objects.filter(title="Alice: forged").exists()


def test_create_with_upload_then_download_it(alice: AbstractUser) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get("/tickets/new/")
    upload = SimpleUploadedFile("screenshot.png", b"\x89PNG not really", content_type="image/png")

    response = client.post(
        "/tickets/new/",
        {
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
            "title": "Alice: Login screen is blank",
            "body": "See the screenshot.",
            "priority": "high",
            "attachment": upload,
        },
        follow=True,
    )

    ticket = Ticket.objects.get(title="Alice: Login screen is blank")
    assert response.redirect_chain == [(f"/tickets/{ticket.pk}/", 302)]
    page = response.content.decode()
    assert f"Ticket #{ticket.pk} created." in page
    assert f'href="/tickets/{ticket.pk}/attachment">screenshot.png</a>' in page
    assert (ticket.owner, ticket.priority, ticket.status) == (alice, "high", "open")

    download = client.get(f"/tickets/{ticket.pk}/attachment")

    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="screenshot.png"'
    assert _body(download) == b"\x89PNG not really"


def test_create_without_attachment(alice_client: Client) -> None:
    response = alice_client.post(
        "/tickets/new/", {"title": "Alice: Mouse double-clicks", "priority": "low"}
    )

    ticket = Ticket.objects.get(title="Alice: Mouse double-clicks")
    assert response["Location"] == f"/tickets/{ticket.pk}/"
    assert alice_client.get(f"/tickets/{ticket.pk}/attachment").status_code == 404


def test_create_shows_errors_for_invalid_input(alice_client: Client) -> None:
    response = alice_client.post("/tickets/new/", {"title": "", "priority": "whenever"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "This field is required." in page
    assert "Select a valid choice." in page


def test_detail_shows_the_ticket(alice: AbstractUser, alice_client: Client) -> None:
    ticket = Ticket.objects.get(title="Alice: VPN drops every hour")

    page = alice_client.get(f"/tickets/{ticket.pk}/").content.decode()

    assert "Alice: VPN drops every hour" in page
    assert "disconnects on the hour" in page


def test_detail_form_changes_the_status(alice_client: Client) -> None:
    ticket = Ticket.objects.get(title="Alice: VPN drops every hour")

    response = alice_client.post(f"/tickets/{ticket.pk}/", {"status": "closed"}, follow=True)

    ticket.refresh_from_db()
    assert ticket.status == "closed"
    assert f"Ticket #{ticket.pk} is now Closed." in response.content.decode()


def test_export_streams_the_users_tickets_as_csv(
    alice_client: Client, bob_secret_ticket: Ticket
) -> None:
    response = alice_client.get("/tickets/export.csv")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"] == 'attachment; filename="tickets.csv"'
    rows = list(csv.reader(io.StringIO(_body(response).decode())))
    header, *tickets = rows
    assert header == ["id", "title", "status", "priority", "owner", "created_at", "updated_at"]
    assert len(tickets) == 9
    assert {row[4] for row in tickets} == {"alice"}


def test_export_for_staff_holds_every_ticket_and_honours_the_filter(
    admin_client: Client,
) -> None:
    everything = list(csv.reader(io.StringIO(_body(admin_client.get("/tickets/export.csv")).decode())))
    pending = list(
        csv.reader(
            io.StringIO(_body(admin_client.get("/tickets/export.csv?status=pending")).decode())
        )
    )

    assert len(everything) == 1 + 18
    assert len(pending) == 1 + 6
    assert {row[2] for row in pending[1:]} == {"pending"}


def test_export_keeps_commas_and_quotes_intact(alice: AbstractUser, alice_client: Client) -> None:
    create_ticket(alice, title='Alice: "Save as", then crash')

    rows = list(csv.reader(io.StringIO(_body(alice_client.get("/tickets/export.csv")).decode())))

    assert rows[1][1] == 'Alice: "Save as", then crash'


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/tickets/{pk}/"),
        ("post", "/tickets/{pk}/"),
        ("get", "/tickets/{pk}/attachment"),
        ("get", "/api/tickets/{pk}/"),
    ],
)
def test_another_users_ticket_is_404_on_every_route(
    alice_client: Client, bob_secret_ticket: Ticket, method: str, path: str
) -> None:
    url = path.format(pk=bob_secret_ticket.pk)

    response = getattr(alice_client, method)(url, {"status": "closed"} if method == "post" else {})

    assert response.status_code == 404
    assert b"salaries" not in _body(response)
    bob_secret_ticket.refresh_from_db()
    assert bob_secret_ticket.status == "open"


def test_another_users_ticket_is_missing_from_every_listing(
    alice_client: Client, bob_secret_ticket: Ticket
) -> None:
    for path in ["/tickets/", "/tickets/export.csv", "/api/tickets/"]:
        assert b"salary spreadsheet" not in _body(alice_client.get(path))


def test_staff_can_open_any_ticket_and_its_attachment(
    admin_client: Client, bob_secret_ticket: Ticket
) -> None:
    detail = admin_client.get(f"/tickets/{bob_secret_ticket.pk}/")
    download = admin_client.get(f"/tickets/{bob_secret_ticket.pk}/attachment")

    assert "Bob: salary spreadsheet will not open" in detail.content.decode()
    assert _body(download) == b"bob's salaries"


def test_attachment_missing_from_storage_is_404(
    bob: AbstractUser, bob_secret_ticket: Ticket
) -> None:
    bob_secret_ticket.attachment.delete(save=False)
    bob_secret_ticket.attachment.name = "attachments/2020/01/gone.txt"
    bob_secret_ticket.save()
    client = Client()
    client.force_login(bob)

    assert client.get(f"/tickets/{bob_secret_ticket.pk}/attachment").status_code == 404
