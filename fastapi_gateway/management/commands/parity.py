"""``manage.py parity`` — do the legacy and the new side answer alike? Exit 0 yes, 1 no, 2 error.

Builds the gateway as the ASGI entrypoint does (same ``GATEWAY`` configuration) but
without its routing layer, so every legacy URL reaches Django and every new URL its new
handler whatever state the route table is in, and runs each declared route's default
cases, the cases of ``--cases`` files and, with ``--from-shadow``, replays of recorded
shadow mismatches. The run is ``parity.suite``'s, the one the admin's parity runs make too;
after a clean run, each route's next step follows the report.
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from fastapi_gateway.exceptions import GatewayError
from fastapi_gateway.parity.case_files import load_case_file
from fastapi_gateway.parity.cases import Case
from fastapi_gateway.parity.determinism import Determinism
from fastapi_gateway.parity.exceptions import ParityError
from fastapi_gateway.parity.next_step import next_step_hint
from fastapi_gateway.parity.reports import FORMATS, format_for_path, render, render_summary_table
from fastapi_gateway.parity.results import DIFFER, ERROR, CaseResult, RunReport
from fastapi_gateway.parity.suite import SuiteOptions, quiet_expected_4xx, run_suite, select_routes
from fastapi_gateway.routing.table import declared_routes


class Command(BaseCommand):
    help = (
        "Compare the legacy and the new answers of migrated routes (all declared routes, or those named). "
        "Exit code 0: all cases agree; 1: some differ; 2: cases could not be run."
    )
    # Not on the command line: lets code (and tests) hand over the gateway to compare through.
    stealth_options = ("app_factory",)

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("routes", nargs="*", metavar="ROUTE", help="declared route names (default: all)")
        parser.add_argument("--format", choices=FORMATS, default=None, help="report format (default: text, or from --output's suffix)")
        parser.add_argument("--output", metavar="PATH", help="write the report to this file")
        parser.add_argument("--cases", metavar="FILE", action="append", default=[], help="also run the [[case]]s of this TOML file")
        parser.add_argument("--from-shadow", action="store_true", help="also replay recorded shadow mismatches")
        parser.add_argument("--no-defaults", action="store_true", help="skip the default cases of the routes")
        parser.add_argument("--user", action="append", default=[], help="run default cases as this user (repeatable)")
        parser.add_argument("--freeze-time", nargs="?", const="now", metavar="ISO", help="freeze the clock (at the start, or at ISO)")
        parser.add_argument("--seed", type=int, default=None, help="seed Python's random module before each side")
        parser.add_argument("--timeout", type=float, default=10.0, help="seconds each side may take (default 10)")
        parser.add_argument("--redact", action="append", default=[], metavar="FIELD", help="also mask this field (name or selector)")
        parser.add_argument("--shadow-limit", type=int, default=20, help="latest shadow mismatches replayed per route")

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = int(options["verbosity"])
        format_name = options["format"] or (format_for_path(options["output"]) if options["output"] else "text")
        try:
            determinism = Determinism(frozen_at=self._frozen_at(options["freeze_time"]), seed=options["seed"])
            declared = list(declared_routes())
            select_routes(declared, options["routes"])
            file_cases = [case for path in options["cases"] for case in load_case_file(path, declared)]
            if options["routes"]:
                file_cases = [case for case in file_cases if case.route in options["routes"]]
            suite = SuiteOptions(
                routes=options["routes"], file_cases=file_cases, from_shadow=options["from_shadow"],
                defaults=not options["no_defaults"], users=options["user"], determinism=determinism,
                timeout=options["timeout"], redact=options["redact"], shadow_limit=options["shadow_limit"],
                app_factory=options.get("app_factory"),
            )
            with quiet_expected_4xx():
                report = anyio.run(partial(run_suite, suite, declared, progress=self._progress, started=self._started))
        except (GatewayError, OSError) as exc:
            raise CommandError(str(exc), returncode=2) from exc
        self._write(report, format_name, options["output"])
        if report.exit_code:
            raise CommandError(self._verdict(report), returncode=report.exit_code)
        self._next_steps(report, to_stdout=format_name == "text" or bool(options["output"]))

    @staticmethod
    def _frozen_at(value: str | None) -> datetime | None:
        if value is None:
            return None
        if value == "now":
            return datetime.now(timezone.utc)
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise ParityError(f"--freeze-time: {value!r} is not an ISO-8601 date and time") from None

    def _started(self, cases: Sequence[Case]) -> None:
        routes = len({case.route for case in cases})
        self.stderr.write(f"parity: {len(cases)} case{'s' * (len(cases) != 1)} on {routes} route{'s' * (routes != 1)}")

    def _progress(self, index: int, total: int, result: CaseResult) -> None:
        line = f"[{index:>{len(str(total))}}/{total}] {result.outcome:<6} {result.route} · {result.name} (as {result.who()})"
        if sys.stderr.isatty():
            self.stderr.write(f"\r{line[:110]:<110}", ending="\n" if index == total else "")
        elif self.verbosity >= 2 or index == total or index % 10 == 0 or result.outcome in (DIFFER, ERROR):
            self.stderr.write(line)

    def _write(self, report: RunReport, format_name: str, output: str | None) -> None:
        rendered = render(report, format_name)
        if output:
            Path(output).write_text(rendered, encoding="utf-8")
            summary = render(report, "text") if format_name != "text" else rendered
            self.stdout.write(summary, ending="")
            self.stdout.write(f"{format_name} report written to {output}")
        elif format_name == "text":
            self.stdout.write(rendered, ending="")
        else:
            self.stdout.write(rendered, ending="")
            self.stderr.write(f"{report.headline()}\n{render_summary_table(report)}", ending="")

    @staticmethod
    def _verdict(report: RunReport) -> str:
        if report.exit_code == 2:
            errors = [case for case in report.cases if case.outcome == ERROR]
            first = errors[0]
            return f"{len(errors)} of {len(report.cases)} cases could not be run; first: {first.title()}: {first.error}"
        differing = [case for case in report.cases if case.outcome == DIFFER]
        fields = sorted({path for case in differing for path in case.fields()})
        return f"{len(differing)} of {len(report.cases)} cases differ, at {', '.join(fields[:10])}" + (" …" if len(fields) > 10 else "")

    def _next_steps(self, report: RunReport, *, to_stdout: bool) -> None:
        """After a clean run, what to do with each route compared (where the summary went)."""
        try:
            hints = [(summary.route, next_step_hint(summary.route, parity=summary)) for summary in report.summaries()]
        except (GatewayError, DatabaseError):
            return  # a route no longer declared, or no route table to read: the verdict stands alone
        stream = self.stdout if to_stdout else self.stderr
        stream.write("")
        for route, hint in hints:
            stream.write(f"Next for {route}: {hint}")
