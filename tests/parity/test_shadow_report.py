"""The staff-only view of the latest shadow mismatches per route, each linked to its diff."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

from fastapi_gateway.routing.models import ShadowMismatch
from migration_plan.routes import ROUTES

pytestmark = pytest.mark.django_db

LEGACY = [{"id": 3, "title": "Alice: printer", "status": "open"}]
NEW = [{"id": 3, "title": "Alice: printer (v2)", "status": "open"}]


@pytest.fixture
def mismatch(settings: Settings) -> ShadowMismatch:
    settings.GATEWAY_MIGRATED_ROUTES = ROUTES
    return ShadowMismatch.objects.create(
        route="api-tickets", signature="s1", count=4, method="GET", path="/api/tickets/?status=open",
        differences=[{"path": "$[0].title", "legacy": "Alice: printer", "new": "Alice: printer (v2)", "kind": "changed"}],
        legacy_status=200, new_status=200, legacy_body=json.dumps(LEGACY, indent=1), new_body=json.dumps(NEW, indent=1),
    )


def test_staff_see_the_latest_mismatches_of_every_route_with_links_to_each_diff(admin_client: Client, mismatch: ShadowMismatch) -> None:
    changelist = admin_client.get(reverse("admin:gateway_routing_shadowmismatch_changelist"))
    diff_url = reverse("admin:gateway_routing_shadowmismatch_diff", args=[mismatch.pk])
    report_url = reverse("admin:gateway_routing_shadowmismatch_report")
    assert diff_url in changelist.content.decode() and report_url in changelist.content.decode()
    assert "$[0].title" in changelist.content.decode()

    report = admin_client.get(report_url).content.decode()
    assert f'href="#mismatch-{mismatch.pk}"' in report and f'id="mismatch-{mismatch.pk}"' in report
    assert "seen 4×" in report and "/api/tickets/?status=open → /api/v2/tickets?status=open" in report
    diff = admin_client.get(diff_url).content.decode()
    assert '<table class="diff">' in diff and "$[0].title" in diff and "(v2)" in diff


@pytest.mark.parametrize("who", ["anonymous", "alice"])
def test_nobody_but_staff_can_see_it(client: Client, mismatch: ShadowMismatch, demo_users: Any, who: str) -> None:
    if who != "anonymous":
        client.force_login(demo_users[who])
    for url in (reverse("admin:gateway_routing_shadowmismatch_report"), reverse("admin:gateway_routing_shadowmismatch_diff", args=[mismatch.pk])):
        response = client.get(url)
        assert response.status_code == 302 and response["location"].startswith("/admin/login/")


def test_staff_without_the_view_permission_are_refused(client: Client, mismatch: ShadowMismatch, django_user_model: Any) -> None:
    clerk = django_user_model.objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(clerk)
    assert client.get(reverse("admin:gateway_routing_shadowmismatch_report")).status_code == 403
