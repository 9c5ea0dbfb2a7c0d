"""The example's URLconf plus a view that shows what Django was given as the request id."""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from fastapi_gateway.http.request_id import current_request_id

logger = logging.getLogger("tests.request_id_view")


def _echo_request_id(request: HttpRequest) -> JsonResponse:
    logger.warning("the legacy view ran")
    return JsonResponse({"meta": request.META.get("HTTP_X_REQUEST_ID"), "logging": current_request_id()})


urlpatterns = [path("echo-request-id/", _echo_request_id), path("", include("legacy_django.urls"))]
