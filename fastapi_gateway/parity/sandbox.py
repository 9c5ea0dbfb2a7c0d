"""Run one side of an unsafe case inside a database transaction that is always rolled back.

The trap: neither side touches the database from the thread that would open the
transaction. Django views run in the WSGI bridge's threads and new handlers in AnyIO's
(``run_orm``), each with its own connection, outside any transaction of ours. So for the
duration of one side, every thread is handed one shared connection — what Django's own
``LiveServerTestCase`` does for in-memory SQLite — with an ``atomic()`` block open on it and
rolled back at the end. The request hygiene that would close that connection mid-way
(``close_old_connections`` on ``request_started``/``request_finished`` and in ``run_orm``)
is made a no-op on it, as Django's test client does by disconnecting those signals.
Sides run one at a time, so the shared connection is never used by two threads at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import anyio.to_thread
from django.db import connections, transaction

from fastapi_gateway.compat import set_thread_connections, thread_connections

__all__ = ["rolled_back"]

_NEUTRALISED = ("close", "close_if_unusable_or_obsolete")


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


@dataclass
class _Sandbox:
    aliases: Sequence[str]
    shared: dict[str, Any] = field(default_factory=dict)
    atomics: list[Any] = field(default_factory=list)
    saved: Any = None

    def enter(self) -> None:
        for alias in self.aliases:
            connection = connections.create_connection(alias)
            connection.inc_thread_sharing()
            for name in _NEUTRALISED:
                setattr(connection, name, _noop)
            self.shared[alias] = connection
        self.saved = thread_connections(connections)
        set_thread_connections(connections, SimpleNamespace(**self.shared))
        try:
            for alias in self.aliases:
                atomic = transaction.atomic(using=alias)
                atomic.__enter__()
                self.atomics.append(atomic)
        except BaseException:
            self.exit()
            raise

    def exit(self) -> None:
        try:
            for alias, atomic in zip(reversed(self.aliases[: len(self.atomics)]), reversed(self.atomics)):
                transaction.set_rollback(True, using=alias)
                atomic.__exit__(None, None, None)
        finally:
            set_thread_connections(connections, self.saved)
            for connection in self.shared.values():
                for name in _NEUTRALISED:
                    delattr(connection, name)
                connection.close()
                connection.dec_thread_sharing()


@asynccontextmanager
async def rolled_back(aliases: Sequence[str] | None = None) -> AsyncIterator[None]:
    """Everything written to the database inside is rolled back, by whichever thread wrote it."""
    sandbox = _Sandbox(list(aliases) if aliases is not None else list(connections))
    await anyio.to_thread.run_sync(sandbox.enter)
    try:
        yield
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(sandbox.exit)
