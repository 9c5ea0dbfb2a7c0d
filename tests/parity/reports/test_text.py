"""The terminal report: the per-route table first, then every case that did not simply agree."""

from __future__ import annotations

from fastapi_gateway.parity.reports import render_text
from fastapi_gateway.parity.results import RunReport


def test_the_table_counts_outcomes_and_median_latency_per_route(sample_report: RunReport) -> None:
    text = render_text(sample_report)
    assert "4 cases: 1 agree, 1 differ, 1 agree apart from noise, 1 errors" in text
    table = text.split("\n\n")[1].splitlines()
    assert table[0].split() == ["ROUTE", "CASES", "AGREE", "DIFFER", "NOISE", "ERRORS", "LEGACY", "ms", "NEW", "ms"]
    assert table[1].split() == ["api-tickets", "2", "1", "1", "0", "0", "4.5", "5.5"]
    assert table[3].split() == ["broken", "1", "0", "0", "0", "1", "-", "-"]


def test_differing_noisy_and_failed_cases_are_listed_with_their_fields(sample_report: RunReport) -> None:
    text = render_text(sample_report)
    assert 'DIFFER  api-tickets · list (as alice)  GET /api/tickets/ → /api/v2/tickets\n    $[0].title: "Alice: ticket 1" → "<script>alert(1)</script>"' in text
    assert "noise, left out: differ between two legacy answers: $[0].updated_at" in text
    assert "NOISE   clock · clock (as alice)" in text
    assert "ERROR   broken · list (as anonymous)  GET /x/ → /v2/x\n    new side unreachable" in text
    assert "(as bob)" not in text  # agreeing cases are only counted
    assert "warnings:\n  - lonely: no default cases" in text
