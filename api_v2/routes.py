"""``/api/v2`` routes: thin async shells over the shared ticket queries, run off the loop.

Reads answer HEAD as well as GET, as Django's views do: a migrated route moves both, and a
HEAD that fell through to Django's 404 would be a difference users notice.

Datetimes are returned as the legacy API's ``isoformat()`` strings (not re-serialised by
pydantic), so the two APIs can be compared byte for byte by the parity tools.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.routing import APIRoute
from fastapi.responses import JSONResponse

from fastapi_gateway import DjangoUser, csrf_protect, legacy_path, require_user, run_orm
from legacy_django.tickets.models import Ticket
from legacy_django.tickets.queries import (
    create_ticket,
    filter_by_status,
    get_visible_ticket,
    ticket_as_dict,
    update_ticket,
    visible_tickets,
)

from .pagination import keyset_page
from .schemas import Me, TicketCreate, TicketOut, TicketPatch

__all__ = ["router"]

# Login first, then CSRF: an anonymous caller learns it must log in (401), and the CSRF
# check only matters for requests that carry a session.
router = APIRouter(tags=["tickets"], dependencies=[Depends(require_user), Depends(csrf_protect)])

_NOT_FOUND = {"description": "Missing, or another user's ticket: the two are not told apart."}

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500


def _not_found() -> HTTPException:
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Not found.")


def _invalid(exc: ValidationError) -> HTTPException:
    return HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=exc.message_dict)


@router.get("/me", response_model=Me)
async def me(user: DjangoUser = Depends(require_user)) -> Me:
    return Me(username=user.get_username(), is_staff=user.is_staff)


_LIST_DESCRIPTION = f"""The tickets the caller may see, newest first, one page at a time: at most `limit`
({DEFAULT_PAGE_SIZE} by default, {MAX_PAGE_SIZE} at most). When there are more, the answer's
`Link` header holds the next page's URL (`rel="next"`, RFC 8288): follow it until there is none.
The next page starts after the last ticket of this one, so tickets filed meanwhile are neither
skipped nor repeated, and a page costs the same however far in it is.

Served for the legacy `/api/tickets/` (a migrated route), with neither `limit` nor `cursor`,
the answer is the legacy one: every visible ticket in one list."""


@router.get(
    "/tickets",
    response_model=list[TicketOut],
    description=_LIST_DESCRIPTION,
    responses={200: {"headers": {"Link": {"description": 'The next page: `<URL>; rel="next"`', "schema": {"type": "string"}}}}},
)
async def list_tickets(
    request: Request,
    status: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE, description="Tickets per page.")] = None,
    cursor: Annotated[str | None, Query(max_length=200, description="From the `Link` header of the page before.")] = None,
    user: DjangoUser = Depends(require_user),
) -> JSONResponse:
    whole_list = limit is None and cursor is None and legacy_path(request) is not None

    def query() -> tuple[list[dict[str, Any]], str | None]:
        tickets = filter_by_status(visible_tickets(user), status)
        if whole_list:
            return [ticket_as_dict(ticket) for ticket in tickets], None
        page = keyset_page(tickets, moment_field="created_at", limit=limit or DEFAULT_PAGE_SIZE, cursor=cursor)
        return [ticket_as_dict(ticket) for ticket in page.rows], page.next_cursor

    try:
        rows, next_cursor = await run_orm(query)
    except ValueError as exc:  # an unknown status, or an InvalidCursor
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    headers = {}
    if next_cursor is not None:
        headers["Link"] = f'<{_next_page_url(request, next_cursor)}>; rel="next"'
    return JSONResponse(rows, headers=headers)


def _next_page_url(request: Request, cursor: str) -> str:
    """Relative to the host (RFC 8288 resolves it against the request's URL), so a hostile Host
    header is never echoed; on the path the client called, with its other parameters kept."""
    path = legacy_path(request) or request.url.path
    kept = [(key, value) for key, value in request.query_params.multi_items() if key != "cursor"]
    return f"{path}?{urlencode([*kept, ('cursor', cursor)])}"


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
