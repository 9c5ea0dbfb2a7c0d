"""A URLconf with no URL named ``logout`` (as in Wagtail's projects), for the W011 check."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path


def _home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("home")


urlpatterns = [path("", _home, name="home")]
