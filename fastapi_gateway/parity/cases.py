"""What a parity case is: one request for both sides (HTTP), or one call of two functions.

An HTTP case names the legacy and the new URL (the gateway serves both), the method, the
user whose real session the requests carry, and the rules of its comparison. A function case
is GitHub Scientist's experiment: the legacy function is the control, the new one the
candidate, called with the same arguments. Unsafe methods need ``unsafe=True``, which also
means every side runs in a rolled-back transaction.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Model
from django.db.models.fields.files import FieldFile

from fastapi_gateway.migrated_route import SAFE_METHODS
from fastapi_gateway.parity.exceptions import UnsafeCase
from fastapi_gateway.parity.rules import Rules

__all__ = ["Case", "HttpCase", "FunctionCase", "to_jsonable"]


@dataclass(frozen=True)
class HttpCase:
    name: str
    legacy: str  # path and query, e.g. "/api/tickets/?status=open"
    new: str
    route: str = ""
    method: str = "GET"
    user: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    unsafe: bool = False
    rules: Rules = field(default_factory=Rules)
    source: str = "code"

    kind = "http"

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", self.method.upper())
        if self.method not in SAFE_METHODS and not self.unsafe:
            raise UnsafeCase(self.name, self.method)


@dataclass(frozen=True, eq=False)
class FunctionCase:
    name: str
    legacy: Callable[..., Any]
    new: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    user: str | None = None  # when set, that user object is passed as the first argument
    route: str = "functions"
    rules: Rules = field(default_factory=Rules)
    clean: Callable[[Any], Any] | None = None  # applied to both results before comparing
    unsafe: bool = False  # the functions write: run each inside a rolled-back transaction
    source: str = "code"

    kind = "function"
    method = "CALL"


Case = HttpCase | FunctionCase



def to_jsonable(value: Any) -> Any:
    """A function's result as JSON values, so function cases compare like HTTP bodies.  Runs in the
    worker thread with the call, because turning a lazy ``QuerySet`` into a list is a query.
    Model instances become their concrete fields; sets are sorted (they have no order).
    """
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
