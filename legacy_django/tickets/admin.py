"""Admin for the help-desk staff: find a ticket by text or user, narrow by status and date."""

from __future__ import annotations

from django.contrib import admin

from .models import Ticket


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "status", "priority", "owner", "created_at", "updated_at"]
    list_display_links = ["id", "title"]
    list_filter = ["status", "priority", "owner"]
    list_select_related = ["owner"]
    search_fields = ["title", "body", "owner__username"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at", "updated_at"]
    raw_id_fields = ["owner"]
