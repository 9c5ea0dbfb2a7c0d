"""The same run, four ways: text for a terminal, JSON for tools, JUnit XML for CI, HTML for people."""

from __future__ import annotations

from pathlib import Path

from fastapi_gateway.parity.results import RunReport
from fastapi_gateway.parity.reports.html import render_html
from fastapi_gateway.parity.reports.json import render_json
from fastapi_gateway.parity.reports.junit import render_junit
from fastapi_gateway.parity.reports.text import render_summary_table, render_text

__all__ = ["FORMATS", "render", "format_for_path", "render_html", "render_json", "render_junit", "render_text", "render_summary_table"]

FORMATS = ("text", "json", "junit", "html")
_BY_SUFFIX = {".html": "html", ".htm": "html", ".json": "json", ".xml": "junit", ".txt": "text"}


def render(report: RunReport, format: str) -> str:
    renderers = {"text": render_text, "json": render_json, "junit": render_junit, "html": render_html}
    try:
        return renderers[format](report)
    except KeyError:
        raise ValueError(f"unknown report format {format!r}; one of {', '.join(FORMATS)}") from None


def format_for_path(path: str | Path, default: str = "text") -> str:
    """The format a file name asks for (``report.html`` → html), else ``default``."""
    return _BY_SUFFIX.get(Path(path).suffix.lower(), default)
