"""A function's result as JSON values, so function cases compare like HTTP bodies.

Runs in the worker thread with the call, because turning a lazy ``QuerySet`` into a list is
a query. Model instances become their concrete fields; sets are sorted (they have no order).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import Model
from django.db.models.fields.files import FieldFile

__all__ = ["to_jsonable"]


def to_jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if hasattr(value, "model_dump") and callable(value.model_dump):  # pydantic
        return to_jsonable(value.model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, FieldFile):  # iterating one would read the file, or raise without one
        return value.name or None
    if isinstance(value, Model):
        return {field.attname: to_jsonable(getattr(value, field.attname)) for field in value._meta.concrete_fields}
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (set, frozenset)):
        return sorted((to_jsonable(item) for item in value), key=lambda item: json.dumps(item, sort_keys=True, default=str))
    if isinstance(value, Iterable):
        return [to_jsonable(item) for item in value]
    return repr(value)
