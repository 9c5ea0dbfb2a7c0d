"""The route table in Django admin: flips validated against the declarations and audited."""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from fastapi_gateway.exceptions import RoutingError
from fastapi_gateway.parity.difference import Difference
from fastapi_gateway.parity.redaction import Redactor
from fastapi_gateway.migrated_route import RouteState
from fastapi_gateway.routing.models import RouteChange, RouteStateRecord, ShadowMismatch
from fastapi_gateway.routing.table import declared_routes, rollback_route, set_route_state, validate_state


_RULE = re.compile(r"(^|})(\s*)([^{}@]+?)\s*{")


def _scoped(css: str) -> str:
    """The report's stylesheet confined to its own part of an admin page (``.parity-report``)."""

    def scope(selector: str) -> str:
        selector = selector.strip()
        if selector in (":root", "body", "html"):
            return ".parity-report"
        return f".parity-report {selector}"

    return _RULE.sub(lambda m: f"{m.group(1)}{m.group(2)}{', '.join(scope(part) for part in m.group(3).split(','))} {{", css)


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
        if state:
            try:  # the table's own rule, as the CLI, the console and rollouts apply it
                validate_state(state, percent if state == RouteState.CANARY.value else None)
            except RoutingError as error:
                self.add_error("percent", f"{error} (0 sends nobody yet).")
        return cleaned


@admin.register(RouteStateRecord)
class RouteStateAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = RouteStateForm
    list_display = ["name", "state", "percent", "last_change", "last_parity", "next_step"]
    list_filter = ["state"]
    actions = ["roll_back"]

    @admin.display(description="last parity")
    def last_parity(self, obj: RouteStateRecord) -> str:
        from fastapi_gateway.parity.next_step import last_route_parity

        parity = last_route_parity(obj.name)
        if parity is None:
            return "never run"
        if parity.run is None:
            return parity.describe()
        return format_html('<a href="{}">{}</a>', reverse("admin:gateway_routing_parityrun_change", args=[parity.run]), parity.describe())

    @admin.display(description="next step")
    def next_step(self, obj: RouteStateRecord) -> str:
        from fastapi_gateway.parity.next_step import next_step_hint

        try:
            return next_step_hint(obj.name)
        except RoutingError:
            return "not a declared route"

    @admin.display(description="last change")
    def last_change(self, obj: RouteStateRecord) -> str:
        change = RouteChange.objects.filter(name=obj.name).first()
        if change is None:
            return "never"
        when = f"{timezone.localtime(change.changed_at):%Y-%m-%d %H:%M}"
        return f"{when} by {change.changed_by or '?'}" + (f": {change.reason}" if change.reason else "")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Every declared route is listed, touched or not: one never changed shows as legacy."""
        RouteStateRecord.objects.bulk_create(
            [RouteStateRecord(name=route.name) for route in declared_routes()], ignore_conflicts=True
        )
        return super().changelist_view(request, extra_context)

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
    """Mismatches seen in shadow mode; ``report/`` shows the latest of every route as a parity
    report, and each row links to its own side-by-side diff (staff with view permission only)."""

    list_display = ["route", "count", "last_seen", "method", "request_path", "username", "differing_fields", "legacy_status", "new_status", "diff_link"]
    list_filter = ["route"]
    search_fields = ["route", "path", "username"]
    # The stored values are redacted when written; shown through the Redactor again, so a row
    # written by an older worker (a rolling deploy, a restored backup) shows no secret either.
    readonly_fields = (
        "route", "signature", "count", "first_seen", "last_seen", "method", "request_path", "username",
        "differences_shown", "legacy_status", "new_status", "legacy_body_shown", "new_body_shown",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="path", ordering="path")
    def request_path(self, record: ShadowMismatch) -> str:
        return Redactor.from_settings().url(record.path)

    @admin.display(description="differences")
    def differences_shown(self, record: ShadowMismatch) -> str:
        differences = [Difference.from_dict(item) for item in record.differences if isinstance(item, dict)]
        shown = [difference.as_dict() for difference in Redactor.from_settings().differences(differences)]
        return json.dumps(shown, indent=1, ensure_ascii=False, default=str)

    @admin.display(description="legacy body")
    def legacy_body_shown(self, record: ShadowMismatch) -> str:
        return Redactor.from_settings().stored_text(record.legacy_body)

    @admin.display(description="new body")
    def new_body_shown(self, record: ShadowMismatch) -> str:
        return Redactor.from_settings().stored_text(record.new_body)

    @admin.display(description="differing fields")
    def differing_fields(self, record: ShadowMismatch) -> str:
        paths = [str(item.get("path", "?")) for item in record.differences if isinstance(item, dict)]
        return ", ".join(paths[:4]) + (" …" if len(paths) > 4 else "")

    @admin.display(description="diff")
    def diff_link(self, record: ShadowMismatch) -> str:
        return format_html('<a href="{}">diff</a>', reverse("admin:gateway_routing_shadowmismatch_diff", args=[record.pk]))

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("report/", self.admin_site.admin_view(self.report_view), name="gateway_routing_shadowmismatch_report"),
            path("<int:pk>/diff/", self.admin_site.admin_view(self.diff_view), name="gateway_routing_shadowmismatch_diff"),
        ]
        return own + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        report_url = reverse("admin:gateway_routing_shadowmismatch_report")
        self.message_user(request, format_html('The latest mismatches of every route, with diffs: <a href="{}">shadow report</a>', report_url))
        return super().changelist_view(request, extra_context)

    def _page(self, request: HttpRequest, records: list[ShadowMismatch]) -> HttpResponse:
        """The parity report of these records inside the admin (its navigation, each route's state,
        and what to do when nothing has been recorded yet)."""
        from fastapi_gateway.parity.reports import render_html
        from fastapi_gateway.routing.shadow_report import shadow_report
        from fastapi_gateway.routing.table import load_states

        if not self.has_view_permission(request):
            raise PermissionDenied
        report = render_html(shadow_report(records, declared_routes()))
        css = _scoped(report.split("<style>", 1)[1].split("</style>", 1)[0]) if "<style>" in report else ""
        body = report.split("<body>", 1)[1].rsplit("</body>", 1)[0] if "<body>" in report else report
        routes = declared_routes()
        states = load_states([route.name for route in routes])
        kinds = {name: count for name, count in ShadowMismatch.objects.values_list("route").annotate(n=Count("id"))}
        rows = [
            {"name": route.name, "legacy": route.legacy, "new": route.new, "mismatches": kinds.get(route.name, 0),
             "state": states[route.name].state.value if route.name in states else RouteState.LEGACY.value,
             "percent": states[route.name].percent if route.name in states else 0}
            for route in routes
        ]
        context = {**self.admin_site.each_context(request), "title": "Shadow report", "routes": rows,
                   "empty": not records, "report_css": css, "report_body": body, "opts": self.model._meta}
        return TemplateResponse(request, "admin/gateway_routing/shadow_report.html", context)

    def report_view(self, request: HttpRequest) -> HttpResponse:
        from fastapi_gateway.routing.shadow_report import latest_mismatches

        return self._page(request, latest_mismatches())

    def diff_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._page(request, [get_object_or_404(ShadowMismatch, pk=pk)])


from fastapi_gateway.routing import parity_admin  # noqa: E402,F401  (registers ParityRunAdmin)
