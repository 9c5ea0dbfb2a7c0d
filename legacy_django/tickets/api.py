"""The legacy read-only JSON API, ``/api/tickets/``, that ``/api/v2`` replaces.

API clients get JSON status codes (401, 404, 405) rather than the login redirect
and HTML error pages that the ticket pages answer with.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .exceptions import UnknownStatus
from .models import Ticket
from .queries import filter_by_status, get_visible_ticket, ticket_as_dict, visible_tickets

_ALLOWED_METHODS = ("GET", "HEAD")

_JsonView = Callable[..., JsonResponse]


def _json_endpoint(view: _JsonView) -> _JsonView:
    """Answer wrong methods with 405 and anonymous callers with 401, both as JSON.

    The endpoints only read, so they are CSRF-exempt: an unsafe request gets a
    plain 405 instead of Django's HTML CSRF page, and changes nothing either way.
    """

    @csrf_exempt
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        if request.method not in _ALLOWED_METHODS:
            response = JsonResponse(
                {"detail": f'Method "{request.method}" not allowed.'}, status=405
            )
            response["Allow"] = ", ".join(_ALLOWED_METHODS)
            return response
        if not request.user.is_authenticated:
            return JsonResponse({"detail": "Authentication required."}, status=401)
        return view(request, *args, **kwargs)

    return wrapper


@_json_endpoint
def ticket_list(request: HttpRequest) -> JsonResponse:
    try:
        tickets = filter_by_status(visible_tickets(request.user), request.GET.get("status"))
    except UnknownStatus as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    return JsonResponse([ticket_as_dict(ticket) for ticket in tickets], safe=False)


@_json_endpoint
def ticket_detail(request: HttpRequest, pk: int) -> JsonResponse:
    try:
        ticket = get_visible_ticket(request.user, pk)
    except Ticket.DoesNotExist:
        return JsonResponse({"detail": "Not found."}, status=404)
    return JsonResponse(ticket_as_dict(ticket))
