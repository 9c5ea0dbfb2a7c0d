"""Parity runs started from the admin or the console: a ``ParityRun`` row per run, the same
run as ``manage.py parity`` made in a background thread, its progress and verdict stored.

One run at a time across every process sharing the database: a run compares through a
gateway of its own and logs in sample users, and two at once would only slow each other.
A row still ``running`` after ``STALE_AFTER`` belongs to a process that died mid-run (a
deploy, an OOM kill); it is marked ``error`` rather than blocking every later run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from fastapi_gateway.exceptions import GatewayError, RoutingError
from fastapi_gateway.orm import run_orm
from fastapi_gateway.parity.cases import Case
from fastapi_gateway.parity.exceptions import ParityError
from fastapi_gateway.parity.next_step import next_step_hint
from fastapi_gateway.parity.redaction import Redactor
from fastapi_gateway.parity.reports import render_html, render_text
from fastapi_gateway.parity.results import CaseResult, RunReport
from fastapi_gateway.parity.suite import AppFactory, SuiteOptions, quiet_expected_4xx, run_suite
from fastapi_gateway.routing.table import declared_routes

if TYPE_CHECKING:
    from fastapi_gateway.routing.models import ParityRun

__all__ = ["STALE_AFTER", "ParityRunBusy", "expire_stale_runs", "next_step_hint", "run_parity", "running_run", "start_parity_run"]

logger = logging.getLogger("fastapi_gateway")  # filtered: see routing.log_redaction

STALE_AFTER = timedelta(minutes=30)
_PUBLISH_SECONDS = 0.25
_STATUS_OF_EXIT = {0: "passed", 1: "failed", 2: "error"}


class ParityRunBusy(ParityError):
    """Another parity run is under way; ``running`` is its row."""

    def __init__(self, running: ParityRun) -> None:
        by = f" by {running.started_by}" if running.started_by else ""
        super().__init__(f"parity run #{running.pk} is running (started{by} at {timezone.localtime(running.started_at):%H:%M:%S}, "
                         f"{running.done}/{running.total or '?'} cases); wait for it to finish")
        self.running = running


def _validated(routes: Sequence[str]) -> list[str]:
    """Declared route names, each once, in the order given; anything else is refused."""
    declared = [route.name for route in declared_routes()]
    if not declared:
        raise RoutingError('no migrated routes are declared (GATEWAY["ROUTES"]): nothing to compare')
    if isinstance(routes, str) or not all(isinstance(name, str) for name in routes):
        raise RoutingError("routes must be a list of route names")
    unknown = [name for name in routes if name not in declared]
    if unknown:
        raise RoutingError(f"unknown route {', '.join(map(repr, unknown))}; declared routes: {', '.join(declared)}")
    return list(dict.fromkeys(routes))


def expire_stale_runs() -> int:
    """Mark runs ``running`` for longer than ``STALE_AFTER`` as errors; how many there were."""
    from fastapi_gateway.routing.models import ParityRun

    now = timezone.now()
    return ParityRun.objects.filter(status="running", started_at__lt=now - STALE_AFTER).update(
        status="error", finished_at=now,
        output=f"abandoned: still running after {STALE_AFTER.total_seconds() / 60:.0f} minutes (the process running it stopped?)",
    )


def running_run() -> ParityRun | None:
    """The run under way, if any (a stale one is not)."""
    from fastapi_gateway.routing.models import ParityRun

    cutoff = timezone.now() - STALE_AFTER
    return ParityRun.objects.filter(status="running", started_at__gte=cutoff).defer("report", "output").order_by("pk").first()


def start_parity_run(
    routes: Sequence[str], *, actor: str, reason: str, app_factory: AppFactory | None = None
) -> ParityRun:
    """Record a run of ``routes`` (empty: every declared route) and start it in the background.

    Raises ``RoutingError`` for names that are not declared routes and ``ParityRunBusy``
    while another run is under way. ``app_factory``: the gateway to compare through, as the
    command's (default: the entrypoint's, without its routing layer).
    """
    from fastapi_gateway.routing.models import ParityRun

    names = _validated(routes)
    expire_stale_runs()
    busy = running_run()
    if busy is not None:
        raise ParityRunBusy(busy)
    # One running row at most, by the database's own constraint (``one_running_parity_run``):
    # two starts at the same moment, even inside two open transactions that cannot see each
    # other's row, end with one run and one ParityRunBusy.
    try:
        with transaction.atomic():
            run = ParityRun.objects.create(started_by=actor[:150], reason=reason, routes=names)
    except IntegrityError:
        other = ParityRun.objects.filter(status="running").defer("report", "output").order_by("pk").first()
        if other is None:  # the other start rolled back meanwhile: nothing runs, try again
            raise ParityError("another parity run was starting at the same moment; start this one again") from None
        raise ParityRunBusy(other) from None
    worker = threading.Thread(target=_run_in_background, args=(run.pk, app_factory), name=f"parity-run-{run.pk}", daemon=True)
    transaction.on_commit(worker.start)
    logger.info("parity run #%d of %s started by %s", run.pk, ", ".join(names) or "every route", actor or "?")
    return run


def _run_in_background(pk: int, app_factory: AppFactory | None) -> None:
    """The thread's body: no request around it, so it closes its own connections at the end."""
    from fastapi_gateway.routing.models import ParityRun

    try:
        run_parity(ParityRun.objects.get(pk=pk), app_factory=app_factory)
    except Exception:  # noqa: BLE001 - a thread's exception would only reach stderr
        logger.exception("parity run #%d could not be recorded", pk)
    finally:
        connections.close_all()


@dataclass
class _Progress:
    """Cases done so far, heard on the event loop and written to the row from a worker thread
    (the ORM may not be called on the loop)."""

    done: int = 0
    total: int = 0
    saved: tuple[int, int] = (0, 0)

    def started(self, cases: Sequence[Case]) -> None:
        self.total = len(cases)

    def case_done(self, index: int, total: int, result: CaseResult) -> None:
        self.done, self.total = index, total


def _save_progress(pk: int, done: int, total: int) -> None:
    from fastapi_gateway.routing.models import ParityRun

    ParityRun.objects.filter(pk=pk, status="running").update(done=done, total=total)


async def _publish(pk: int, progress: _Progress) -> None:
    while True:
        await anyio.sleep(_PUBLISH_SECONDS)
        now = (progress.done, progress.total)
        if now != progress.saved:
            try:
                await run_orm(_save_progress, pk, *now)
            except Exception as error:  # noqa: BLE001 - progress is a courtesy; the verdict is saved at the end
                logger.warning("parity run #%d: progress not saved (%s)", pk, error)
            progress.saved = now


async def _run_publishing(pk: int, options: SuiteOptions, progress: _Progress) -> RunReport:
    declared = declared_routes()
    failure: BaseException | None = None
    report: RunReport | None = None
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_publish, pk, progress)
        try:
            report = await run_suite(options, declared, progress=progress.case_done, started=progress.started)
        except Exception as error:  # re-raised below, outside the task group (not as a group)
            failure = error
        tasks.cancel_scope.cancel()
    if failure is not None:
        raise failure
    assert report is not None
    return report


def _summary(report: RunReport) -> dict[str, dict[str, int]]:
    return {
        summary.route: {"cases": summary.cases, "passed": summary.agree + summary.noise, "failed": summary.differ, "errors": summary.errors}
        for summary in report.summaries()
    }


def run_parity(run: ParityRun, *, app_factory: AppFactory | None = None) -> ParityRun:
    """Make ``run`` here and now: progress on its row as cases complete, then its verdict,
    per-route summary, HTML report and text output. Call from a thread with no event loop."""
    from fastapi_gateway.routing.models import ParityRun

    options = SuiteOptions(routes=list(run.routes or ()), app_factory=app_factory)
    progress = _Progress()
    fields: dict[str, Any]
    try:
        with quiet_expected_4xx():
            report = anyio.run(partial(_run_publishing, run.pk, options, progress))
    except (GatewayError, OSError) as error:
        fields = {"status": "error", "output": Redactor.from_settings().text(str(error))}
    except Exception as error:  # noqa: BLE001 - whatever broke, the row must not stay "running"
        logger.exception("parity run #%d failed", run.pk)
        fields = {"status": "error", "output": Redactor.from_settings().text(f"{type(error).__name__}: {error}")}
    else:
        fields = {"status": _STATUS_OF_EXIT[report.exit_code], "summary": _summary(report), "report": render_html(report),
                  "output": render_text(report), "done": len(report.cases), "total": len(report.cases)}
    fields.setdefault("done", progress.done)
    fields.setdefault("total", progress.total)
    fields["finished_at"] = timezone.now()
    # Written whatever the row says now: a run marked stale that finished after all has its verdict.
    ParityRun.objects.filter(pk=run.pk).update(**fields)
    for name, value in fields.items():
        setattr(run, name, value)
    logger.info("parity run #%d: %s", run.pk, run.status)
    return run
