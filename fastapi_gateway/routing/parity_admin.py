"""Parity runs in Django admin: the history, a "Start a parity run" page, and each run's report.

A stored report is untrusted HTML: it quotes what both sides answered (redacted, but written
by whoever controls a side's data). It is never put into an admin page. ``report/`` answers
it alone with ``Content-Security-Policy: sandbox`` (an opaque origin: no script, no cookie,
no admin DOM) and ``default-src 'none'``, and the run's page embeds it in a sandboxed iframe.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from fastapi_gateway.exceptions import GatewayError
from fastapi_gateway.parity.runs import expire_stale_runs, running_run, start_parity_run
from fastapi_gateway.routing.models import ParityRun, RouteStateRecord
from fastapi_gateway.routing.table import declared_routes, load_states

__all__ = ["ParityRunAdmin", "StartParityRunForm", "REPORT_CSP"]

REPORT_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
_NO_REPORT = "<!doctype html><meta charset=utf-8><title>No report</title><p>This run has no report (yet).</p>"


class StartParityRunForm(forms.Form):
    routes = forms.MultipleChoiceField(
        choices=(), required=False, widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every declared route.",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), max_length=2000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        routes = declared_routes()
        states = load_states([route.name for route in routes])
        field = self.fields["routes"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [
            (route.name, f"{route.name}  ({route.legacy} → {route.new}; {states[route.name].state.value if route.name in states else 'legacy'})")
            for route in routes
        ]


@admin.register(ParityRun)
class ParityRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The history of parity runs, read-only: a run is made by "Start a parity run", never by hand."""

    list_display = ["__str__", "started_at", "started_by", "compared", "status", "progress", "results"]
    list_filter = ["status"]
    readonly_fields = ("started_at", "started_by", "reason", "compared", "status", "progress", "results", "finished_at", "output_shown")
    fields = readonly_fields
    change_list_template = "admin/gateway_routing/parity_run_change_list.html"
    change_form_template = "admin/gateway_routing/parity_run_change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def can_start(self, request: HttpRequest) -> bool:
        """Who may flip routes may compare them: staff with change permission on route states."""
        opts = RouteStateRecord._meta
        return bool(request.user.is_active and request.user.is_staff
                    and request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}"))

    @admin.display(description="routes")
    def compared(self, run: ParityRun) -> str:
        return ", ".join(str(name) for name in run.routes) if run.routes else "every declared route"

    @admin.display(description="progress")
    def progress(self, run: ParityRun) -> str:
        return f"{run.done}/{run.total or '?'}"

    @admin.display(description="summary")
    def results(self, run: ParityRun) -> str:
        summary = run.summary if isinstance(run.summary, dict) else {}
        rows = [(route, numbers) for route, numbers in summary.items() if isinstance(numbers, dict)]
        return format_html_join(
            ", ", "{}: {}/{}{}",
            ((route, numbers.get("passed", 0), numbers.get("cases", 0),
              f" ({numbers['failed']} differ)" if numbers.get("failed") else f" ({numbers['errors']} errors)" if numbers.get("errors") else "")
             for route, numbers in rows),
        ) or "-"

    @admin.display(description="output")
    def output_shown(self, run: ParityRun) -> str:
        return format_html("<pre>{}</pre>", run.output) if run.output else "-"

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("start/", self.admin_site.admin_view(self.start_view), name="gateway_routing_parityrun_start"),
            path("<int:pk>/report/", self.admin_site.admin_view(self.report_view), name="gateway_routing_parityrun_report"),
        ]
        return own + super().get_urls()

    def _links(self, request: HttpRequest) -> dict[str, Any]:
        return {
            "can_start": self.can_start(request), "start_url": reverse("admin:gateway_routing_parityrun_start"),
            "shadow_report_url": reverse("admin:gateway_routing_shadowmismatch_report"),
            "route_states_url": reverse("admin:gateway_routing_routestaterecord_changelist"), "metrics_url": "/metrics",
        }

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        expire_stale_runs()
        return super().changelist_view(request, {**self._links(request), **(extra_context or {})})

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None) -> HttpResponse:
        expire_stale_runs()
        run = ParityRun.objects.filter(pk=object_id).defer("report").first() if object_id.isascii() and object_id.isdigit() else None
        context: dict[str, Any] = {**self._links(request), **(extra_context or {})}
        if run is not None:
            context.update(running=run.status == "running", has_report=bool(ParityRun.objects.filter(pk=run.pk).exclude(report="").exists()),
                           report_url=reverse("admin:gateway_routing_parityrun_report", args=[run.pk]))
        return super().change_view(request, object_id, form_url, context)

    def start_view(self, request: HttpRequest) -> HttpResponse:
        if not self.can_start(request):
            raise PermissionDenied
        form = StartParityRunForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                run = start_parity_run(form.cleaned_data["routes"], actor=f"admin:{request.user.get_username()}",
                                       reason=form.cleaned_data["reason"])
            except GatewayError as error:
                form.add_error(None, str(error))
            else:
                self.message_user(request, f"Parity run #{run.pk} started.", level=messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:gateway_routing_parityrun_change", args=[run.pk]))
        context = {
            **self.admin_site.each_context(request), **self._links(request), "title": "Start a parity run",
            "form": form, "running": running_run(), "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/gateway_routing/parity_run_start.html", context)

    def report_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The stored report alone, in a sandbox: see the module's docstring."""
        run = get_object_or_404(ParityRun.objects.only("pk", "report"), pk=pk)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        response = HttpResponse(run.report or _NO_REPORT, content_type="text/html; charset=utf-8")
        response["Content-Security-Policy"] = REPORT_CSP
        response["X-Content-Type-Options"] = "nosniff"
        response["X-Frame-Options"] = "SAMEORIGIN"  # XFrameOptionsMiddleware keeps a value already set
        response["Referrer-Policy"] = "no-referrer"
        response["Cross-Origin-Resource-Policy"] = "same-origin"
        return response
