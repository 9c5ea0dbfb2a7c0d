"""The example's URLconf plus a legacy view that takes its time (``/slow/?seconds=N``)."""

from __future__ import annotations

import time

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def _slow(request: HttpRequest) -> HttpResponse:
    time.sleep(float(request.GET.get("seconds", "2")))
    return HttpResponse("slow legacy answer")


urlpatterns = [path("slow/", _slow), path("", include("legacy_django.urls"))]
