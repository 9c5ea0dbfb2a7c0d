"""The bundled URLconf plus legacy views made for parity tests (``settings.ROOT_URLCONF``).

Each view has a new-side twin in ``tests/parity/new_side.py``; some twins agree, some are
deliberately wrong, and the clock varies by itself on every answer.
"""

from __future__ import annotations

import json
import random
import secrets
import time

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.urls import include, path

from legacy_django.tickets.queries import create_ticket, ticket_as_dict


def clock(request: HttpRequest) -> JsonResponse:
    """A timestamp, a token and a random draw: fields that differ between two answers."""
    return JsonResponse({"name": "clock", "now": time.time(), "token": secrets.token_hex(8), "lucky": random.random()})


def items(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"version": 1, "items": [{"id": number, "name": f"item {number}"} for number in range(1, 6)]})


def secret_things(request: HttpRequest) -> JsonResponse:
    response = JsonResponse({"id": 1, "token": "legacy-token-4b1d", "email": "alice@legacy.example", "status": "ok"})
    response.set_cookie("remember_me", "legacy-cookie-9f8e", httponly=True)
    return response


def tickets(request: HttpRequest) -> JsonResponse:
    """POST creates a ticket (CSRF-protected, as every Django form view)."""
    if request.method != "POST" or not request.user.is_authenticated:
        return JsonResponse({"detail": "no"}, status=405)
    payload = json.loads(request.body)
    return JsonResponse(ticket_as_dict(create_ticket(request.user, title=payload["title"])), status=201)


def page(request: HttpRequest) -> HttpResponse:
    token = get_token(request)
    return HttpResponse(
        "<!doctype html><html><head><title>Parity</title></head><body>"
        '<h1 class="title main">Tickets</h1><ul><li>One</li><li>Two</li></ul>'
        f'<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="{token}"></form>'
        "</body></html>"
    )


urlpatterns = [
    path("parity-legacy/clock/", clock),
    path("parity-legacy/items/", items),
    path("parity-legacy/secrets/", secret_things),
    path("parity-legacy/tickets/", tickets),
    path("parity-legacy/page/", page),
    path("", include("legacy_django.urls")),
]
