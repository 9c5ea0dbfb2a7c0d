"""One side's answer to one request, as the comparators read it.

Headers stay a list, not a dict: an answer may set several cookies, and each ``Set-Cookie``
is compared on its own. ``target`` is the path and query the answer was asked for, so a
redirect back to "where you were" (``?next=/tickets/``) reads the same on both sides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Reply", "media_type"]


def media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


@dataclass(frozen=True)
class Reply:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    target: str = ""

    @classmethod
    def of(cls, status: int, headers: Mapping[str, str] | Iterable[tuple[Any, Any]] = (), body: bytes = b"", target: str = "") -> Reply:
        """From a status, headers (a mapping, or pairs of ``str`` or ``bytes``) and a body."""
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        normalised = tuple(
            (
                (name.decode("latin-1") if isinstance(name, bytes) else str(name)).lower(),
                value.decode("latin-1") if isinstance(value, bytes) else str(value),
            )
            for name, value in pairs
        )
        return cls(status, normalised, body, target)

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_list(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    @property
    def media_type(self) -> str:
        return media_type(self.header("content-type") or "")
