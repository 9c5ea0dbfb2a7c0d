"""Routes of the ticket pages and of the legacy JSON API.

The names ``api-tickets`` and ``api-ticket-detail`` are the ones the migration
routes are declared under.
"""

from __future__ import annotations

from django.urls import path

from . import api, views

urlpatterns = [
    path("tickets/", views.ticket_list, name="ticket-list"),
    path("tickets/new/", views.ticket_create, name="ticket-create"),
    path("tickets/export.csv", views.ticket_export, name="ticket-export"),
    path("tickets/<int:pk>/", views.ticket_detail, name="ticket-detail"),
    path("tickets/<int:pk>/attachment", views.ticket_attachment, name="ticket-attachment"),
    path("api/tickets/", api.ticket_list, name="api-tickets"),
    path("api/tickets/<int:pk>/", api.ticket_detail, name="api-ticket-detail"),
]
