"""Function results become JSON values, so experiments compare like HTTP bodies."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
from typing import Any

import pytest

from fastapi_gateway.parity.cases import to_jsonable
from legacy_django.tickets.models import Ticket


@dataclasses.dataclass
class Point:
    x: int
    when: datetime.date


def test_python_values_become_json_values() -> None:
    assert to_jsonable({"p": Point(1, datetime.date(2024, 1, 2)), "d": decimal.Decimal("1.10"), "s": {3, 1, 2}, "t": (1, "a")}) == {
        "p": {"x": 1, "when": "2024-01-02"}, "d": "1.10", "s": [1, 2, 3], "t": [1, "a"],
    }


@pytest.mark.django_db
def test_querysets_and_model_instances_become_lists_and_fields(alice: Any) -> None:
    value = to_jsonable(Ticket.objects.filter(owner=alice, status="open").order_by("pk"))
    assert len(value) == 3 and {item["owner_id"] for item in value} == {alice.pk}
    assert set(value[0]) >= {"id", "title", "status", "created_at"}
