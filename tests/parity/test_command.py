"""``manage.py parity``: exit 0 / 1 / 2, the differing field named in every format, errors
explained, nothing secret in a written report."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django import Settings

from migration_plan.routes import ROUTES

pytestmark = pytest.mark.django_db(transaction=True)


def parity(*args: str, **options: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("parity", *args, stdout=out, stderr=err, **options)
        code = 0
    except CommandError as exc:
        code = exc.returncode
        err.write(f"CommandError: {exc}\n")
    return code, out.getvalue(), err.getvalue()


def test_the_bundled_migrations_pass_parity(demo_users: Any, settings: Settings) -> None:
    """The real configuration: the ASGI entrypoint's routers and Gradio pages, every declared route."""
    settings.GATEWAY = {**settings.GATEWAY, "ROUTES": ROUTES}
    code, out, err = parity()
    assert code == 0, out + err
    table = out.split("\n\n")[1]
    assert table.splitlines()[0].split() == ["ROUTE", "CASES", "AGREE", "DIFFER", "NOISE", "ERRORS", "LEGACY", "ms", "NEW", "ms"]
    rows = {line.split()[0]: line.split()[1:6] for line in table.splitlines()[1:]}
    assert rows == {"api-tickets": ["16", "16", "0", "0", "0"], "api-ticket-detail": ["9", "9", "0", "0", "0"],
                    "tickets-page": ["4", "4", "0", "0", "0"]}
    assert "29 cases: 29 agree" in out and "parity: 29 cases on 3 routes" in err


@pytest.mark.parametrize("format_name", ["text", "json", "junit", "html"])
def test_a_wrong_handler_exits_1_naming_the_field_in_every_format(
    parity_routes: Any, build_gateway: Any, tmp_path: Path, format_name: str
) -> None:
    report = tmp_path / f"report.{format_name}"
    code, out, err = parity("wrong-tickets", "--user", "alice", "--format", format_name, "--output", str(report), app_factory=build_gateway)
    assert code == 1, out + err
    assert "cases differ, at $[0].title" in err
    assert "DIFFER  wrong-tickets · list (as alice)" in out and "$[0].title:" in out
    written = report.read_text()
    assert "$[0].title" in written
    if format_name == "json":
        data = json.loads(written)
        assert data["exit_code"] == 1
        assert {tuple(case["differing_fields"]) for case in data["cases"] if case["outcome"] == "differ"} == {("$[0].title",)}
    if format_name == "junit":
        failures = ET.fromstring(written).findall(".//failure")
        assert failures and all(failure.get("message") == "differs at $[0].title" for failure in failures)


def test_noise_is_reported_and_does_not_fail_the_run(parity_routes: Any, build_gateway: Any) -> None:
    code, out, _ = parity("clock", "--user", "alice", app_factory=build_gateway)
    assert code == 0
    assert "NOISE   clock · list (as alice)" in out
    assert "noise (not failures): differ between two legacy answers: $.lucky, $.now, $.token" in out


def test_freeze_time_and_seed_leave_only_the_unseedable_token_as_noise(parity_routes: Any, build_gateway: Any) -> None:
    code, out, _ = parity("clock", "--user", "alice", "--freeze-time", "2031-01-01T00:00:00", "--seed", "3",
                          "--format", "json", app_factory=build_gateway)
    data = json.loads(out)
    assert code == 0 and data["determinism"] == {"frozen_at": "2031-01-01T00:00:00+00:00", "seed": 3}
    assert {tuple(case["noise_fields"]) for case in data["cases"]} == {("$.token",)}


def test_cases_files_add_hand_written_cases(parity_routes: Any, build_gateway: Any, tmp_path: Path) -> None:
    cases = tmp_path / "cases.toml"
    cases.write_text('[[case]]\nname = "open, as bob"\nuser = "bob"\nlegacy = "/api/tickets/?status=open"\nnew = "/parity-v2/wrong-tickets?status=open"\n')
    code, out, _ = parity("--no-defaults", "--cases", str(cases), app_factory=build_gateway)
    assert code == 1
    assert "DIFFER  api-tickets · open, as bob (as bob)" in out and "$[0].title" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["broken", "--user", "alice"], "2 of 2 cases could not be run; first: broken · anonymous (as anonymous): new side"),
        (["nope"], "unknown route 'nope'; declared routes: api-tickets,"),
        (["--no-defaults"], "no cases to run"),
        (["--freeze-time", "yesterday"], "--freeze-time: 'yesterday' is not an ISO-8601 date and time"),
    ],
)
def test_errors_exit_2_with_a_clear_message(parity_routes: Any, build_gateway: Any, args: list[str], message: str) -> None:
    code, _, err = parity(*args, app_factory=build_gateway)
    assert code == 2
    assert message in err


def test_an_unreachable_new_side_says_which_side_and_why(parity_routes: Any, build_gateway: Any) -> None:
    code, out, err = parity("broken", "--user", "alice", app_factory=build_gateway)
    assert code == 2
    assert "new side unreachable: GET /parity-v2/raises raised RuntimeError: the new handler is broken" in err
    assert "ERROR   broken · list (as alice)" in out


def test_a_bad_cases_file_exits_2_naming_file_and_line(parity_routes: Any, build_gateway: Any, tmp_path: Path) -> None:
    cases = tmp_path / "bad.toml"
    cases.write_text('[[case]]\nlegacy = "/api/tickets/\nuser = "alice"\n')
    code, out, err = parity("--cases", str(cases), app_factory=build_gateway)
    assert (code, out) == (2, "")
    assert f"CommandError: {cases}: not valid TOML: " in err and "line 2" in err


def test_stored_reports_hold_no_secrets(parity_routes: Any, build_gateway: Any, tmp_path: Path, settings: Settings) -> None:
    settings.GATEWAY = {**settings.GATEWAY, "PARITY_REDACT": ["email"]}
    secrets = ["legacy-token-4b1d", "new-token-7c2a", "alice@legacy.example", "alice@new.example", "legacy-cookie-9f8e", "new-cookie-3e4f"]
    for suffix in ("html", "json", "xml", "txt"):
        report = tmp_path / f"report.{suffix}"
        code, out, err = parity("secrets", "--user", "alice", "--output", str(report), app_factory=build_gateway)
        written = report.read_text()
        assert code == 1
        for field in ("$.token", "$.email", "cookie:remember_me@httponly"):
            assert field in written, (suffix, field)
        for secret in secrets:
            assert secret not in written and secret not in out and secret not in err, (suffix, secret)
    assert "sessionid=" not in (tmp_path / "report.json").read_text()


@pytest.mark.parametrize("format_name", ["text", "json", "junit", "html"])
def test_hand_written_cases_show_their_parameter_names_not_their_secrets(
    parity_routes: Any, build_gateway: Any, tmp_path: Path, format_name: str
) -> None:
    """A case's URL (and the name made of it), the headers it sends and what a new side echoes."""
    from legacy_django.tickets.models import Ticket

    ticket = Ticket.objects.filter(owner__username="alice").values_list("pk", flat=True).first()
    cases = tmp_path / "cases.toml"
    cases.write_text(
        '[[case]]\nuser = "alice"\n'
        f'legacy = "/api/tickets/{ticket}/?status=open&access_token=case-at-3Kd&pass%77ord=case-pw-8Lq"\n'
        f'new = "/parity-v2/ticket-echo/{ticket}?status=open&access_token=case-at-3Kd&pass%77ord=case-pw-8Lq"\n'
        'headers = { "X-Api-Key" = "case-hk-5Tz", "Authorization" = "Bearer case-bt-6Wn" }\n'
    )
    report = tmp_path / f"report.{format_name}"
    code, out, err = parity("--no-defaults", "--cases", str(cases), "--format", format_name, "--output", str(report),
                            app_factory=build_gateway)
    assert code == 1
    shown = report.read_text() + out + err
    assert "access_token=" in shown and "pass%77ord=" in shown and "$.headers" in shown
    for secret in ("case-at-3Kd", "case-pw-8Lq", "case-hk-5Tz", "case-bt-6Wn"):
        assert secret not in shown, secret
