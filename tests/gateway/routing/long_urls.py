"""A URLconf whose patterns are longer than the pattern column (nested routers do this)."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, re_path

LONG = "org/(?P<org>[-a-zA-Z0-9_]+)/" + "".join(f"level{i}/(?P<k{i}>[-a-zA-Z0-9_]+)/" for i in range(9))
URLS = ["/org/o/" + "".join(f"level{i}/v/" for i in range(9)) + "items/",
        "/org/o/" + "".join(f"level{i}/v/" for i in range(9)) + "other/"]


def ok(request: HttpRequest, **kwargs: str) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [
    re_path("^" + LONG + "items/$", ok),
    re_path("^" + LONG + "other/$", ok),
    re_path("", include("legacy_django.urls")),
]
