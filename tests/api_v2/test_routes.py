"""``/api/v2`` through the gateway: same data and permissions as the legacy API, CSRF-safe."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.contrib.auth.models import AbstractUser

from legacy_django.tickets.models import Ticket
from tests.gateway.conftest import csrf_headers, login

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def as_alice(gateway: httpx.AsyncClient, demo_users: Any, demo_password: str) -> httpx.AsyncClient:
    await login(gateway, "alice", demo_password)
    return gateway


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v2/me"), ("GET", "/api/v2/tickets"), ("GET", "/api/v2/tickets/1"), ("POST", "/api/v2/tickets"), ("PATCH", "/api/v2/tickets/1")],
)
async def test_anonymous_gets_401_json(gateway: httpx.AsyncClient, db: None, method: str, path: str) -> None:
    response = await gateway.request(method, path, json={})
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication required."}


async def test_me(as_alice: httpx.AsyncClient) -> None:
    assert (await as_alice.get("/api/v2/me")).json() == {"username": "alice", "is_staff": False}


async def test_list_matches_the_legacy_api(as_alice: httpx.AsyncClient) -> None:
    new = await as_alice.get("/api/v2/tickets")
    legacy = await as_alice.get("/api/tickets/")
    assert new.status_code == legacy.status_code == 200
    assert new.json() == legacy.json()
    assert {ticket["owner"] for ticket in new.json()} == {"alice"}
    assert len(new.json()) == 9


async def test_status_filter_and_unknown_status(as_alice: httpx.AsyncClient) -> None:
    open_tickets = (await as_alice.get("/api/v2/tickets", params={"status": "open"})).json()
    assert open_tickets and {t["status"] for t in open_tickets} == {"open"}
    assert open_tickets == (await as_alice.get("/api/tickets/", params={"status": "open"})).json()
    bad = await as_alice.get("/api/v2/tickets", params={"status": "bogus"})
    assert bad.status_code == 400
    assert "bogus" in bad.json()["detail"]


async def test_another_users_ticket_is_404_like_a_missing_one(as_alice: httpx.AsyncClient, bob: AbstractUser) -> None:
    bobs = await Ticket.objects.filter(owner=bob).exclude(status="closed").afirst()
    assert bobs is not None
    for path in (f"/api/v2/tickets/{bobs.pk}", "/api/v2/tickets/999999"):
        response = await as_alice.get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}
    patch = await as_alice.patch(f"/api/v2/tickets/{bobs.pk}", json={"status": "closed"}, headers=csrf_headers(as_alice))
    assert patch.status_code == 404
    await bobs.arefresh_from_db()
    assert bobs.status != "closed", "alice changed bob's ticket"


async def test_staff_sees_everyones_tickets(gateway: httpx.AsyncClient, demo_users: Any, demo_password: str) -> None:
    await login(gateway, "admin", demo_password)
    owners = {ticket["owner"] for ticket in (await gateway.get("/api/v2/tickets")).json()}
    assert {"alice", "bob"} <= owners


async def test_detail_matches_the_legacy_api(as_alice: httpx.AsyncClient, alice: AbstractUser) -> None:
    ticket = await Ticket.objects.filter(owner=alice).afirst()
    assert ticket is not None
    new = await as_alice.get(f"/api/v2/tickets/{ticket.pk}")
    assert new.json() == (await as_alice.get(f"/api/tickets/{ticket.pk}/")).json()


async def test_create_and_patch_with_csrf_token(as_alice: httpx.AsyncClient) -> None:
    created = await as_alice.post(
        "/api/v2/tickets", json={"title": "Alice: new from the API", "priority": "high"}, headers=csrf_headers(as_alice)
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["owner"] == "alice" and body["status"] == "open" and body["priority"] == "high"
    patched = await as_alice.patch(f"/api/v2/tickets/{body['id']}", json={"status": "closed"}, headers=csrf_headers(as_alice))
    assert patched.status_code == 200
    assert patched.json()["status"] == "closed"
    assert (await as_alice.get(f"/api/tickets/{body['id']}/")).json()["status"] == "closed"


async def test_invalid_payloads_are_422_and_write_nothing(as_alice: httpx.AsyncClient) -> None:
    before = await Ticket.objects.acount()
    for payload in ({"title": ""}, {"title": "x", "status": "bogus"}, {"title": "x", "owner": "bob"}, {"title": "x" * 201}):
        response = await as_alice.post("/api/v2/tickets", json=payload, headers=csrf_headers(as_alice))
        assert response.status_code == 422, payload
    assert await Ticket.objects.acount() == before


MALFORMED_BODIES = [
    pytest.param("multipart/form-data", b"--x\r\n\r\n--x--\r\n", id="multipart-without-boundary"),
    pytest.param("multipart/form-data; boundary=", b"--\r\n\r\n----\r\n", id="multipart-empty-boundary"),
    pytest.param('multipart/form-data; boundary=""', b"", id="multipart-quoted-empty-boundary"),
    pytest.param("multipart/form-data; boundary=abc", b'--abc\r\nContent-Disposition: form-data; name="title"\r\n\r\nx\r\n--abc--\r\n', id="well-formed-multipart"),
    pytest.param("multipart/form-data; boundary=abc", b"--abc\r\nbroken", id="multipart-broken-part"),
    pytest.param("multipart/form-data; boundary=abc", b'--abc\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n\r\n\x89PNG\xff\r\n--abc--\r\n', id="binary-file-part"),
    pytest.param("multipart/form-data; boundary=abc; charset=utf-16", b"--abc--\r\n", id="multipart-utf-16"),
    pytest.param("application/x-www-form-urlencoded; charset=utf-16", b"title=x", id="urlencoded-utf-16"),
    pytest.param("application/x-www-form-urlencoded", b"title=\xff", id="urlencoded-non-utf-8"),
    pytest.param("text/plain; charset=nope", b"\xff\xfe{}", id="unknown-charset-non-utf-8"),
    pytest.param("text/plain; charset*=nope''x", b"{}", id="rfc2231-unknown-charset"),
    pytest.param("application/json", b'{"title": "\xff"}', id="json-non-utf-8"),
    pytest.param("application/json", b'{"title": "x", "status": "\\ud800"}', id="json-lone-surrogate-in-an-invalid-field"),
    pytest.param("application/json", b'{"title": "\\ud800"}', id="json-lone-surrogate-title"),
    pytest.param("application/json", b'{"title": "ok", "body": "x \\udfff"}', id="json-lone-surrogate-body"),
    pytest.param("application/json", b'{"title": "a\\u0000b"}', id="json-nul-character"),
]


@pytest.mark.parametrize(("method", "path"), [("POST", "/api/v2/tickets"), ("PATCH", "/api/v2/tickets/{id}")])
@pytest.mark.parametrize(("content_type", "body"), MALFORMED_BODIES)
async def test_a_malformed_body_is_a_clear_4xx(
    as_alice: httpx.AsyncClient, alice: AbstractUser, method: str, path: str, content_type: str, body: bytes
) -> None:
    """Issue 13: whatever the content type, charset or multipart shape, a JSON 4xx, not a 500."""
    ticket = await Ticket.objects.filter(owner=alice).afirst()
    assert ticket is not None
    before = await Ticket.objects.acount()
    response = await as_alice.request(
        method, path.format(id=ticket.pk), content=body, headers={**csrf_headers(as_alice), "Content-Type": content_type}
    )
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.json()["detail"]
    assert await Ticket.objects.acount() == before
    assert (await Ticket.objects.aget(pk=ticket.pk)).updated_at == ticket.updated_at


async def test_cross_site_post_is_refused(as_alice: httpx.AsyncClient) -> None:
    """A page on another site can make the browser send the cookie, but not read the token."""
    before = await Ticket.objects.acount()
    forged = await as_alice.post(
        "/api/v2/tickets", json={"title": "forged"}, headers={"Origin": "https://evil.example"}
    )
    assert forged.status_code == 403
    assert "CSRF" in forged.json()["detail"]
    # Even with a token, a foreign Origin is refused, as Django refuses it.
    with_token = await as_alice.post(
        "/api/v2/tickets", json={"title": "forged"}, headers=csrf_headers(as_alice, origin="https://evil.example")
    )
    assert with_token.status_code == 403
    # Same origin without the token: Django's rule wants the token too.
    no_token = await as_alice.post("/api/v2/tickets", json={"title": "forged"}, headers={"Origin": "http://testserver"})
    assert no_token.status_code == 403
    wrong_token = await as_alice.patch(
        "/api/v2/tickets/1", json={"status": "closed"}, headers={"X-CSRFToken": "x" * 64, "Origin": "http://testserver"}
    )
    assert wrong_token.status_code == 403
    assert await Ticket.objects.acount() == before


async def test_trusted_origin_is_accepted(as_alice: httpx.AsyncClient, settings: Any) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["https://intranet.example"]
    response = await as_alice.post(
        "/api/v2/tickets", json={"title": "from the intranet"}, headers=csrf_headers(as_alice, origin="https://intranet.example")
    )
    assert response.status_code == 201


async def test_logout_ends_api_access_on_the_next_request(as_alice: httpx.AsyncClient) -> None:
    assert (await as_alice.get("/api/v2/me")).status_code == 200
    token = as_alice.cookies["csrftoken"]
    logout = await as_alice.post(
        "/accounts/logout/", data={"csrfmiddlewaretoken": token}, headers={"Referer": "http://testserver/"}
    )
    assert logout.status_code == 302
    assert (await as_alice.get("/api/v2/me")).status_code == 401


async def test_reads_answer_head_like_the_legacy_views(as_alice: httpx.AsyncClient) -> None:
    for new, legacy in (("/api/v2/tickets", "/api/tickets/"), ("/api/v2/me", None)):
        head = await as_alice.head(new)
        assert head.status_code == 200 and head.headers["content-type"] == "application/json"
        if legacy:
            assert (await as_alice.head(legacy)).status_code == 200
