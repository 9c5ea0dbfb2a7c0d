"""JSON for tools: totals, routes, and each case with its differing and noise fields."""

from __future__ import annotations

import json

from fastapi_gateway.parity.reports import render_json
from fastapi_gateway.parity.results import CaseResult, RunReport


def test_tools_get_fields_outcomes_and_the_exit_code(sample_report: RunReport) -> None:
    data = json.loads(render_json(sample_report))
    assert data["exit_code"] == 2
    assert data["totals"] == {"cases": 4, "agree": 1, "differ": 1, "noise": 1, "errors": 1}
    assert data["routes"][0] == {"route": "api-tickets", "cases": 2, "agree": 1, "differ": 1, "noise": 0, "errors": 0,
                                 "legacy_ms_median": 4.5, "new_ms_median": 5.5}
    differing = data["cases"][1]
    assert (differing["differing_fields"], differing["noise_fields"]) == (["$[0].title"], ["$[0].updated_at"])
    assert differing["new"]["status"] == 200 and "<script>" in differing["new"]["body"]


def test_a_case_reads_back_from_json(sample_report: RunReport) -> None:
    original = sample_report.cases[1]
    again = CaseResult.from_dict(json.loads(json.dumps(original.as_dict())))
    assert again.differences == original.differences and again.noise == original.noise
    assert again.new is not None and again.new.body == original.new.body  # type: ignore[union-attr]
