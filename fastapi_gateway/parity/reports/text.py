"""The run for a terminal: the per-route table, then each case that did not simply agree."""

from __future__ import annotations

from fastapi_gateway.parity.results import AGREE, ERROR, NOISE, RunReport

__all__ = ["render_text", "render_summary_table"]

_HEADER = ("ROUTE", "CASES", "AGREE", "DIFFER", "NOISE", "ERRORS", "LEGACY ms", "NEW ms")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_summary_table(report: RunReport) -> str:
    rows = [_HEADER] + [
        (s.route, str(s.cases), str(s.agree), str(s.differ), str(s.noise), str(s.errors), _ms(s.legacy_ms), _ms(s.new_ms))
        for s in report.summaries()
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(_HEADER))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def render_text(report: RunReport) -> str:
    determinism = report.determinism or {}
    lines = [
        f"{report.title}: {report.headline()} in {report.duration_s:.2f} s",
        f"frozen time: {determinism.get('frozen_at') or 'off'} · random seed: "
        f"{'off' if determinism.get('seed') is None else determinism['seed']}",
        "",
        render_summary_table(report).rstrip("\n"),
    ]
    for case in report.cases:
        if case.outcome == AGREE:
            continue
        lines += ["", f"{case.outcome.upper():6}  {case.title()}  {case.method} {case.legacy_target} → {case.new_target}"]
        if case.outcome == ERROR:
            lines.append(f"    {case.error}")
        for difference in case.differences[:25]:
            lines.append(f"    {difference.describe()}")
        if len(case.differences) > 25:
            lines.append(f"    … and {len(case.differences) - 25} more differing fields")
        if case.noise:
            label = "noise (not failures)" if case.outcome == NOISE else "noise, left out"
            lines.append(f"    {label}: differ between two legacy answers: {', '.join(case.noise_fields()[:10])}")
    if report.warnings:
        lines += ["", "warnings:"] + [f"  - {warning}" for warning in report.warnings]
    return "\n".join(lines) + "\n"
