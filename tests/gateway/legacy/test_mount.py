"""Every legacy URL answers through the gateway exactly as Django's own test client sees it.

Same database, same session: status, redirect target, content type, the names and flags of
``Set-Cookie``, and the body (modulo the per-response CSRF token) must be identical.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterable
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractUser
from django.core.files.base import ContentFile
from django.http import HttpResponseBase
from django.core.wsgi import get_wsgi_application
from django.test import Client

from legacy_django.tickets.models import Ticket
from legacy_django.tickets.queries import create_ticket

from tests.gateway.conftest import BASE_URL, login
from tests.gateway.legacy.test_environ import gunicorns_environ

pytestmark = pytest.mark.django_db(transaction=True)

_CSRF_VALUES = re.compile(rb'(name="csrfmiddlewaretoken" value=")[^"]+(")')


def _normalised(body: bytes) -> bytes:
    return _CSRF_VALUES.sub(rb"\1<token>\2", body)


def _cookie_flags(set_cookie_headers: Iterable[str]) -> dict[str, dict[str, Any]]:
    cookies: dict[str, dict[str, Any]] = {}
    for header in set_cookie_headers:
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            cookies[name] = {flag: bool(morsel[flag]) for flag in ("path", "httponly", "secure", "samesite", "max-age", "expires")}
            cookies[name]["samesite"] = morsel["samesite"]
    return cookies


def _django_body(response: HttpResponseBase) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)  # type: ignore[attr-defined]
    return bytes(response.content)  # type: ignore[attr-defined]


async def assert_same_answer(gateway: httpx.AsyncClient, django_client: Client, path: str) -> httpx.Response:
    expected = await sync_to_async(django_client.get)(path)
    expected_body = await sync_to_async(_django_body)(expected)
    actual = await gateway.get(path)
    assert actual.status_code == expected.status_code, path
    assert actual.headers.get("location") == expected.headers.get("Location"), path
    assert actual.headers.get("content-type") == expected.headers.get("Content-Type"), path
    assert actual.headers.get("content-disposition") == expected.headers.get("Content-Disposition"), path
    expected_cookies = _cookie_flags(morsel.OutputString() for morsel in expected.cookies.values())
    assert _cookie_flags(actual.headers.get_list("set-cookie")) == expected_cookies, path
    assert _normalised(actual.content) == _normalised(expected_body), path
    return actual


@pytest.fixture
def bobs_ticket_with_file(bob: AbstractUser) -> Ticket:
    return create_ticket(bob, title="Bob: scanned form", attachment=ContentFile(b"%PDF-1.4 bob", name="form.pdf"))


@pytest.fixture
def alices_ticket_with_file(alice: AbstractUser) -> Ticket:
    return create_ticket(alice, title="Alice: log file", attachment=ContentFile(b"line 1\nline 2\n" * 1000, name="app.log"))


def _session_clients(gateway: httpx.AsyncClient, user: AbstractUser | None) -> Client:
    django_client = Client()
    if user is not None:
        django_client.force_login(user)
        gateway.cookies.set("sessionid", django_client.cookies["sessionid"].value)
    return django_client


ANONYMOUS_PATHS = [
    "/",
    "/tickets/",
    "/tickets/?status=open",
    "/accounts/login/",
    "/accounts/login/?next=/tickets/%3Fstatus%3Dopen",
    "/accounts/password_change/",
    "/admin/",
    "/admin/login/?next=/admin/",
    "/api/tickets/",
    "/api/tickets/1/",
    "/tickets/export.csv",
    "/no/such/page/",
    "/static/admin/css/base.css",
]


@pytest.mark.parametrize("path", ANONYMOUS_PATHS)
async def test_anonymous_legacy_urls(gateway: httpx.AsyncClient, demo_users: Any, path: str) -> None:
    await assert_same_answer(gateway, _session_clients(gateway, None), path)


def _under_gunicorn(target: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """Django's own WSGI handler answering ``GET target`` from the environ gunicorn builds.

    Not Django's test client: it takes ``SCRIPT_NAME`` into ``request.path`` but never sets
    the script prefix ``reverse()`` reads, which only ``WSGIHandler`` does."""
    environ = gunicorns_environ(target)
    assert environ is not None, f"gunicorn refuses {target}"
    started: list[Any] = []
    response = get_wsgi_application()(environ, lambda status, headers, exc_info=None: started.extend([status, headers]))
    try:
        body = b"".join(response)
    finally:
        response.close()  # type: ignore[attr-defined]
    return int(started[0].split()[0]), started[1], body


@pytest.fixture
async def gateway_under_app(gateway_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway started with ``SCRIPT_NAME=/app`` in its environment, as gunicorn would be."""
    monkeypatch.setenv("SCRIPT_NAME", "/app")
    async with gateway_factory() as client:
        yield client


@pytest.mark.parametrize("path", ANONYMOUS_PATHS)
async def test_anonymous_legacy_urls_under_script_name(gateway_under_app: httpx.AsyncClient, demo_users: Any, path: str) -> None:
    # request.path, reverse() and the redirects all carry /app, as under gunicorn with SCRIPT_NAME=/app.
    status, headers, body = await sync_to_async(_under_gunicorn)("/app" + path)
    expected = httpx.Headers(headers)
    actual = await gateway_under_app.get("/app" + path)
    assert actual.status_code == status, path
    for name in ("location", "content-type", "content-disposition"):
        assert actual.headers.get(name) == expected.get(name), (path, name)
    assert _cookie_flags(actual.headers.get_list("set-cookie")) == _cookie_flags(expected.get_list("set-cookie")), path
    assert _normalised(actual.content) == _normalised(body), path


async def test_a_signed_in_journey_under_script_name(gateway_under_app: httpx.AsyncClient, demo_users: Any, demo_password: str) -> None:
    form = await gateway_under_app.get("/app/accounts/login/?next=/app/tickets/")
    assert 'action="/app/accounts/login/"' in form.text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token
    response = await gateway_under_app.post(
        "/app/accounts/login/?next=/app/tickets/",
        data={"username": "alice", "password": demo_password, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{BASE_URL}/app/accounts/login/"},
    )
    assert (response.status_code, response.headers["location"]) == (302, "/app/tickets/")
    page = await gateway_under_app.get("/app/tickets/")
    assert page.status_code == 200 and "Alice" in page.text
    assert 'href="/app/tickets/new/"' in page.text
    assert (await gateway_under_app.get("/app/tickets")).headers["location"] == "/app/tickets/"  # APPEND_SLASH
    assert (await gateway_under_app.get("/app/admin/")).headers["location"] == "/app/admin/login/?next=/app/admin/"
    outside = await gateway_under_app.get("/tickets/")
    assert outside.status_code == 404  # no URL of this site (gunicorn answers 500)
    assert (await gateway_under_app.get("/healthz")).status_code == 200  # the new side is not under it


async def test_signed_in_legacy_urls(
    gateway: httpx.AsyncClient, alice: AbstractUser, bob: AbstractUser, alices_ticket_with_file: Ticket, bobs_ticket_with_file: Ticket
) -> None:
    django_client = await sync_to_async(_session_clients)(gateway, alice)
    own = alices_ticket_with_file.pk
    other = bobs_ticket_with_file.pk
    for path in [
        "/",
        "/tickets/",
        "/tickets/?status=open",
        "/tickets/?status=closed&page=1",
        "/tickets/?page=2",
        "/tickets/?status=bogus",
        "/tickets/new/",
        f"/tickets/{own}/",
        f"/tickets/{other}/",
        f"/tickets/{own}/attachment",
        f"/tickets/{other}/attachment",
        "/tickets/export.csv",
        "/api/tickets/",
        "/api/tickets/?status=pending",
        f"/api/tickets/{own}/",
        f"/api/tickets/{other}/",
        "/accounts/password_change/",
        "/admin/",
    ]:
        await assert_same_answer(gateway, django_client, path)


async def test_staff_admin_pages(gateway: httpx.AsyncClient, admin_user: AbstractUser) -> None:
    django_client = await sync_to_async(_session_clients)(gateway, admin_user)
    for path in ["/admin/", "/admin/tickets/ticket/", "/admin/tickets/ticket/?status__exact=open&q=VPN", "/admin/auth/user/"]:
        response = await assert_same_answer(gateway, django_client, path)
        assert response.status_code == 200


async def test_streamed_export_and_download(gateway: httpx.AsyncClient, alice: AbstractUser, alices_ticket_with_file: Ticket) -> None:
    await sync_to_async(_session_clients)(gateway, alice)
    export = await gateway.get("/tickets/export.csv")
    assert export.headers["content-type"].startswith("text/csv")
    assert "content-length" not in export.headers, "the export must stream, not be buffered"
    lines = export.text.splitlines()
    assert len(lines) == 1 + await Ticket.objects.filter(owner=alice).acount()
    download = await gateway.get(f"/tickets/{alices_ticket_with_file.pk}/attachment")
    assert download.content == b"line 1\nline 2\n" * 1000
    assert 'attachment; filename="app' in download.headers["content-disposition"]


async def test_login_next_and_logout_through_the_gateway(gateway: httpx.AsyncClient, demo_users: Any, demo_password: str) -> None:
    response = await login(gateway, "alice", demo_password, next_url="/tickets/?status=open")
    assert response.headers["location"] == "/tickets/?status=open"
    cookies = _cookie_flags(response.headers.get_list("set-cookie"))
    assert cookies["sessionid"]["httponly"] and cookies["sessionid"]["samesite"] == "Lax"
    page = await gateway.get("/tickets/?status=open")
    assert page.status_code == 200 and "Alice" in page.text and "Bob:" not in page.text
    logout = await gateway.post(
        "/accounts/logout/", data={"csrfmiddlewaretoken": gateway.cookies["csrftoken"]}, headers={"Referer": f"{BASE_URL}/"}
    )
    assert logout.status_code == 302 and logout.headers["location"] == "/accounts/login/"
    assert (await gateway.get("/tickets/")).status_code == 302


async def test_wrong_password_stays_on_the_login_form(gateway: httpx.AsyncClient, demo_users: Any) -> None:
    form = await gateway.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token
    response = await gateway.post(
        "/accounts/login/", data={"username": "alice", "password": "wrong", "csrfmiddlewaretoken": token.group(1)}
    )
    assert response.status_code == 200
    assert "sessionid" not in gateway.cookies


async def test_post_without_csrf_token_is_refused(gateway: httpx.AsyncClient, demo_users: Any, demo_password: str) -> None:
    await login(gateway, "alice", demo_password)
    before = await Ticket.objects.acount()
    response = await gateway.post("/tickets/new/", data={"title": "forged", "priority": "normal"})
    assert response.status_code == 403
    assert await Ticket.objects.acount() == before


async def test_multipart_upload_creates_a_downloadable_ticket(gateway: httpx.AsyncClient, demo_users: Any, demo_password: str) -> None:
    await login(gateway, "alice", demo_password)
    form = await gateway.get("/tickets/new/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token
    payload = bytes(range(256)) * 4096  # 1 MiB, every byte value
    response = await gateway.post(
        "/tickets/new/",
        data={"title": "Alice: uploaded through the gateway", "body": "see file", "priority": "high", "csrfmiddlewaretoken": token.group(1)},
        files={"attachment": ("dump.bin", payload, "application/octet-stream")},
        headers={"Referer": f"{BASE_URL}/tickets/new/"},
    )
    assert response.status_code == 302, response.text
    ticket = await Ticket.objects.aget(title="Alice: uploaded through the gateway")
    assert response.headers["location"] == f"/tickets/{ticket.pk}/"
    detail = await gateway.get(response.headers["location"])
    assert "uploaded through the gateway" in detail.text
    download = await gateway.get(f"/tickets/{ticket.pk}/attachment")
    assert download.status_code == 200 and download.content == payload


async def test_djangos_own_upload_limits_hold_through_the_gateway(
    gateway: httpx.AsyncClient, demo_users: Any, demo_password: str, settings: Any
) -> None:
    """The gateway's upload limit is for new routes; legacy URLs keep Django's settings."""
    await login(gateway, "alice", demo_password)
    form = await gateway.get("/tickets/new/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1_000
    before = await Ticket.objects.acount()
    too_big = await gateway.post(
        "/tickets/new/",
        data={"title": "x" * 20_000, "priority": "normal", "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{BASE_URL}/tickets/new/"},
    )
    assert too_big.status_code == 400  # Django's RequestDataTooBig
    assert await Ticket.objects.acount() == before
    # Files above FILE_UPLOAD_MAX_MEMORY_SIZE are spooled to disk by Django, and still arrive whole.
    payload = b"z" * 300_000
    spooled = await gateway.post(
        "/tickets/new/",
        data={"title": "Alice: spooled upload", "priority": "normal", "csrfmiddlewaretoken": token.group(1)},
        files={"attachment": ("big.bin", payload, "application/octet-stream")},
        headers={"Referer": f"{BASE_URL}/tickets/new/"},
    )
    assert spooled.status_code == 302
    ticket = await Ticket.objects.aget(title="Alice: spooled upload")
    assert (await gateway.get(f"/tickets/{ticket.pk}/attachment")).content == payload
