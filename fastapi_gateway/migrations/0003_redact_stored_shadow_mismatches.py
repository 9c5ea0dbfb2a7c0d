"""Shadow mismatches stored before URLs, headers and cookies were redacted are redacted in place.

Rows written earlier keep the request's query as sent (``?access_token=…``); the database must
not hold those values. This runs today's ``Redactor`` over every stored row once.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations


def redact_stored_mismatches(apps: Any, schema_editor: Any) -> None:
    from fastapi_gateway.parity.difference import Difference
    from fastapi_gateway.parity.redaction import Redactor

    secrets = Redactor.from_settings()
    for record in apps.get_model("gateway_routing", "ShadowMismatch").objects.using(schema_editor.connection.alias).iterator():
        differences = [Difference.from_dict(item) for item in record.differences if isinstance(item, dict)]
        record.path = secrets.url(record.path)
        record.differences = [difference.as_dict() for difference in secrets.differences(differences)]
        record.legacy_body = secrets.stored_text(record.legacy_body)
        record.new_body = secrets.stored_text(record.new_body)
        record.save(update_fields=["path", "differences", "legacy_body", "new_body"])


class Migration(migrations.Migration):
    dependencies = [("gateway_routing", "0002_shadowmismatch_username")]

    operations = [migrations.RunPython(redact_stored_mismatches, migrations.RunPython.noop)]
