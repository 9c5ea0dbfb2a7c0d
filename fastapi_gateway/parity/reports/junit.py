"""The run as JUnit XML for CI: one test suite per route, one test case per parity case.

A differing case is a ``<failure>`` whose message names the differing fields; a case that
could not run is an ``<error>``; noise goes to ``<system-out>``, visible but not failing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from fastapi_gateway.parity.results import DIFFER, ERROR, RunReport

__all__ = ["render_junit"]


def _seconds(milliseconds: float) -> str:
    return f"{milliseconds / 1000:.3f}"


def render_junit(report: RunReport) -> str:
    root = ET.Element(
        "testsuites", name=report.title, tests=str(len(report.cases)), failures=str(report.count(DIFFER)),
        errors=str(report.count(ERROR)), time=f"{report.duration_s:.3f}",
    )
    for summary in report.summaries():
        cases = [case for case in report.cases if case.route == summary.route]
        suite = ET.SubElement(
            root, "testsuite", name=f"parity.{summary.route}", tests=str(summary.cases), failures=str(summary.differ),
            errors=str(summary.errors), skipped="0",
            time=_seconds(sum((case.legacy.latency_ms if case.legacy else 0) + (case.new.latency_ms if case.new else 0) for case in cases)),
        )
        for case in cases:
            spent = (case.legacy.latency_ms if case.legacy else 0) + (case.new.latency_ms if case.new else 0)
            element = ET.SubElement(
                suite, "testcase", classname=f"parity.{case.route}",
                name=f"{case.name} (as {case.who()}) {case.method} {case.legacy_target} -> {case.new_target}", time=_seconds(spent),
            )
            if case.outcome == DIFFER:
                failure = ET.SubElement(element, "failure", message=f"differs at {', '.join(case.fields())}", type="ParityDifference")
                failure.text = "\n".join(difference.describe() for difference in case.differences)
            elif case.outcome == ERROR:
                error = ET.SubElement(element, "error", message=case.error, type="ParityError")
                error.text = case.error
            if case.noise:
                out = ET.SubElement(element, "system-out")
                out.text = "noise (differs between two legacy answers, not a failure): " + ", ".join(case.noise_fields())
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
