"""The run's figures as a terminal table, a JSON file and ``bench/RESULTS.md``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .figures import Figure, Series
from .routing_cost import STATE_ROUNDS

__all__ = ["CHARTS", "SECTIONS", "terminal_table", "write_json", "write_results_md"]

SECTIONS = {
    "a": "(a) legacy page /tickets/ throughput and latency vs gunicorn sync, same process count",
    "b": "(b) latency added at 1 connection (p50 Δ vs gunicorn)",
    "c": "(c) session adapter cost per engine vs Django's SessionMiddleware + AuthenticationMiddleware",
    "d": "(d) Gradio event round trip, logged in, vs bare Gradio",
    "e": "(e) 1 GB download and upload vs gunicorn and Django's ASGI handler",
    "f": "(f) gateway memory with every page loaded, cold start",
    "g": "(g) route table: legacy-state overhead and shadow cost on /api/tickets/",
    "h": "(h) how cost grows with the data: a page of the new side vs the legacy whole list, 200 to 10,000 tickets",
    "i": "(i) how cost grows with the route table: 3 to 1,000 declared routes",
    "j": "(j) 2,000 open Gradio streams in one process: memory per stream, legacy pages beside them",
    "k": "(k) 10,000 Gradio sessions and uploads tracked by the guard: memory, and its bound",
}

#: The chart each section draws into ``--out`` (copied beside RESULTS.md by ``--write-results``).
CHARTS = {"g": "shadow.png", "h": "growth.png", "i": "routes.png", "j": "streams.png", "k": "guard_sessions.png"}

_DIGITS = {"req/s": 0, "µs": 0, "MiB": 1, "ms": 2, "s": 2}


def _number(value: float, unit: str) -> str:
    return f"{value:.{_DIGITS.get(unit, 2)}f}"


def _spread(figure: Figure) -> str:
    if len(figure.value.samples) < 2 and len(figure.baseline.samples) < 2:
        return "n=1"
    low, high = figure.value.spread
    base_low, base_high = figure.baseline.spread
    return (f"{_number(low, figure.unit)}–{_number(high, figure.unit)} / "
            f"{_number(base_low, figure.unit)}–{_number(base_high, figure.unit)}")


def _goal(figure: Figure) -> str:
    if figure.goal is None:
        return ""
    mark = {True: "met", False: "MISSED", None: "?"}[figure.goal_met]
    return f"{figure.goal.text(figure.unit)}: {mark}"


def _picked(series: Series) -> str:
    return f" (median of {len(series.samples)})" if series.pick == "median" else ""


def _row(figure: Figure) -> list[str]:
    ratio = "—" if figure.ratio is None else f"{figure.ratio:.2f}×"
    delta = f"{figure.delta:+.{_DIGITS.get(figure.unit, 2)}f}"
    return [
        figure.label,
        f"{_number(figure.value.figure, figure.unit)} {figure.unit}{_picked(figure.value)}",
        f"{figure.baseline_label}: {_number(figure.baseline.figure, figure.unit)}{_picked(figure.baseline)}",
        ratio,
        delta,
        _spread(figure),
        _goal(figure),
    ]


_HEADERS = ["figure", "value (best, or as marked)", "baseline", "ratio", "Δ", "range: value / baseline", "goal"]


def terminal_table(figures: Sequence[Figure]) -> str:
    rows = [_row(f) for f in figures]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(_HEADERS)]
    lines: list[str] = []
    for section, title in SECTIONS.items():
        chosen = [r for f, r in zip(figures, rows) if f.section == section]
        if not chosen:
            continue
        lines += ["", title, "  ".join(h.ljust(w) for h, w in zip(_HEADERS, widths)), "  ".join("-" * w for w in widths)]
        lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in chosen]
    return "\n".join(lines)


def write_json(path: Path, figures: Sequence[Figure], context: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**context, "figures": [f.as_json() for f in figures]}, indent=1, ensure_ascii=False))


def _markdown_rows(figures: Sequence[Figure]) -> list[str]:
    lines = ["| " + " | ".join(_HEADERS) + " | note |", "|" + "---|" * (len(_HEADERS) + 1)]
    for figure in figures:
        cells = [c.replace("|", "\\|") for c in (*_row(figure), figure.note)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_results_md(path: Path, figures: Sequence[Figure], context: dict[str, Any]) -> None:
    machine, load, config = context["machine"], context["load"], context["config"]
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    shared = (
        f"**Shared machine**: yes — load average {load['load_average_before'][0]} before the run; processes outside "
        f"the suite took {load['others_cpu_seconds']} CPU-seconds ({load['others_share_of_machine']:.0%} of the "
        f"machine) during its {load['wall_seconds']:.0f} s. Ratios come from interleaved runs, so both sides of each "
        "felt the same neighbours; absolute figures are lower than on an idle machine."
        if load["shared"] else
        f"Shared machine: no other load seen (load average {load['load_average_before'][0]} before the run)."
    )
    missed = [f for f in figures if f.goal_met is False]
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m bench --write-results` (`make bench BENCH_ARGS=--write-results`); every figure is",
        "best of N with its range (or, where it says so, the median of its rounds), read against a baseline",
        "measured in the same run. How each figure is measured is in the docstring of its module in `bench/`.",
        "",
        "## Machine",
        "",
        f"- Date: {machine['date']}; git HEAD {machine['git_head']}"
        + (f" with uncommitted bridge files ({'; '.join(machine['bridge_files_uncommitted'])})"
           if machine["bridge_files_uncommitted"] else ""),
        f"- {machine['cores']} cores, {machine['cpu']}, {machine['ram_gib']} GiB RAM, Linux {machine['kernel']}",
        f"- {versions}; {machine['wrk']}",
        f"- Legacy bridge installed in the gateway: `{machine['bridge']}`",
        f"- {shared}",
        f"- Run: {'--quick (smoke) ' if config['quick'] else ''}wrk {config['duration']:g} s per run, best of "
        f"{config['repeats']} (the shadow and legacy states of (g): median of {STATE_ROUNDS * config['repeats']} rounds), "
        f"{config['connections']} connections, 1 wrk thread; Gradio {config['gradio_events']} "
        f"events × {config['gradio_repeats']}; transfers {config['transfer_mb']} MB × {config['transfer_repeats']}; "
        f"cold start × {config['cold_start_repeats']}; adapter timeit best of {config['micro_repeats']} × "
        f"{config['micro_number']} calls.",
        "",
        "## Reading the figures",
        "",
        "- **ratio** is value / baseline: above 1 is better for req/s, worse for times, latencies and memory.",
        "- **Keep-alive**: gunicorn's sync worker closes every connection (it answers `Connection: close` even",
        "  when wrk keeps it open), while uvicorn keeps it. The *keep-alive* rows are what each server does",
        "  by default; the *close* rows send `Connection: close` to both, like for like. Both are shown.",
        "- uvicorn runs with `--loop uvloop --http httptools --no-proxy-headers --no-access-log`; gunicorn",
        "  writes no access log by default either. Two processes: the gateway's launcher",
        "  (`python -m fastapi_gateway.server.launcher --workers 2`, the goal holder) and `uvicorn --workers 2`, vs `gunicorn -w 2` (sync).",
        "- Every server has its own SQLite database (a copy of one migrated and seeded in this run) and",
        "  wrk sends the session cookies of a login made through the real login form.",
        "",
    ]
    for section, title in SECTIONS.items():
        chosen = [f for f in figures if f.section == section]
        if chosen:
            lines += [f"## {title}", "", *_markdown_rows(chosen), ""]
            chart = (context.get("charts") or {}).get(section)
            if chart:
                lines += [f"![{title}]({chart})", ""]
    lines += ["## Goals missed in this run", ""]
    lines += [f"- {f.label}: {_number(f.value.figure, f.unit)} {f.unit} vs {f.baseline_label} "
              f"{_number(f.baseline.figure, f.unit)} — goal {f.goal.text(f.unit) if f.goal else ''} ({f.goal.source if f.goal else ''})"
              for f in missed] or ["- none"]
    notes = context.get("notes") or []
    if notes:
        lines += ["", "## Notes from the run", "", *[f"- {n}" for n in notes]]
    path.write_text("\n".join(lines) + "\n")
