"""The route table's migrations: rows stored before redaction lose their secrets on upgrade."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from fastapi_gateway.parity.redaction import REDACTED
from fastapi_gateway.routing.models import ShadowMismatch

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("gateway_routing", "0002_shadowmismatch_username")
AFTER = ("gateway_routing", "0003_redact_stored_shadow_mismatches")


def _migrate(target: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([target])


@pytest.fixture(autouse=True)
def _back_to_the_latest() -> Iterator[None]:
    """Later tests need the schema of the latest migration, whatever this one migrated to."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("gateway_routing"))


def test_upgrading_to_the_latest_lets_a_rollback_name_the_change_it_undid() -> None:
    from fastapi_gateway.routing.models import RouteChange

    _migrate(AFTER)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("gateway_routing"))
    first = RouteChange.objects.create(name="r", from_state="legacy", to_state="new")
    undo = RouteChange.objects.create(name="r", from_state="new", to_state="legacy", undoes=first)
    assert RouteChange.objects.get(pk=first.pk).undone_by == undo


def test_upgrading_redacts_mismatches_stored_with_secrets() -> None:
    _migrate(BEFORE)
    ShadowMismatch.objects.create(
        route="api-ticket-detail", signature="s", method="GET", path="/api/tickets/1/?access_token=old-at-4Jx&status=open",
        differences=[{"path": "header:location", "legacy": "/accounts/login/?next=/api/tickets/1/%3Fpassword%3Dold-pw-9Kc",
                      "new": None, "kind": "missing"}],
        legacy_status=302, new_status=200, legacy_body="", new_body='{\n "api_key": "old-key-2Vb",\n "title": "Printer"\n}',
    )
    _migrate(AFTER)
    record = ShadowMismatch.objects.get()
    assert record.path == f"/api/tickets/1/?access_token={REDACTED}&status=open"
    assert record.differences[0]["legacy"] == f"/accounts/login/?next=/api/tickets/1/%3Fpassword%3D{REDACTED}"
    assert record.new_body == f'{{\n "api_key": "{REDACTED}",\n "title": "Printer"\n}}'
