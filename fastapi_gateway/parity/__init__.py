"""Parity: does the new side answer like the legacy one? Cases, comparison, noise, reports.

Run it as ``manage.py parity``, as tests (the pytest plugin's ``parity`` fixture), or from
code with ``ParityRunner``. The comparators are shared with shadow mode.
"""

from __future__ import annotations

from .case_files import load_case_file, parse_cases
from .cases import Case, FunctionCase, HttpCase
from .check import ParityCheck
from .compare import Reply, compare_json, compare_replies, compare_responses
from .determinism import Determinism
from .difference import Difference
from .exceptions import CaseFileError, ParityError, ParityMismatch, SideUnreachable, UnknownUser, UnsafeCase
from .redaction import Redactor
from .results import CaseResult, RouteSummary, RunReport
from .rules import Rules
from .runner import ParityRunner

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
