"""New-side handlers for parity tests, mounted with ``create_app(api_routers=...)``."""

from __future__ import annotations

import random
import secrets
import time
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel

from fastapi_gateway import DjangoUser, csrf_protect, require_user, run_orm
from legacy_django.tickets.queries import create_ticket, filter_by_status, ticket_as_dict, visible_tickets


class NewTicket(BaseModel):
    title: str


def parity_router() -> APIRouter:
    router = APIRouter()

    @router.get("/clock")
    async def clock() -> dict[str, Any]:
        return {"name": "clock", "now": time.time(), "token": secrets.token_hex(8), "lucky": random.random()}

    @router.get("/items")
    async def items() -> dict[str, Any]:
        # Another version number (ignored by the route) and the items in reverse (unordered).
        return {"version": 2, "items": [{"id": number, "name": f"item {number}"} for number in range(5, 0, -1)]}

    @router.get("/wrong-tickets")
    async def wrong_tickets(status: str | None = None, user: DjangoUser = Depends(require_user)) -> JSONResponse:
        """Right in every way but one: the first ticket's title."""

        def query() -> list[dict[str, Any]]:
            return [ticket_as_dict(ticket) for ticket in filter_by_status(visible_tickets(user), status)]

        try:
            tickets = await run_orm(query)
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        if tickets:
            tickets[0]["title"] = tickets[0]["title"] + " (v2)"
        return JSONResponse(tickets)

    @router.get("/secrets")
    async def secret_things() -> JSONResponse:
        response = JSONResponse({"id": 1, "token": "new-token-7c2a", "email": "alice@new.example", "status": "ok"})
        response.set_cookie("remember_me", "new-cookie-3e4f", httponly=False)
        return response

    @router.post("/tickets", status_code=201, dependencies=[Depends(csrf_protect)])
    async def create(payload: NewTicket, user: DjangoUser = Depends(require_user)) -> JSONResponse:
        ticket = await run_orm(lambda: ticket_as_dict(create_ticket(user, title=payload.title)))
        return JSONResponse(ticket, status_code=201)

    @router.get("/page", response_class=HTMLResponse)
    async def page() -> str:
        return (
            "<html><head><title>Parity</title></head>\n<body>\n"
            '  <h1 class="main title">Tickets</h1>\n  <ul><li>One</li><li>Three</li></ul>\n'
            '  <form method="post"><input name="csrfmiddlewaretoken" value="other" type="hidden"></form>\n'
            "</body></html>"
        )

    @router.api_route("/ticket-echo/{pk}", methods=["GET", "POST"], include_in_schema=False)
    async def ticket_echo(pk: int, request: Request) -> JSONResponse:
        """A wrong v2 ticket detail that shows what it was sent, as debugging handlers do:
        its links, the query, headers, cookies and form fields of the request, a login link."""
        form = {name: str(value) for name, value in (await request.form()).items()} if request.method == "POST" else {}
        response = JSONResponse({
            "id": pk,
            "links": {"self": str(request.url), "login": f"/accounts/login/?next={quote(request.url.path + '?' + request.url.query)}"},
            "query": dict(request.query_params),
            "headers": {name: value for name, value in request.headers.items() if name not in ("host", "content-length")},
            "cookies": dict(request.cookies),
            "form": form,
        })
        response.headers["Location"] = str(request.url)
        return response

    @router.api_route("/ticket-raises/{pk}", methods=["GET", "POST"], include_in_schema=False)
    async def ticket_raises(pk: int, request: Request) -> None:
        """A v2 handler whose error names the URL it was called with, as HTTP clients' errors do."""
        raise RuntimeError(f"upstream refused {request.url}")

    @router.get("/raises")
    async def raises() -> None:
        raise RuntimeError("the new handler is broken")

    @router.get("/raises-secret")
    async def raises_secret() -> None:
        raise RuntimeError("could not refresh: api_key=sk-live-5e6f7a")

    return router
