"""What the migration console refuses, each error carrying what its message line shows."""

from __future__ import annotations

from fastapi_gateway.exceptions import GatewayError

__all__ = ["ConsoleDenied", "ConsoleInputError"]


class ConsoleDenied(GatewayError):
    """The event's user is not (or no longer) active staff allowed to see the route table, or,
    ``acting``, to change it."""

    def __init__(self, username: str | None, *, acting: bool = False) -> None:
        super().__init__(
            "Changing routes needs the admin's permission to change route states; ask an administrator for it." if acting
            else "The migration console is for staff who may see the route table. Sign in with such an account."
        )
        self.username = username
        self.acting = acting


class ConsoleInputError(GatewayError):
    """An action the console will not take as asked: ``field`` says which input is wrong
    (``route``, ``state``, ``percent``, ``steps``, ``reason``, or ``""`` for the route's own
    situation, such as nothing to roll back)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
