"""A figure of the suite: a measured value, the baseline it is read against, and its ratio.

Every figure is best-of-N on a shared machine, so each side keeps all its samples: the best
one is the figure, the range is printed beside it so a reader sees how much the run moved.
A few figures are the median of more rounds instead (``pick="median"``, both sides alike): a
tail latency compared between two states of one server, where the best of three picked each
side's luckiest run, and the luck was not the same on both (bench/routing_cost.py).
"""

from __future__ import annotations

import operator
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Figure", "Goal", "Series"]

Better = Literal["higher", "lower"]
Pick = Literal["best", "median"]

_OPERATORS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class Series:
    """The samples of one measurement; ``best`` is the max or min depending on the direction,
    ``figure`` the one the figure shows: the best, or the median (``pick``)."""

    samples: tuple[float, ...]
    better: Better = "lower"
    pick: Pick = "best"

    @classmethod
    def of(cls, samples: Sequence[float], better: Better = "lower", pick: Pick = "best") -> Series:
        if not samples:
            raise ValueError("a series needs at least one sample")
        return cls(tuple(float(s) for s in samples), better, pick)

    @property
    def best(self) -> float:
        return max(self.samples) if self.better == "higher" else min(self.samples)

    @property
    def figure(self) -> float:
        return statistics.median(self.samples) if self.pick == "median" else self.best

    @property
    def spread(self) -> tuple[float, float]:
        return min(self.samples), max(self.samples)


@dataclass(frozen=True)
class Goal:
    """A goal of the issue: ``what`` (``ratio``, ``delta`` or ``value``) compared to ``limit``."""

    what: Literal["ratio", "delta", "value"]
    op: Literal["<=", ">="]
    limit: float
    source: str = ""  # which issue item set it, e.g. "#8.2"

    def text(self, unit: str) -> str:
        sign = "≤" if self.op == "<=" else "≥"
        if self.what == "ratio":
            return f"ratio {sign} {self.limit:g}×"
        label = "Δ" if self.what == "delta" else "value"
        return f"{label} {sign} {self.limit:g} {unit}"


@dataclass(frozen=True)
class Figure:
    section: str  # "a".."g"
    key: str  # stable machine-readable id
    label: str
    unit: str
    value: Series
    baseline_label: str
    baseline: Series
    goal: Goal | None = None
    note: str = ""
    compare: bool = True  # False where a ratio would mislead (growth over a near-zero baseline)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        base = self.baseline.figure
        return self.value.figure / base if base and self.compare else None

    @property
    def delta(self) -> float:
        return self.value.figure - self.baseline.figure

    @property
    def goal_met(self) -> bool | None:
        if self.goal is None:
            return None
        measured = {"ratio": self.ratio, "delta": self.delta, "value": self.value.figure}[self.goal.what]
        if measured is None:
            return None
        return _OPERATORS[self.goal.op](measured, self.goal.limit)

    def as_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "value": self.value.figure,
            "value_samples": list(self.value.samples),
            "baseline_label": self.baseline_label,
            "baseline": self.baseline.figure,
            "baseline_samples": list(self.baseline.samples),
            "better": self.value.better,
            "pick": self.value.pick,
            "ratio": self.ratio,
            "delta": self.delta,
            "goal": None if self.goal is None else self.goal.text(self.unit),
            "goal_source": None if self.goal is None else self.goal.source,
            "goal_met": self.goal_met,
            "note": self.note,
            **({"extra": self.extra} if self.extra else {}),
        }
