"""What a parity case is: one request for both sides (HTTP), or one call of two functions.

An HTTP case names the legacy and the new URL (the gateway serves both), the method, the
user whose real session the requests carry, and the rules of its comparison. A function case
is GitHub Scientist's experiment: the legacy function is the control, the new one the
candidate, called with the same arguments. Unsafe methods need ``unsafe=True``, which also
means every side runs in a rolled-back transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..routing.declarations import SAFE_METHODS
from .exceptions import UnsafeCase
from .rules import Rules

__all__ = ["Case", "HttpCase", "FunctionCase"]


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
