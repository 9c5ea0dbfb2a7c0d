"""Errors raised by ``queries``; both subclass ValueError so callers may catch either."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["UnknownStatus", "UnknownTicketField"]


class UnknownStatus(ValueError):
    """A status filter that names no status: the views answer 400 rather than an empty list."""

    def __init__(self, status: str, allowed: Iterable[str]) -> None:
        self.status = status
        self.allowed = tuple(allowed)
        super().__init__(
            f"Unknown status {status!r}; expected one of: {', '.join(self.allowed)}."
        )


class UnknownTicketField(ValueError):
    """An update naming fields a user may not change (owner, dates) or that do not exist."""

    def __init__(self, fields: Iterable[str], allowed: Iterable[str]) -> None:
        self.fields = tuple(sorted(fields))
        self.allowed = tuple(allowed)
        super().__init__(
            f"Cannot update {', '.join(self.fields)}; only {', '.join(self.allowed)} may change."
        )
