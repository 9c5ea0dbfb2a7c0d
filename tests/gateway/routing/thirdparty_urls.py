"""A URLconf shaped like someone else's project, for the coverage report: includes nested and
namespaced, ``re_path()`` under ``path()`` and the reverse, an include with an empty prefix,
patterns without a name, a class-based view and a converter of the project's own.

``URLS`` is one URL per pattern, in the URLconf's order, each answered by that pattern.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path, register_converter
from django.views import View


class EightHex:
    """A converter no made-up value fits: its routes are placed by the requests counted."""

    regex = "[0-9a-f]{8}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(EightHex, "hex8")


def page(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("ok")


class ArticleView(View):
    def get(self, request: HttpRequest, **kwargs: object) -> HttpResponse:
        return HttpResponse("article")


shop = [
    path("items/", page, name="items"),
    path("items/<slug:slug>/", page, name="item"),
    re_path(r"^orders/(?P<number>[0-9]{4})/$", page, name="order"),
]
api_v1 = [
    path("status", page, name="status"),
    re_path(r"^things/(?P<pk>[0-9]+)$", page),
]

urlpatterns = [
    path("shop/", include((shop, "shop"), namespace="shop")),
    re_path(
        r"^blog/",
        include([
            re_path(r"^(?P<year>[0-9]{4})/$", page, name="archive"),
            path("<int:pk>/", ArticleView.as_view()),
            re_path(r"^feed\.xml$", page, name="feed"),
        ]),
    ),
    path("api/", include(([path("v1/", include((api_v1, "v1"), namespace="v1"))], "api"), namespace="api")),
    path("health", page),
    re_path(r"^blobs/(?P<digest>[0-9a-f]+)/$", page, name="blob"),
    path("", include([re_path(r"^about/$", page, name="about")])),
]

URLS = [
    "/shop/items/",
    "/shop/items/blue-mug/",
    "/shop/orders/2024/",
    "/blog/2024/",
    "/blog/7/",
    "/blog/feed.xml",
    "/api/v1/status",
    "/api/v1/things/3",
    "/health",
    "/blobs/deadbeef/",
    "/about/",
]
