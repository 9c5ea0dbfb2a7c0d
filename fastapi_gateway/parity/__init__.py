"""Parity: does the new side answer like the legacy one? Cases, comparison, noise, reports.

Run it as ``manage.py parity``, as tests (the pytest plugin's ``parity`` fixture), or from
code with ``ParityRunner``. The comparators are shared with shadow mode.
"""

from __future__ import annotations

from fastapi_gateway.parity.case_files import load_case_file, parse_cases
from fastapi_gateway.parity.cases import Case, FunctionCase, HttpCase
from fastapi_gateway.parity.check import ParityCheck
from fastapi_gateway.parity.compare import Reply, compare_json, compare_replies, compare_responses
from fastapi_gateway.parity.determinism import Determinism
from fastapi_gateway.parity.difference import Difference
from fastapi_gateway.parity.exceptions import CaseFileError, ParityError, ParityMismatch, SideUnreachable, UnknownUser, UnsafeCase
from fastapi_gateway.parity.redaction import Redactor
from fastapi_gateway.parity.results import CaseResult, RouteSummary, RunReport
from fastapi_gateway.parity.rules import Rules
from fastapi_gateway.parity.runner import ParityRunner

__all__ = [
    "Case",
    "CaseFileError",
    "CaseResult",
    "Determinism",
    "Difference",
    "FunctionCase",
    "HttpCase",
    "ParityCheck",
    "ParityError",
    "ParityMismatch",
    "ParityRunner",
    "Redactor",
    "Reply",
    "RouteSummary",
    "Rules",
    "RunReport",
    "SideUnreachable",
    "UnknownUser",
    "UnsafeCase",
    "compare_json",
    "compare_replies",
    "compare_responses",
    "load_case_file",
    "parse_cases",
]
