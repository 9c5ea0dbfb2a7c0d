"""Stored parity runs (``fastapi_gateway/parity/runs.py``): the command's run, recorded with its
progress, verdict, summary and report; one at a time; unknown routes refused."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from pytest_django import Settings

from fastapi_gateway.exceptions import RoutingError
from fastapi_gateway.parity import runs
from fastapi_gateway.parity.exceptions import ParityError
from fastapi_gateway.parity.runs import ParityRunBusy, run_parity, start_parity_run
from fastapi_gateway.routing.models import ParityRun
from migration_plan.routes import ROUTES

pytestmark = pytest.mark.django_db(transaction=True)


def finished(run: ParityRun) -> ParityRun:
    """``run`` once its background thread has ended."""
    for thread in threading.enumerate():
        if thread.name == f"parity-run-{run.pk}":
            thread.join(timeout=60)
            assert not thread.is_alive(), "the parity run never finished"
    run.refresh_from_db()
    return run


def test_a_run_of_the_example_routes_passes_with_a_summary_and_a_report(demo_users: Any, settings: Settings) -> None:
    """The real configuration: the entrypoint's routers and Gradio page, every declared route."""
    settings.GATEWAY = {**settings.GATEWAY, "ROUTES": ROUTES}
    run = run_parity(ParityRun.objects.create(started_by="tester", reason="before the canary"))
    stored = ParityRun.objects.get(pk=run.pk)
    assert stored.status == "passed", stored.output
    assert stored.summary == {
        "api-tickets": {"cases": 16, "passed": 16, "failed": 0, "errors": 0},
        "api-ticket-detail": {"cases": 9, "passed": 9, "failed": 0, "errors": 0},
        "tickets-page": {"cases": 4, "passed": 4, "failed": 0, "errors": 0},
    }
    assert (stored.done, stored.total) == (29, 29) and stored.finished_at is not None
    assert "29 cases: 29 agree" in stored.output
    assert stored.report.startswith("<!doctype html>") and "api-ticket-detail" in stored.report


def test_a_wrong_new_side_fails_the_run_naming_the_differing_field(parity_routes: Any, build_gateway: Any) -> None:
    run = run_parity(ParityRun.objects.create(routes=["wrong-tickets", "items"]), app_factory=build_gateway)
    stored = ParityRun.objects.get(pk=run.pk)
    assert stored.status == "failed"
    assert stored.summary["items"] == {"cases": 4, "passed": 4, "failed": 0, "errors": 0}
    wrong = stored.summary["wrong-tickets"]
    assert wrong["failed"] > 0 and wrong["passed"] + wrong["failed"] + wrong["errors"] == wrong["cases"]
    assert "$[0].title" in stored.output and "$[0].title" in stored.report
    assert set(stored.summary) == {"wrong-tickets", "items"}


def test_an_unreachable_side_makes_an_error_run_with_its_report(parity_routes: Any, build_gateway: Any) -> None:
    run = run_parity(ParityRun.objects.create(routes=["broken"]), app_factory=build_gateway)
    assert run.status == "error" and run.summary["broken"]["errors"] == run.summary["broken"]["cases"] > 0
    assert "new side unreachable" in ParityRun.objects.get(pk=run.pk).output


def test_a_run_that_cannot_be_made_is_an_error_with_the_reason_never_left_running(parity_routes: Any, build_gateway: Any) -> None:
    """A route undeclared between the start and the run: the row says why, and is finished."""
    run = run_parity(ParityRun.objects.create(routes=["gone"]), app_factory=build_gateway)
    stored = ParityRun.objects.get(pk=run.pk)
    assert (stored.status, stored.summary, stored.report) == ("error", {}, "")
    assert stored.output.startswith("unknown route 'gone'; declared routes: api-tickets,") and stored.finished_at is not None


def test_progress_is_saved_while_cases_complete(parity_routes: Any, build_gateway: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    saved: list[tuple[int, int]] = []
    real_save = runs._save_progress

    def save(pk: int, done: int, total: int) -> None:
        saved.append((done, total))
        real_save(pk, done, total)

    monkeypatch.setattr(runs, "_save_progress", save)
    monkeypatch.setattr(runs, "_PUBLISH_SECONDS", 0)
    run = run_parity(ParityRun.objects.create(routes=["api-tickets"]), app_factory=build_gateway)
    assert run.status == "passed" and (run.done, run.total) == (16, 16)
    assert saved and all(total == 16 for _, total in saved), saved
    assert any(0 < done < 16 for done, _ in saved), saved
    assert [done for done, _ in saved] == sorted(done for done, _ in saved)


def test_start_runs_it_in_the_background_and_records_who_and_why(parity_routes: Any, build_gateway: Any) -> None:
    run = start_parity_run(["items", "items"], actor="admin:admin", reason="before the canary", app_factory=build_gateway)
    assert (run.status, run.routes, run.started_by, run.reason) == ("running", ["items"], "admin:admin", "before the canary")
    done = finished(run)
    assert done.status == "passed" and done.summary == {"items": {"cases": 4, "passed": 4, "failed": 0, "errors": 0}}
    assert done.report and done.finished_at is not None


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        (["api-tickets", "nope"], "unknown route 'nope'; declared routes: api-tickets,"),
        (["api-tickets'; DROP TABLE x; --"], "unknown route \"api-tickets'; DROP TABLE x; --\""),
        ("api-tickets", "routes must be a list of route names"),
        ([["api-tickets"]], "routes must be a list of route names"),
        ([None], "routes must be a list of route names"),
    ],
)
def test_start_refuses_anything_but_declared_route_names(parity_routes: Any, routes: Any, message: str) -> None:
    with pytest.raises(RoutingError) as refused:
        start_parity_run(routes, actor="admin:admin", reason="x")
    assert message in str(refused.value)
    assert not ParityRun.objects.exists()


def test_start_refuses_a_second_run_while_one_is_running(parity_routes: Any) -> None:
    running = ParityRun.objects.create(started_by="admin:bob", routes=["items"], done=3, total=8)
    with pytest.raises(ParityRunBusy) as refused:
        start_parity_run(["clock"], actor="admin:admin", reason="again")
    assert isinstance(refused.value, ParityError) and refused.value.running.pk == running.pk
    assert f"parity run #{running.pk} is running (started by admin:bob at " in str(refused.value)
    assert "3/8 cases" in str(refused.value)
    assert list(ParityRun.objects.values_list("pk", flat=True)) == [running.pk]


def test_a_run_whose_process_died_does_not_block_the_next_one(parity_routes: Any, build_gateway: Any) -> None:
    abandoned = ParityRun.objects.create(routes=["items"], done=2, total=4)
    ParityRun.objects.filter(pk=abandoned.pk).update(started_at=timezone.now() - runs.STALE_AFTER - timedelta(minutes=1))
    run = start_parity_run(["items"], actor="admin:admin", reason="after a deploy", app_factory=build_gateway)
    abandoned.refresh_from_db()
    assert abandoned.status == "error" and abandoned.output.startswith("abandoned: still running after 30 minutes")
    assert abandoned.finished_at is not None
    assert finished(run).status == "passed"


class _NoThread:
    """Stands in for the background thread: these tests are about who may start, not the run."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def start(self) -> None:
        pass


def test_two_starts_in_open_transactions_end_with_one_run(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin under ATOMIC_REQUESTS: the first start's row is not visible to the second
    until it commits, so "look, then insert" lets both through; the database's constraint
    does not. (PostgreSQL: two writers at once. SQLite takes one writer at a time, so there the
    second simply starts after the first and finds it.)"""
    from django.db import connection, connections, transaction

    settings.GATEWAY = {**settings.GATEWAY, "ROUTES": ROUTES}
    monkeypatch.setattr(runs, "threading", type("NoThreads", (), {"Thread": _NoThread}))
    first_inserted, second_tried = threading.Event(), threading.Event()
    outcomes: dict[str, str] = {}
    concurrent = connection.vendor == "postgresql"

    def first() -> None:
        try:
            with transaction.atomic():
                start_parity_run([], actor="admin-1", reason="first")
                first_inserted.set()
                if concurrent:
                    second_tried.wait(timeout=2)  # the second blocks on our row: give it a moment
            outcomes["first"] = "started"
        except Exception as exc:  # noqa: BLE001 - reported by the test
            outcomes["first"] = type(exc).__name__
        finally:
            first_inserted.set()
            connections.close_all()

    def second() -> None:
        assert first_inserted.wait(timeout=10)
        try:
            with transaction.atomic():
                second_tried.set()
                start_parity_run([], actor="admin-2", reason="second")
            outcomes["second"] = "started"
        except Exception as exc:  # noqa: BLE001 - reported by the test
            outcomes["second"] = type(exc).__name__
        finally:
            second_tried.set()
            connections.close_all()

    if concurrent:
        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    else:
        first()
        second()
    assert outcomes == {"first": "started", "second": "ParityRunBusy"}
    assert ParityRun.objects.filter(status="running").count() == 1
