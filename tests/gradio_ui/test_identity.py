"""The one user lookup every callback makes from ``gr.Request.username``."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AbstractUser

from gradio_ui.identity import SignInRequired, django_user, request_username

from .conftest import RequestFactory

pytestmark = pytest.mark.django_db(transaction=True)


async def test_the_username_from_the_gateway_is_loaded_as_the_django_user(
    gr_request: RequestFactory, alice: AbstractUser
) -> None:
    user = await django_user(gr_request("alice"))
    assert user.pk == alice.pk


@pytest.mark.parametrize("username", [None, ""])
async def test_no_username_is_a_clear_sign_in_error(
    gr_request: RequestFactory, username: str | None
) -> None:
    with pytest.raises(SignInRequired, match="sign in again"):
        await django_user(gr_request(username))


async def test_an_unknown_user_is_a_clear_sign_in_error(gr_request: RequestFactory) -> None:
    with pytest.raises(SignInRequired) as raised:
        await django_user(gr_request("mallory"))
    assert raised.value.username == "mallory"


async def test_a_deactivated_user_is_refused_on_the_next_event(
    gr_request: RequestFactory, inactive_carol: AbstractUser
) -> None:
    with pytest.raises(SignInRequired):
        await django_user(gr_request("carol"))


def test_request_username_treats_djangos_anonymous_empty_name_as_nobody(
    gr_request: RequestFactory,
) -> None:
    assert request_username(gr_request("alice")) == "alice"
    assert request_username(gr_request("")) is None
    assert request_username(None) is None
