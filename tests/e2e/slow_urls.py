"""The example's URLconf plus a legacy view that takes its time (``/slow/?seconds=N``) and a
download streamed in 1 MiB blocks (``/big/?mb=N``)."""

from __future__ import annotations

import time

from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import include, path


def _slow(request: HttpRequest) -> HttpResponse:
    time.sleep(float(request.GET.get("seconds", "2")))
    return HttpResponse("slow legacy answer")


def _big(request: HttpRequest) -> StreamingHttpResponse:
    def blocks() -> Iterator[bytes]:
        for _ in range(int(request.GET.get("mb", "20"))):
            yield b"x" * 1024 * 1024

    return StreamingHttpResponse(blocks(), content_type="application/octet-stream")


urlpatterns = [path("slow/", _slow), path("big/", _big), path("", include("legacy_django.urls"))]
