"""The run as JSON for tools: totals, per-route summaries, and every case with its fields."""

from __future__ import annotations

import json

from fastapi_gateway.parity.results import RunReport

__all__ = ["render_json"]


def render_json(report: RunReport) -> str:
    return json.dumps(report.as_dict(), indent=2, ensure_ascii=False, default=str) + "\n"
