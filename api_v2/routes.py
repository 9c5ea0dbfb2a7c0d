"""``/api/v2`` routes: thin async shells over the shared ticket queries, run off the loop.

Reads answer HEAD as well as GET, as Django's views do: a migrated route moves both, and a
HEAD that fell through to Django's 404 would be a difference users notice.

Datetimes are returned as the legacy API's ``isoformat()`` strings (not re-serialised by
pydantic), so the two APIs can be compared byte for byte by the parity tools.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.routing import APIRoute
from fastapi.responses import JSONResponse

from fastapi_gateway import DjangoUser, csrf_protect, require_user, run_orm
from legacy_django.tickets.models import Ticket
from legacy_django.tickets.queries import (
    create_ticket,
    filter_by_status,
    get_visible_ticket,
    ticket_as_dict,
    update_ticket,
    visible_tickets,
)

from .schemas import Me, TicketCreate, TicketOut, TicketPatch

__all__ = ["router"]

# Login first, then CSRF: an anonymous caller learns it must log in (401), and the CSRF
# check only matters for requests that carry a session.
router = APIRouter(tags=["tickets"], dependencies=[Depends(require_user), Depends(csrf_protect)])

_NOT_FOUND = {"description": "Missing, or another user's ticket: the two are not told apart."}


def _not_found() -> HTTPException:
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Not found.")


def _invalid(exc: ValidationError) -> HTTPException:
    return HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=exc.message_dict)


@router.get("/me", response_model=Me)
async def me(user: DjangoUser = Depends(require_user)) -> Me:
    return Me(username=user.get_username(), is_staff=user.is_staff)


@router.get("/tickets", response_model=list[TicketOut])
async def list_tickets(status: str | None = None, user: DjangoUser = Depends(require_user)) -> JSONResponse:
    def query() -> list[dict[str, Any]]:
        return [ticket_as_dict(ticket) for ticket in filter_by_status(visible_tickets(user), status)]

    try:
        return JSONResponse(await run_orm(query))
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc


@router.post("/tickets", response_model=TicketOut, status_code=status.HTTP_201_CREATED)
async def create(payload: TicketCreate, user: DjangoUser = Depends(require_user)) -> JSONResponse:
    def write() -> dict[str, Any]:
        return ticket_as_dict(create_ticket(user, **payload.model_dump()))

    try:
        return JSONResponse(await run_orm(write), status_code=status.HTTP_201_CREATED)
    except ValidationError as exc:
        raise _invalid(exc) from exc


@router.get("/tickets/{ticket_id}", response_model=TicketOut, responses={404: _NOT_FOUND})
async def detail(ticket_id: int, user: DjangoUser = Depends(require_user)) -> JSONResponse:
    def read() -> dict[str, Any]:
        return ticket_as_dict(get_visible_ticket(user, ticket_id))

    try:
        return JSONResponse(await run_orm(read))
    except Ticket.DoesNotExist as exc:
        raise _not_found() from exc


@router.patch("/tickets/{ticket_id}", response_model=TicketOut, responses={404: _NOT_FOUND})
async def patch(ticket_id: int, payload: TicketPatch, user: DjangoUser = Depends(require_user)) -> JSONResponse:
    def write() -> dict[str, Any]:
        ticket = get_visible_ticket(user, ticket_id)
        return ticket_as_dict(update_ticket(ticket, **payload.model_dump(exclude_unset=True, exclude_none=True)))

    try:
        return JSONResponse(await run_orm(write))
    except Ticket.DoesNotExist as exc:
        raise _not_found() from exc
    except ValidationError as exc:
        raise _invalid(exc) from exc


def _answer_head_too(api_router: APIRouter) -> None:
    """A HEAD twin of every GET route, left out of the schema (one operation per path)."""
    for route in list(api_router.routes):
        if isinstance(route, APIRoute) and route.methods == {"GET"}:
            api_router.add_api_route(route.path, route.endpoint, methods=["HEAD"], include_in_schema=False)


_answer_head_too(router)
