"""What the migration console refuses, each error carrying what its message line shows."""

from __future__ import annotations

from fastapi_gateway.exceptions import GatewayError

__all__ = ["ConsoleDenied", "ConsoleInputError"]


class ConsoleDenied(GatewayError):
    """The event's user is not (or no longer) signed-in active staff."""

    def __init__(self, username: str | None) -> None:
        super().__init__("The migration console is for staff only. Sign in with a staff account.")
        self.username = username


class ConsoleInputError(GatewayError):
    """An action the console will not take as asked: ``field`` says which input is wrong
    (``route``, ``state``, ``percent``, ``steps``, ``reason``, or ``""`` for the route's own
    situation, such as nothing to roll back)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
