"""Cases files in the contract's TOML format; mistakes are errors that say where and what."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastapi_gateway.parity.case_files import load_case_file, parse_cases
from fastapi_gateway.parity.cases import FunctionCase, HttpCase
from fastapi_gateway.parity.exceptions import CaseFileError
from fastapi_gateway.parity.rules import Rules
from migration_plan.routes import ROUTES

REPO = Path(__file__).resolve().parents[2]


def test_the_contracts_example_reads_as_written() -> None:
    [case] = parse_cases(
        """
        [[case]]
        name = "ticket detail"        # shown in reports
        user = "alice"
        method = "GET"
        legacy = "/api/tickets/1/"
        new = "/api/v2/tickets/1"
        ignore = ["$.updated_at"]
        """,
        ROUTES,
    )
    assert case == HttpCase(
        name="ticket detail", legacy="/api/tickets/1/", new="/api/v2/tickets/1", route="api-ticket-detail",
        user="alice", rules=Rules(ignore=("$.updated_at",)), source="<cases>",
    )


def test_defaults_new_is_legacy_method_is_get_user_is_anonymous() -> None:
    [case] = parse_cases('[[case]]\nlegacy = "/api/tickets/?status=open"', ROUTES)
    assert (case.new, case.method, case.user, case.route, case.name) == (
        "/api/tickets/?status=open", "GET", None, "api-tickets", "GET /api/tickets/?status=open",
    )


def test_bad_toml_names_the_file_and_line() -> None:
    with pytest.raises(CaseFileError, match=r"cases\.toml: not valid TOML: .*line 2"):
        parse_cases('[[case]]\nlegacy = "/api/tickets/\n', ROUTES, source="cases.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[case]]\nlegacy = "/x/"\nigonre = ["$.a"]', r"\[\[case\]\] #1: unknown keys \['igonre'\]"),
        ('[[case]]\nname = "c"\nnew = "/x"', r"\[\[case\]\] #1 \('c'\): `legacy` .* is required"),
        ('[[case]]\nlegacy = "/x/"\nroute = "nope"', r"unknown route 'nope'"),
        ('[[case]]\nlegacy = "/api/tickets/"\nmethod = "POST"', r"POST is not a safe method; add `unsafe = true`"),
        ('[[cases]]\nlegacy = "/x/"', r"unknown top-level keys \['cases'\]"),
        ('[[function]]\nlegacy = "no.such:thing"\nnew = "json:dumps"', r"`legacy`: cannot import 'no.such:thing'"),
    ],
)
def test_mistakes_are_errors_that_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(CaseFileError, match=message):
        parse_cases(text, ROUTES, source="cases.toml")


def test_unsafe_cases_opt_in_and_carry_their_json_body() -> None:
    [case] = parse_cases(
        '[[case]]\nuser = "alice"\nmethod = "post"\nlegacy = "/api/tickets/"\nnew = "/api/v2/tickets"\n'
        'json = { title = "T" }\nunsafe = true\ntolerance = { seconds = 2 }', ROUTES,
    )
    assert isinstance(case, HttpCase)
    assert (case.method, case.unsafe, case.body, case.rules.time_tolerance) == ("POST", True, b'{"title": "T"}', 2.0)
    assert ("content-type", "application/json") in case.headers


def test_function_cases_import_their_callables() -> None:
    [case] = parse_cases('[[function]]\nlegacy = "json:dumps"\nnew = "json.dumps"\nargs = [[1, 2]]\nkwargs = { indent = 1 }', ROUTES)
    assert isinstance(case, FunctionCase)
    assert case.legacy([1], indent=1) == "[\n 1\n]" and case.args == ([1, 2],) and case.kwargs == {"indent": 1}


def test_the_example_file_in_the_repository_loads() -> None:
    cases = load_case_file(REPO / "parity_cases" / "tickets.toml", ROUTES)
    assert {case.route for case in cases} == {"api-tickets", "api-ticket-detail"}


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CaseFileError, match="nope.toml: cannot be read"):
        load_case_file(tmp_path / "nope.toml", ROUTES)
