"""Frozen time and seeded randomness for a run, so both sides see the same clock and dice.

What it reaches, honestly: ``time.time()`` / ``time.time_ns()`` everywhere in this process
(the ``time`` module's attributes are replaced, so every thread sees it), and
``django.utils.timezone.now()`` when called through its module — Django's own ``auto_now``
fields, sessions and signing do that. ``random``'s module-level functions are re-seeded
before each side is asked. What it does not reach: ``datetime.now()`` / ``date.today()``
called directly (a C type, not patchable without a library such as ``time-machine``),
names bound before the run (``from time import time``), ``secrets``, ``uuid4``,
``os.urandom``, and anything outside the process (the database server's ``NOW()``).
Time freezing is process-wide, so parity runs one case at a time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone
from typing import Any

__all__ = ["Determinism"]


@dataclass(frozen=True)
class Determinism:
    frozen_at: datetime | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.frozen_at is not None and self.frozen_at.tzinfo is None:
            object.__setattr__(self, "frozen_at", self.frozen_at.replace(tzinfo=dt_timezone.utc))

    @contextmanager
    def applied(self) -> Iterator[None]:
        """Freeze the clock for the whole run (sessions are made inside it, so they stay valid)."""
        if self.frozen_at is None:
            yield
            return
        from django.utils import timezone

        frozen = self.frozen_at
        seconds = frozen.timestamp()
        saved = (time.time, time.time_ns, timezone.now)
        setattr(time, "time", lambda: seconds)
        setattr(time, "time_ns", lambda: int(seconds * 1_000_000_000))
        setattr(timezone, "now", lambda: frozen)
        try:
            yield
        finally:
            setattr(time, "time", saved[0])
            setattr(time, "time_ns", saved[1])
            setattr(timezone, "now", saved[2])

    def reseed(self) -> None:
        """Before each side: the same random sequence for legacy, new and legacy again."""
        if self.seed is not None:
            random.seed(self.seed)

    def as_dict(self) -> dict[str, Any]:
        return {"frozen_at": self.frozen_at.isoformat() if self.frozen_at else None, "seed": self.seed}
