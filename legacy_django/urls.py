"""Root URLconf: the home page, Django's auth views, the admin and the ticket app."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from django.views.generic import TemplateView

urlpatterns = [
    path("", login_required(TemplateView.as_view(template_name="home.html")), name="home"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("", include("legacy_django.tickets.urls")),
]

# An unreachable database or session store answers 503 (with Retry-After), not a bare 500.
handler500 = "fastapi_gateway.legacy.outage.server_error"
