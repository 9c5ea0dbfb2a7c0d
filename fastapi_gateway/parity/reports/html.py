"""The run as one self-contained HTML page: no CDN, no script, opens from a file or an email.

Top: totals and the per-route table. Then each route's cases, and for each case that did not
simply agree: the differing fields (noise fields marked as such), and the two answers side
by side, syntax-highlighted, the rows of differing fields and of noise fields marked, long
unchanged runs folded. Everything shown has been redacted before it got here.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from fastapi_gateway.parity.results import AGREE, DIFFER, ERROR, NOISE, CaseResult, RunReport
from fastapi_gateway.parity.reports.highlight import highlight
from fastapi_gateway.parity.reports.side_by_side import Cell, diff_rows, marks, observation_lines

__all__ = ["render_html", "case_section", "STYLE"]

STYLE = """
:root { --agree:#1a7f37; --differ:#cf222e; --noise:#9a6700; --error:#8250df; --muted:#57606a; --line:#d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
header.top { background: #fff; border-bottom: 1px solid var(--line); padding: 16px 24px; }
h1 { font-size: 20px; margin: 0 0 6px; } h2 { font-size: 17px; margin: 28px 0 8px; } h3 { font-size: 15px; margin: 0; }
main { padding: 8px 24px 48px; max-width: 1600px; }
.muted { color: var(--muted); } code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; }
.badge.agree { background: var(--agree); } .badge.differ { background: var(--differ); }
.badge.noise { background: var(--noise); } .badge.error { background: var(--error); }
.totals span { margin-right: 14px; }
table { border-collapse: collapse; background: #fff; }
table.summary th, table.summary td, table.cases th, table.cases td, table.fields th, table.fields td {
  border: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
table.summary td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.has-differ td:first-child { border-left: 4px solid var(--differ); } tr.has-error td:first-child { border-left: 4px solid var(--error); }
article.case { background: #fff; border: 1px solid var(--line); border-radius: 6px; margin: 14px 0; padding: 12px 14px; }
article.case.differ { border-left: 5px solid var(--differ); } article.case.noise { border-left: 5px solid var(--noise); }
article.case.error { border-left: 5px solid var(--error); }
.targets { margin: 4px 0 10px; }
table.fields { margin: 6px 0 12px; } table.fields td.value { max-width: 520px; overflow-wrap: anywhere; }
tr.noise-field td { background: #fff8c5; } tr.noise-field td.path::after { content: " noise"; color: var(--noise); font-weight: 600; font-size: 11px; }
table.diff { width: 100%; table-layout: fixed; border: 1px solid var(--line); }
table.diff col.num { width: 44px; } table.diff col.code { width: calc(50% - 44px); }
table.diff th { background: #f6f8fa; border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; font-weight: 600; }
table.diff td { padding: 0 8px; white-space: pre-wrap; overflow-wrap: anywhere; vertical-align: top; }
table.diff td.num { color: var(--muted); text-align: right; user-select: none; border-right: 1px solid var(--line); }
td.del, td.replace.left { background: #ffebe9; } td.ins, td.replace.right { background: #dafbe1; }
td.field { box-shadow: inset 3px 0 0 var(--differ); font-weight: 600; }
td.noise { background: #fff8c5 !important; box-shadow: inset 3px 0 0 var(--noise); }
td.noise::after { content: "  ⟵ noise"; color: var(--noise); font-size: 11px; font-weight: 600; }
tr.skip td { background: #f6f8fa; color: var(--muted); text-align: center; font-style: italic; }
.k { color: #0550ae; } .s { color: #0a3069; } .n { color: #953800; } .l { color: #8250df; } .p { color: #57606a; }
.t { color: #116329; } .a { color: #953800; }
details > summary { cursor: pointer; color: var(--muted); margin: 6px 0; }
.error-message { color: var(--error); font-weight: 600; white-space: pre-wrap; }
ul.warnings { background: #fff8c5; border: 1px solid #d4a72c; padding: 8px 28px; }
"""


def _value(value: Any) -> str:
    if value is None:
        return '<span class="muted">—</span>'
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > 400:
        text = text[:399] + "…"
    return f"<code>{escape(text)}</code>"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _badge(outcome: str) -> str:
    labels: dict[str, str] = {AGREE: "agree", DIFFER: "differ", NOISE: "noise only", ERROR: "error"}
    label = labels.get(outcome, outcome)
    return f'<span class="badge {escape(outcome)}">{escape(label)}</span>'


def _summary_table(report: RunReport) -> str:
    rows = []
    for s in report.summaries():
        row_class = "has-error" if s.errors else "has-differ" if s.differ else ""
        rows.append(
            f'<tr class="{row_class}"><td><a href="#route-{escape(s.route)}">{escape(s.route)}</a></td>'
            f'<td class="num">{s.cases}</td><td class="num">{s.agree}</td><td class="num">{s.differ}</td>'
            f'<td class="num">{s.noise}</td><td class="num">{s.errors}</td>'
            f'<td class="num">{_ms(s.legacy_ms)}</td><td class="num">{_ms(s.new_ms)}</td></tr>'
        )
    return (
        '<table class="summary"><thead><tr><th>route</th><th>cases</th><th>agree</th><th>differ</th>'
        "<th>noise</th><th>errors</th><th>legacy ms (median)</th><th>new ms (median)</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _fields_table(case: CaseResult) -> str:
    if not case.differences and not case.noise:
        return ""
    rows = [
        f'<tr class="differing-field"><td class="path mono">{escape(d.path)}</td><td>{escape(d.kind)}</td>'
        f'<td class="value">{_value(d.legacy)}</td><td class="value">{_value(d.new)}</td></tr>'
        for d in case.differences
    ]
    rows += [
        f'<tr class="noise-field"><td class="path mono">{escape(d.path)}</td><td>differs between two legacy answers</td>'
        f'<td class="value">{_value(d.legacy)}</td><td class="value">{_value(d.new)} <span class="muted">(2nd legacy)</span></td></tr>'
        for d in case.noise
    ]
    return (
        '<table class="fields"><thead><tr><th>field</th><th>kind</th><th>legacy</th><th>new</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _cell(cell: Cell | None, side: str, kind: str, case: CaseResult, media_type: str) -> str:
    if cell is None:
        return f'<td class="num"></td><td class="{kind} {side} empty"></td>'
    classes = [kind, side]
    if marks(cell.path, case.differences):
        classes.append("field")
    elif marks(cell.path, case.noise):
        classes.append("noise")
    title = f' title="{escape(cell.path)}"' if cell.path else ""
    code = highlight(cell.text, media_type if not cell.path.startswith(("status", "header:", "cookie:")) else "text/plain")
    return f'<td class="num">{cell.number}</td><td class="{" ".join(classes)}"{title}>{code}</td>'


def _diff_table(case: CaseResult) -> str:
    left, right = observation_lines(case.legacy), observation_lines(case.new)
    if not left and not right:
        return ""
    media_type = (case.legacy or case.new).media_type if (case.legacy or case.new) else "text/plain"  # type: ignore[union-attr]
    rows = []
    for row in diff_rows(left, right):
        if row.kind == "skip":
            rows.append(f'<tr class="skip"><td colspan="4">⋯ {row.skipped} unchanged lines ⋯</td></tr>')
            continue
        kind = {"delete": "del", "insert": "ins"}.get(row.kind, row.kind)
        rows.append(f"<tr>{_cell(row.left, 'left', kind, case, media_type)}{_cell(row.right, 'right', kind, case, media_type)}</tr>")
    legacy_ms = f" · {case.legacy.latency_ms:.1f} ms" if case.legacy else ""
    new_ms = f" · {case.new.latency_ms:.1f} ms" if case.new else ""
    return (
        '<table class="diff"><colgroup><col class="num"><col class="code"><col class="num"><col class="code"></colgroup>'
        f'<thead><tr><th colspan="2">legacy <span class="mono muted">{escape(case.legacy_target)}</span>{legacy_ms}</th>'
        f'<th colspan="2">new <span class="mono muted">{escape(case.new_target)}</span>{new_ms}</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def case_section(case: CaseResult) -> str:
    """One case: its verdict, fields and side-by-side diff (also used by the shadow view)."""
    error = f'<p class="error-message">{escape(case.error)}</p>' if case.outcome == ERROR else ""
    fields = ""
    if case.outcome == DIFFER:
        fields = f"<p>differs at {', '.join(f'<code>{escape(path)}</code>' for path in case.fields())}</p>"
    elif case.noise:
        fields = f"<p>noise only: {', '.join(f'<code>{escape(path)}</code>' for path in case.noise_fields())}</p>"
    return (
        f'<article class="case {escape(case.outcome)}" id="{escape(case.anchor)}">'
        f"<h3>{_badge(case.outcome)} {escape(case.name)} <span class=\"muted\">as {escape(case.who())}</span></h3>"
        f'<div class="targets mono">{escape(case.method)} {escape(case.legacy_target)} → {escape(case.new_target)}'
        f'{f" <span class=muted>({escape(case.source)})</span>" if case.source else ""}</div>'
        f"{error}{fields}{_fields_table(case)}{_diff_table(case)}</article>"
    )


def _route_section(route: str, cases: list[CaseResult]) -> str:
    rows = "".join(
        f'<tr><td>{_badge(case.outcome)}</td><td><a href="#{escape(case.anchor)}">{escape(case.name)}</a></td>'
        f"<td>{escape(case.who())}</td><td class=\"mono\">{escape(case.method)} {escape(case.legacy_target)}</td>"
        f'<td class="mono">{escape(case.new_target)}</td><td class="mono">{escape(", ".join(case.fields() or case.noise_fields()))}</td></tr>'
        if case.outcome != AGREE else
        f'<tr><td>{_badge(case.outcome)}</td><td>{escape(case.name)}</td><td>{escape(case.who())}</td>'
        f'<td class="mono">{escape(case.method)} {escape(case.legacy_target)}</td><td class="mono">{escape(case.new_target)}</td><td></td></tr>'
        for case in cases
    )
    failing = [case for case in cases if case.outcome != AGREE]
    table = (
        '<table class="cases"><thead><tr><th></th><th>case</th><th>user</th><th>legacy</th><th>new</th><th>fields</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )
    listing = table if failing else f"<details><summary>all {len(cases)} cases agree</summary>{table}</details>"
    return f'<section id="route-{escape(route)}"><h2>{escape(route)}</h2>{listing}{"".join(case_section(c) for c in failing)}</section>'


def render_html(report: RunReport) -> str:
    report.number_anchors()
    determinism = report.determinism or {}
    totals = "".join(
        f"<span>{_badge(outcome)} {report.count(outcome)}</span>" for outcome in (AGREE, DIFFER, NOISE, ERROR)
    )
    warnings = (
        '<ul class="warnings">' + "".join(f"<li>{escape(w)}</li>" for w in report.warnings) + "</ul>" if report.warnings else ""
    )
    routes: dict[str, list[CaseResult]] = {}
    for case in report.cases:
        routes.setdefault(case.route, []).append(case)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(report.title)}</title><style>{STYLE}</style></head><body>"
        f'<header class="top"><h1>{escape(report.title)}</h1>'
        f'<div class="totals">{totals}</div>'
        f'<p class="muted">{escape(report.headline())} · {report.started_at:%Y-%m-%d %H:%M:%S} UTC · {report.duration_s:.2f} s · '
        f"frozen time: {escape(str(determinism.get('frozen_at') or 'off'))} · random seed: "
        f"{escape(str(determinism.get('seed') if determinism.get('seed') is not None else 'off'))} · "
        f"exit code {report.exit_code}</p></header>"
        f"<main>{warnings}{_summary_table(report)}{''.join(_route_section(r, c) for r, c in routes.items())}</main>"
        "</body></html>\n"
    )
