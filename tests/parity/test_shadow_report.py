"""The staff-only view of the latest shadow mismatches per route, each linked to its diff."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

from fastapi_gateway.orm import run_orm
from fastapi_gateway.parity.redaction import REDACTED
from fastapi_gateway.parity.reports import FORMATS, render
from fastapi_gateway.routing.shadow_report import latest_mismatches, shadow_report
from fastapi_gateway.routing.models import ShadowMismatch
from fastapi_gateway.routing.table import declared_routes
from migration_plan.routes import ROUTES

from .conftest import SentSecrets

pytestmark = pytest.mark.django_db

LEGACY = [{"id": 3, "title": "Alice: printer", "status": "open"}]
NEW = [{"id": 3, "title": "Alice: printer (v2)", "status": "open"}]


@pytest.fixture
def mismatch(settings: Settings) -> ShadowMismatch:
    settings.GATEWAY = {**settings.GATEWAY, "ROUTES": ROUTES}
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


@pytest.mark.django_db(transaction=True)
async def test_staff_see_a_shadowed_requests_parameter_names_never_its_secrets(
    shadowed_secrets: SentSecrets, admin_client: Client
) -> None:
    def pages() -> dict[str, str]:
        changelist = reverse("admin:gateway_routing_shadowmismatch_changelist")
        urls = [changelist, f"{changelist}?q=access_token", reverse("admin:gateway_routing_shadowmismatch_report")]
        for pk in ShadowMismatch.objects.values_list("pk", flat=True):
            urls += [reverse("admin:gateway_routing_shadowmismatch_change", args=[pk]),
                     reverse("admin:gateway_routing_shadowmismatch_diff", args=[pk])]
        shown = {}
        for url in urls:
            response = admin_client.get(url)
            assert response.status_code == 200, url
            shown[url] = response.content.decode()
        return shown

    shown = await run_orm(pages)
    assert len(shown) == 7
    for url, html in shown.items():
        assert "access_token=" in html and "pass%77ord=" in html, url
        for secret in shadowed_secrets.values:
            assert secret not in html, (url, secret)
    search = next(html for url, html in shown.items() if url.endswith("?q=access_token"))
    assert search.count('/diff/">diff</a>') == 2  # both rows found by a parameter's name
    details = "".join(html for url, html in shown.items() if url.endswith("/change/"))
    for field in ("&quot;x-api-key&quot;: &quot;********************&quot;", "&quot;password&quot;: &quot;********************&quot;"):
        assert field in details


@pytest.mark.django_db(transaction=True)
async def test_the_shadow_report_in_every_format_names_the_parameters_not_their_values(shadowed_secrets: SentSecrets) -> None:
    report = await run_orm(lambda: shadow_report(latest_mismatches(), declared_routes()))
    for format_name in FORMATS:
        rendered = render(report, format_name)
        assert "access_token=" in rendered and "pass%77ord=" in rendered and "$.form" in rendered, format_name
        assert f"Token={REDACTED}" in rendered, format_name
        for secret in shadowed_secrets.values:
            assert secret not in rendered, (format_name, secret)


@pytest.mark.django_db(transaction=True)
def test_rows_stored_before_redaction_are_shown_redacted(admin_client: Client, settings: Settings) -> None:
    """A row written by an older worker (a rolling deploy, a restored backup) shows no secret either."""
    settings.GATEWAY = {**settings.GATEWAY, "ROUTES": ROUTES}
    record = ShadowMismatch.objects.create(
        route="api-ticket-detail", signature="old", method="GET", path="/api/tickets/1/?access_token=old-secret-Yq3&status=open",
        differences=[{"path": "header:location", "legacy": "/accounts/login/?next=/api/tickets/1/%3Fpassword%3Dold-pw-Hn5",
                      "new": None, "kind": "missing"}],
        legacy_status=302, new_status=401, legacy_body="", new_body='{\n "detail": "no",\n "session_token": "old-token-Vc8"\n}',
    )
    urls = [reverse("admin:gateway_routing_shadowmismatch_changelist"),
            reverse("admin:gateway_routing_shadowmismatch_change", args=[record.pk]),
            reverse("admin:gateway_routing_shadowmismatch_diff", args=[record.pk]),
            reverse("admin:gateway_routing_shadowmismatch_report")]
    for url in urls:
        html = admin_client.get(url).content.decode()
        assert "access_token=" in html, url
        for secret in ("old-secret-Yq3", "old-pw-Hn5", "old-token-Vc8"):
            assert secret not in html, (url, secret)
    for format_name in FORMATS:
        rendered = render(shadow_report([record], ROUTES), format_name)
        assert "old-secret-Yq3" not in rendered and "old-pw-Hn5" not in rendered and "old-token-Vc8" not in rendered


def test_the_report_sits_in_the_admin_with_each_route_s_state(admin_client: Client, mismatch: ShadowMismatch) -> None:
    from fastapi_gateway.routing.table import set_route_state

    set_route_state("api-tickets", "shadow", reason="compare")
    page = admin_client.get(reverse("admin:gateway_routing_shadowmismatch_report")).content.decode()
    assert 'class="breadcrumbs"' in page and reverse("admin:gateway_routing_shadowmismatch_changelist") in page
    assert "<td>api-tickets</td><td>shadow</td>" in page
    assert 'class="parity-report"' in page and f'id="mismatch-{mismatch.pk}"' in page
    assert "shadow-report-empty" not in page


def test_an_empty_report_says_what_to_do(admin_client: Client, settings: Settings) -> None:
    settings.GATEWAY = {**settings.GATEWAY, "ROUTES": ROUTES}
    page = admin_client.get(reverse("admin:gateway_routing_shadowmismatch_report")).content.decode()
    assert 'id="shadow-report-empty"' in page and "manage.py routes set NAME shadow" in page
    assert "exit code" not in page  # a command's wording has no place on an empty admin page
    for route in ROUTES:
        assert f"<td>{route.name}</td><td>legacy</td>" in page
