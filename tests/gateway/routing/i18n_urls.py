"""A URLconf with ``i18n_patterns``: the language is part of the path."""

from django.conf.urls.i18n import i18n_patterns
from django.http import HttpRequest, HttpResponse
from django.urls import path


def page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = i18n_patterns(path("about/", page, name="about"), prefix_default_language=True)
