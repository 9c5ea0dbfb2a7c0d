"""The route table in Django admin: flips validated against the declarations and audited."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from ..exceptions import RoutingError
from .declarations import RouteState
from .models import RouteChange, RouteStateRecord, ShadowMismatch
from .table import declared_routes, rollback_route, set_route_state


class RouteStateForm(forms.ModelForm):  # type: ignore[type-arg]
    name = forms.ChoiceField(choices=())

    class Meta:
        model = RouteStateRecord
        fields = ["name", "state", "percent", "reason"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        name_field = self.fields["name"]
        assert isinstance(name_field, forms.ChoiceField)
        name_field.choices = [(route.name, f"{route.name}  ({route.legacy} → {route.new})") for route in declared_routes()]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        state, percent = cleaned.get("state"), cleaned.get("percent")
        if percent is not None and not 0 <= percent <= 100:
            self.add_error("percent", "Between 0 and 100.")
        if state == RouteState.CANARY.value and not percent:
            self.add_error("percent", "A canary needs a percentage.")
        return cleaned


@admin.register(RouteStateRecord)
class RouteStateAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = RouteStateForm
    list_display = ["name", "state", "percent", "changed_at", "changed_by", "reason"]
    list_filter = ["state"]
    actions = ["roll_back"]

    def save_model(self, request: HttpRequest, obj: RouteStateRecord, form: Any, change: bool) -> None:
        """Every change goes through the same audited path as ``manage.py routes set``."""
        try:
            set_route_state(
                obj.name, obj.state, percent=obj.percent if obj.state == RouteState.CANARY.value else None,
                reason=obj.reason, actor=f"admin:{request.user.get_username()}",
            )
        except RoutingError as exc:
            self.message_user(request, str(exc), level=messages.ERROR)

    @admin.action(description="Roll back the selected routes' last change")
    def roll_back(self, request: HttpRequest, queryset: Any) -> None:
        for record in queryset:
            try:
                setting = rollback_route(record.name, actor=f"admin:{request.user.get_username()}")
                self.message_user(request, f"{record.name} rolled back to {setting.state.value}")
            except RoutingError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)


@admin.register(RouteChange)
class RouteChangeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["changed_at", "name", "from_state", "to_state", "to_percent", "changed_by", "reason"]
    list_filter = ["name", "to_state"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ShadowMismatch)
class ShadowMismatchAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["route", "count", "last_seen", "method", "path", "legacy_status", "new_status"]
    list_filter = ["route"]
    readonly_fields = [field.name for field in ShadowMismatch._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
