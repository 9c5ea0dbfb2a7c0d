"""Django's auth views as wired into the project: login with ?next=, logout by POST, password change."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.test import Client


def test_login_page_renders_with_next(client: Client, db: None) -> None:
    page = client.get("/accounts/login/?next=/tickets/").content.decode()

    assert '<input type="hidden" name="next" value="/tickets/">' in page
    assert 'name="csrfmiddlewaretoken"' in page


def test_login_returns_to_next(client: Client, alice: AbstractUser, demo_password: str) -> None:
    response = client.post(
        "/accounts/login/",
        {"username": "alice", "password": demo_password, "next": "/tickets/?status=open"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/tickets/?status=open"
    assert client.get("/tickets/").status_code == 200


def test_login_without_next_lands_on_the_ticket_list(
    client: Client, alice: AbstractUser, demo_password: str
) -> None:
    response = client.post("/accounts/login/", {"username": "alice", "password": demo_password})

    assert response["Location"] == "/tickets/"


def test_login_ignores_a_next_on_another_site(
    client: Client, alice: AbstractUser, demo_password: str
) -> None:
    response = client.post(
        "/accounts/login/",
        {"username": "alice", "password": demo_password, "next": "https://evil.example/"},
    )

    assert response["Location"] == "/tickets/"


def test_login_with_a_wrong_password_stays_on_the_form(client: Client, alice: AbstractUser) -> None:
    response = client.post("/accounts/login/", {"username": "alice", "password": "guess"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert client.get("/tickets/").status_code == 302


def test_logout_by_post_ends_the_session(alice_client: Client) -> None:
    response = alice_client.post("/accounts/logout/")

    assert response["Location"] == "/accounts/login/"
    assert alice_client.get("/tickets/")["Location"] == "/accounts/login/?next=/tickets/"
    assert alice_client.get("/api/tickets/").status_code == 401


def test_logout_by_get_is_refused(alice_client: Client) -> None:
    assert alice_client.get("/accounts/logout/").status_code == 405
    assert alice_client.get("/tickets/").status_code == 200


def test_password_change_takes_effect_and_ends_other_sessions(
    alice: AbstractUser, demo_password: str
) -> None:
    this_browser, other_browser = Client(), Client()
    this_browser.login(username="alice", password=demo_password)
    other_browser.login(username="alice", password=demo_password)

    response = this_browser.post(
        "/accounts/password_change/",
        {
            "old_password": demo_password,
            "new_password1": "a-much-better-secret-42",
            "new_password2": "a-much-better-secret-42",
        },
        follow=True,
    )

    assert response.redirect_chain == [("/accounts/password_change/done/", 302)]
    assert "Your password was changed." in response.content.decode()
    assert this_browser.get("/tickets/").status_code == 200
    assert other_browser.get("/tickets/").status_code == 302
    assert not Client().login(username="alice", password=demo_password)
    assert Client().login(username="alice", password="a-much-better-secret-42")


def test_password_change_rejects_a_wrong_old_password(alice_client: Client) -> None:
    response = alice_client.post(
        "/accounts/password_change/",
        {
            "old_password": "not-it",
            "new_password1": "a-much-better-secret-42",
            "new_password2": "a-much-better-secret-42",
        },
    )

    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.content.decode()
