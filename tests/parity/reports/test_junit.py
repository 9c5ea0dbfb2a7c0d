"""JUnit XML for CI: a suite per route, a failure naming the fields, errors as errors, noise as output."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from fastapi_gateway.parity.reports import render_junit
from fastapi_gateway.parity.results import RunReport


def test_ci_sees_failures_errors_and_noise_where_it_looks(sample_report: RunReport) -> None:
    root = ET.fromstring(render_junit(sample_report))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "1")
    suites = {suite.get("name"): suite for suite in root.findall("testsuite")}
    assert list(suites) == ["parity.api-tickets", "parity.clock", "parity.broken"]
    failure = suites["parity.api-tickets"].find("testcase/failure")
    assert failure is not None and failure.get("message") == "differs at $[0].title"
    assert failure.text == '$[0].title: "Alice: ticket 1" → "<script>alert(1)</script>"'
    error = suites["parity.broken"].find("testcase/error")
    assert error is not None and "RuntimeError: boom" in (error.get("message") or "")
    noise = suites["parity.clock"].find("testcase/system-out")
    assert noise is not None and "$.now" in (noise.text or "") and suites["parity.clock"].find("testcase/failure") is None
