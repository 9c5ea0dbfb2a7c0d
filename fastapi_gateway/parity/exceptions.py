"""Errors of parity runs; each carries what its message is made of."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi_gateway.exceptions import GatewayError

if TYPE_CHECKING:
    from fastapi_gateway.parity.results import CaseResult

__all__ = ["ParityError", "CaseFileError", "UnsafeCase", "UnknownUser", "SideUnreachable", "ParityMismatch"]


class ParityError(GatewayError):
    """A parity run cannot be made as asked (exit code 2)."""


class CaseFileError(ParityError):
    """A cases file that cannot be read: where, and what is wrong."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class UnsafeCase(ParityError):
    """An unsafe method asked for without opting in: parity never writes by accident."""

    def __init__(self, name: str, method: str) -> None:
        super().__init__(
            f"case {name!r}: {method} is not a safe method; add `unsafe = true` to run it inside "
            "a database transaction rolled back after each side"
        )
        self.name = name
        self.method = method


class UnknownUser(ParityError):
    def __init__(self, username: str) -> None:
        super().__init__(f"no user named {username!r}")
        self.username = username


class SideUnreachable(ParityError):
    """One side raised, timed out or answered as unavailable: the case says nothing about parity."""

    def __init__(self, side: str, reason: str) -> None:
        super().__init__(f"{side} side unreachable: {reason}")
        self.side = side
        self.reason = reason


class ParityMismatch(AssertionError):
    """Raised in tests (``raise_on_mismatch``) when a case differs; ``result`` has it all."""

    def __init__(self, result: CaseResult) -> None:
        fields = "\n".join(f"  {difference.describe()}" for difference in result.differences[:20])
        more = f"\n  … and {len(result.differences) - 20} more" if len(result.differences) > 20 else ""
        detail = result.error if result.outcome == "error" else f"differs at {', '.join(result.fields())}:\n{fields}{more}"
        super().__init__(f"parity: {result.title()} {detail}")
        self.result = result
