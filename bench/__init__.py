"""The benchmark suite of the gateway: ``python -m bench`` (``make bench``).

Real servers on 127.0.0.1 driven by wrk and curl, each figure a ratio against a baseline
measured in the same run; see ``RESULTS.md`` for the last committed run. ``hot_path`` is
the counted (not timed) regression guard that ``tests/bench_guard`` runs in CI.
"""

from __future__ import annotations

from .figures import Figure, Goal, Series

__all__ = ["Figure", "Goal", "Series"]
