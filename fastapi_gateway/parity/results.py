"""The outcome of a run: each case's verdict, and the per-route summary every report starts with.

A case *agrees*; agrees apart from *noise* (fields that differ between two legacy answers);
*differs* (names its differing fields); or is an *error* (it could not be run: a side was
unreachable, a user unknown). The run's exit code follows the worst: 2 for any error, 1 for
any difference, 0 otherwise — noise is reported, never a failure.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from fastapi_gateway.parity.difference import Difference
from fastapi_gateway.parity.observation import Observation, from_dict

__all__ = ["Outcome", "CaseResult", "RouteSummary", "RunReport", "AGREE", "NOISE", "DIFFER", "ERROR"]

Outcome = Literal["agree", "noise", "differ", "error"]
AGREE: Outcome = "agree"
NOISE: Outcome = "noise"
DIFFER: Outcome = "differ"
ERROR: Outcome = "error"


@dataclass
class CaseResult:
    route: str
    name: str
    kind: str  # "http" or "function"
    method: str
    legacy_target: str
    new_target: str
    user: str | None = None
    source: str = ""
    outcome: Outcome = AGREE
    differences: list[Difference] = field(default_factory=list)
    noise: list[Difference] = field(default_factory=list)
    error: str = ""
    legacy: Observation | None = None
    new: Observation | None = None
    anchor: str = ""

    def fields(self) -> list[str]:
        return list(dict.fromkeys(difference.path for difference in self.differences))

    def noise_fields(self) -> list[str]:
        return list(dict.fromkeys(difference.path for difference in self.noise))

    def who(self) -> str:
        return self.user or "anonymous"

    def title(self) -> str:
        return f"{self.route} · {self.name} (as {self.who()})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "name": self.name,
            "kind": self.kind,
            "method": self.method,
            "legacy_target": self.legacy_target,
            "new_target": self.new_target,
            "user": self.user,
            "source": self.source,
            "outcome": self.outcome,
            "differing_fields": self.fields(),
            "noise_fields": self.noise_fields(),
            "differences": [difference.as_dict() for difference in self.differences],
            "noise": [difference.as_dict() for difference in self.noise],
            "error": self.error,
            "legacy": self.legacy.as_dict() if self.legacy else None,
            "new": self.new.as_dict() if self.new else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseResult:
        return cls(
            route=str(data["route"]),
            name=str(data["name"]),
            kind=str(data.get("kind", "http")),
            method=str(data.get("method", "GET")),
            legacy_target=str(data.get("legacy_target", "")),
            new_target=str(data.get("new_target", "")),
            user=data.get("user"),
            source=str(data.get("source", "")),
            outcome=data.get("outcome", AGREE),
            differences=[Difference.from_dict(item) for item in data.get("differences", [])],
            noise=[Difference.from_dict(item) for item in data.get("noise", [])],
            error=str(data.get("error", "")),
            legacy=from_dict(data.get("legacy")),
            new=from_dict(data.get("new")),
        )


@dataclass
class RouteSummary:
    route: str
    cases: int = 0
    agree: int = 0
    differ: int = 0
    noise: int = 0
    errors: int = 0
    legacy_ms: float | None = None  # median latency of the legacy side
    new_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "route": self.route, "cases": self.cases, "agree": self.agree, "differ": self.differ,
            "noise": self.noise, "errors": self.errors,
            "legacy_ms_median": None if self.legacy_ms is None else round(self.legacy_ms, 2),
            "new_ms_median": None if self.new_ms is None else round(self.new_ms, 2),
        }


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


@dataclass
class RunReport:
    cases: list[CaseResult] = field(default_factory=list)
    title: str = "Parity report"
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    duration_s: float = 0.0
    determinism: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.number_anchors()

    def number_anchors(self) -> None:
        for index, case in enumerate(self.cases, start=1):
            case.anchor = case.anchor or f"case-{index}"

    def summaries(self) -> list[RouteSummary]:
        by_route: dict[str, RouteSummary] = {}
        latencies: dict[str, tuple[list[float], list[float]]] = {}
        for case in self.cases:
            summary = by_route.setdefault(case.route, RouteSummary(case.route))
            legacy_ms, new_ms = latencies.setdefault(case.route, ([], []))
            summary.cases += 1
            if case.outcome == AGREE:
                summary.agree += 1
            elif case.outcome == NOISE:
                summary.noise += 1
            elif case.outcome == DIFFER:
                summary.differ += 1
            else:
                summary.errors += 1
            if case.legacy is not None and case.legacy.latency_ms:
                legacy_ms.append(case.legacy.latency_ms)
            if case.new is not None and case.new.latency_ms:
                new_ms.append(case.new.latency_ms)
        for route, summary in by_route.items():
            summary.legacy_ms, summary.new_ms = _median(latencies[route][0]), _median(latencies[route][1])
        return list(by_route.values())

    def count(self, outcome: Outcome) -> int:
        return sum(1 for case in self.cases if case.outcome == outcome)

    @property
    def exit_code(self) -> int:
        if self.count(ERROR):
            return 2
        return 1 if self.count(DIFFER) else 0

    def headline(self) -> str:
        return (
            f"{len(self.cases)} case{'' if len(self.cases) == 1 else 's'}: {self.count(AGREE)} agree, "
            f"{self.count(DIFFER)} differ, {self.count(NOISE)} agree apart from noise, {self.count(ERROR)} errors"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "started_at": self.started_at.isoformat(),
            "duration_s": round(self.duration_s, 3),
            "exit_code": self.exit_code,
            "totals": {"cases": len(self.cases), "agree": self.count(AGREE), "differ": self.count(DIFFER),
                       "noise": self.count(NOISE), "errors": self.count(ERROR)},
            "determinism": self.determinism,
            "warnings": self.warnings,
            "routes": [summary.as_dict() for summary in self.summaries()],
            "cases": [case.as_dict() for case in self.cases],
        }
