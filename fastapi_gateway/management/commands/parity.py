"""``manage.py parity`` — do the legacy and the new side answer alike? Exit 0 yes, 1 no, 2 error.

Builds the gateway as the ASGI entrypoint does (same ``GATEWAY`` configuration) but
without its routing layer, so every legacy URL reaches Django and every new URL its new
handler whatever state the route table is in, and runs each declared route's default
cases, the cases of ``--cases`` files and, with ``--from-shadow``, replays of recorded
shadow mismatches.
"""

from __future__ import annotations

import logging
import os
import sys
from argparse import ArgumentParser
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from fastapi_gateway.conf import setting
from fastapi_gateway.exceptions import GatewayError
from fastapi_gateway.orm import run_orm
from fastapi_gateway.parity.case_files import load_case_file
from fastapi_gateway.parity.cases import Case
from fastapi_gateway.parity.default_cases import default_cases
from fastapi_gateway.parity.determinism import Determinism
from fastapi_gateway.parity.exceptions import ParityError
from fastapi_gateway.parity.identities import sample_usernames
from fastapi_gateway.parity.redaction import Redactor
from fastapi_gateway.parity.reports import FORMATS, format_for_path, render, render_summary_table
from fastapi_gateway.parity.results import DIFFER, ERROR, CaseResult, RunReport
from fastapi_gateway.parity.runner import ParityRunner
from fastapi_gateway.routing.shadow_cases import shadow_cases
from fastapi_gateway.migrated_route import MigratedRoute
from fastapi_gateway.routing.table import declared_routes

AppFactory = Callable[[], Any]


def _gateway_without_routing(*, with_pages: bool) -> Any:
    """The gateway of ``fastapi_gateway.asgi``, minus its routing layer (and pages if unneeded)."""
    from fastapi_gateway import create_app

    return create_app(migrated_routes=(), gradio_pages=None if with_pages else ())


def _errors_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR


@contextmanager
def _quiet_expected_4xx() -> Iterator[None]:
    """Default cases ask for 401s and 404s on purpose; Django logs each as a warning.

    A filter, not a level: building the gateway runs ``django.setup()`` again, whose logging
    configuration resets the levels of Django's loggers (but keeps their filters).
    """
    logger = logging.getLogger("django.request")
    logger.addFilter(_errors_only)
    try:
        yield
    finally:
        logger.removeFilter(_errors_only)


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
            selected = self._selected(declared, options["routes"])
            file_cases = [case for path in options["cases"] for case in load_case_file(path, declared)]
            if options["routes"]:
                file_cases = [case for case in file_cases if case.route in options["routes"]]
            with _quiet_expected_4xx():
                report = anyio.run(self._run, options, declared, selected, file_cases, determinism)
        except (GatewayError, OSError) as exc:
            raise CommandError(str(exc), returncode=2) from exc
        self._write(report, format_name, options["output"])
        if report.exit_code:
            raise CommandError(self._verdict(report), returncode=report.exit_code)

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

    @staticmethod
    def _selected(declared: Sequence[MigratedRoute], names: Sequence[str]) -> list[MigratedRoute]:
        known = {route.name: route for route in declared}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ParityError(f"unknown route {', '.join(map(repr, unknown))}; declared routes: {', '.join(known) or '(none)'}")
        return [known[name] for name in names] if names else list(declared)

    async def _run(
        self, options: dict[str, Any], declared: list[MigratedRoute], selected: list[MigratedRoute],
        file_cases: list[Case], determinism: Determinism,
    ) -> RunReport:
        factory: AppFactory | None = options.get("app_factory")
        with_pages = any(route.page for route in selected) or any(case.route in {r.name for r in declared if r.page} for case in file_cases)
        app = factory() if factory is not None else _gateway_without_routing(with_pages=with_pages)
        redactor = Redactor.from_settings(options["redact"])
        async with ParityRunner(app, routes=declared, redactor=redactor, determinism=determinism, timeout=options["timeout"]) as runner:
            users = options["user"] or await run_orm(sample_usernames, tuple(setting("PARITY_USERS")))
            cases: list[Case] = []
            warnings: list[str] = []
            if not options["no_defaults"]:
                defaults, warnings = await default_cases(runner, selected, users, declared=declared)
                cases += defaults
            cases += file_cases
            if options["from_shadow"]:
                replays, replay_warnings = await run_orm(shadow_cases, selected, users, per_route=options["shadow_limit"])
                cases += replays
                warnings += replay_warnings
            if not cases:
                raise ParityError("no cases to run (no defaults, no --cases, nothing recorded in shadow)")
            routes = len({case.route for case in cases})
            self.stderr.write(f"parity: {len(cases)} case{'s' * (len(cases) != 1)} on {routes} route{'s' * (routes != 1)}")
            return await runner.run(cases, progress=self._progress, warnings=warnings)

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
