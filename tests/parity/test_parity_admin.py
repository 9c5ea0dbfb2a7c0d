"""Parity runs in the admin (``fastapi_gateway/routing/parity_admin.py``): staff start one with a
reason, follow its progress and read its report, which is served sandboxed; others cannot."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from pytest_django import Settings

from fastapi_gateway.routing.models import ParityRun
from fastapi_gateway.routing.parity_admin import REPORT_CSP
from migration_plan.routes import ROUTES

pytestmark = pytest.mark.django_db(transaction=True)

START = "/admin/gateway_routing/parityrun/start/"
CHANGELIST = "/admin/gateway_routing/parityrun/"
HOSTILE_REPORT = '<!doctype html><html><body><script>parent.document.title="owned"</script><h1>report</h1></body></html>'


@pytest.fixture(autouse=True)
def _example_routes(settings: Settings) -> None:
    settings.GATEWAY = {**settings.GATEWAY, "ROUTES": ROUTES}


def finished(pk: int) -> ParityRun:
    for thread in threading.enumerate():
        if thread.name == f"parity-run-{pk}":
            thread.join(timeout=60)
            assert not thread.is_alive(), "the parity run never finished"
    return ParityRun.objects.get(pk=pk)


def test_staff_start_a_run_follow_it_and_read_its_report(admin_client: Client) -> None:
    changelist = admin_client.get(CHANGELIST).content.decode()
    assert f'href="{START}"' in changelist and "Start a parity run" in changelist
    assert 'href="/admin/gateway_routing/shadowmismatch/report/"' in changelist and 'href="/metrics"' in changelist

    form = admin_client.get(START).content.decode()
    assert 'name="csrfmiddlewaretoken"' in form and 'value="api-ticket-detail"' in form and 'name="reason"' in form
    response = admin_client.post(START, {"routes": ["api-tickets"], "reason": "before the canary"})
    run = ParityRun.objects.get()
    assert response.status_code == 302 and response["location"] == f"/admin/gateway_routing/parityrun/{run.pk}/change/"
    assert (run.routes, run.started_by, run.reason) == (["api-tickets"], "admin:admin", "before the canary")

    run = finished(run.pk)
    assert run.status == "passed" and run.summary["api-tickets"]["passed"] == 16
    page = admin_client.get(response["location"]).content.decode()
    report_url = f"/admin/gateway_routing/parityrun/{run.pk}/report/"
    assert f'src="{report_url}"' in page and "<iframe" in page and " sandbox " in page
    assert "passed" in page and "16/16" in page and "before the canary" in page
    assert "<!doctype html>" not in page.lower().split("<body", 1)[1]  # the report is never inlined
    listed = admin_client.get(CHANGELIST).content.decode()
    assert "api-tickets: 16/16" in listed and "admin:admin" in listed

    report = admin_client.get(report_url)
    assert report.status_code == 200 and report["Content-Type"] == "text/html; charset=utf-8"
    assert report["Content-Security-Policy"] == REPORT_CSP and "sandbox" in REPORT_CSP and "default-src 'none'" in REPORT_CSP
    assert report["X-Frame-Options"] == "SAMEORIGIN" and report["X-Content-Type-Options"] == "nosniff"
    assert report.content.decode() == run.report


def test_the_run_page_shows_progress_while_it_runs(admin_client: Client) -> None:
    run = ParityRun.objects.create(started_by="admin:bob", routes=["api-tickets"], done=7, total=16)
    page = admin_client.get(f"/admin/gateway_routing/parityrun/{run.pk}/change/").content.decode()
    assert "Running: 7 of 16 cases done" in page and '<meta http-equiv="refresh"' in page and "<iframe" not in page
    assert "7/16" in admin_client.get(CHANGELIST).content.decode()

    start = admin_client.get(START).content.decode()
    assert f"Parity run #{run.pk}</a> is running" in start
    refused = admin_client.post(START, {"routes": ["api-ticket-detail"], "reason": "again"})
    assert refused.status_code == 200 and f"parity run #{run.pk} is running" in refused.content.decode()
    assert ParityRun.objects.count() == 1


def test_a_stored_report_cannot_run_script_in_the_admin(admin_client: Client) -> None:
    run = ParityRun.objects.create(status="failed", report=HOSTILE_REPORT, output="1 differs")
    page = admin_client.get(f"/admin/gateway_routing/parityrun/{run.pk}/change/").content.decode()
    assert "<script>parent" not in page and "owned" not in page
    report = admin_client.get(f"/admin/gateway_routing/parityrun/{run.pk}/report/")
    assert report["Content-Security-Policy"].startswith("sandbox;")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"routes": ["api-tickets", "nope"], "reason": "x"}, "Select a valid choice. nope is not one of the available choices."),
        ({"routes": ["api-tickets"], "reason": ""}, "This field is required."),
    ],
)
def test_bad_input_starts_nothing(admin_client: Client, data: dict[str, Any], error: str) -> None:
    response = admin_client.post(START, data)
    assert response.status_code == 200 and error in response.content.decode()
    assert not ParityRun.objects.exists()


def test_the_start_form_wants_the_csrf_token(admin_user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(START, {"routes": ["api-tickets"], "reason": "x"}).status_code == 403
    assert not ParityRun.objects.exists()


@pytest.mark.parametrize("who", ["anonymous", "alice"])
def test_nobody_but_staff_gets_in(client: Client, demo_users: Any, who: str) -> None:
    run = ParityRun.objects.create(status="passed", report=HOSTILE_REPORT)
    if who != "anonymous":
        client.force_login(demo_users[who])
    for url in (START, CHANGELIST, f"/admin/gateway_routing/parityrun/{run.pk}/report/"):
        response = client.get(url)
        assert response.status_code == 302 and response["location"].startswith("/admin/login/"), url
    response = client.post(START, {"routes": ["api-tickets"], "reason": "x"})
    assert response.status_code == 302 and ParityRun.objects.count() == 1


def test_staff_without_the_route_change_permission_may_look_but_not_start(client: Client, django_user_model: Any) -> None:
    clerk = django_user_model.objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(clerk)
    run = ParityRun.objects.create(status="passed", report=HOSTILE_REPORT)
    report_url = f"/admin/gateway_routing/parityrun/{run.pk}/report/"
    assert client.get(START).status_code == 403 and client.get(report_url).status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="view_parityrun"))
    clerk = django_user_model.objects.get(pk=clerk.pk)
    client.force_login(clerk)
    assert client.get(report_url).status_code == 200
    listed = client.get(CHANGELIST).content.decode()
    assert "Start a parity run" not in listed
    assert client.post(START, {"routes": ["api-tickets"], "reason": "x"}).status_code == 403
    assert ParityRun.objects.count() == 1


def test_runs_are_not_added_or_edited_by_hand(admin_client: Client) -> None:
    run = ParityRun.objects.create(status="passed")
    assert admin_client.get("/admin/gateway_routing/parityrun/add/").status_code == 403
    response = admin_client.post(f"/admin/gateway_routing/parityrun/{run.pk}/change/", {"status": "failed"})
    assert response.status_code == 403 and ParityRun.objects.get(pk=run.pk).status == "passed"


def test_each_route_state_row_shows_its_last_parity_and_next_step(admin_client: Client) -> None:
    run = ParityRun.objects.create(status="failed", summary={"api-tickets": {"cases": 16, "passed": 14, "failed": 2, "errors": 0}})
    page = admin_client.get("/admin/gateway_routing/routestaterecord/").content.decode()
    assert f'<a href="/admin/gateway_routing/parityrun/{run.pk}/change/">failed (run #{run.pk}): 2 of 16 cases differ</a>' in page
    assert "fix the differences in the report" in page
    assert "run parity: manage.py parity api-ticket-detail" in page and "never run" in page
