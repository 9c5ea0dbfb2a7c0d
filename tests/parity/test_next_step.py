"""What to do next with a route (``fastapi_gateway/parity/next_step.py``), for each state, and
the line ``manage.py parity`` adds after a clean run."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from pytest_django import Settings

from fastapi_gateway.exceptions import RoutingError
from fastapi_gateway.parity.next_step import last_route_parity, next_step_hint
from fastapi_gateway.parity.results import RouteSummary
from fastapi_gateway.routing.models import ParityRun, Rollout, ShadowMismatch
from fastapi_gateway.routing.table import set_route_state
from migration_plan.routes import ROUTES

pytestmark = pytest.mark.django_db

CLEAN = "parity clean: start a rollout (manage.py routes rollout api-tickets) or manage.py routes set api-tickets canary --percent 5"


@pytest.fixture(autouse=True)
def _example_routes(settings: Settings) -> None:
    settings.GATEWAY = {**settings.GATEWAY, "ROUTES": ROUTES}


def stored_run(status: str, **numbers: int) -> ParityRun:
    summary = {"api-tickets": {"cases": 16, "passed": 16, "failed": 0, "errors": 0, **numbers}} if status != "error" or numbers else {}
    return ParityRun.objects.create(status=status, summary=summary, output="unknown route 'x'\nmore", finished_at=timezone.now())


def test_legacy_without_a_parity_run_says_run_parity() -> None:
    assert next_step_hint("api-tickets") == "run parity: manage.py parity api-tickets"
    assert last_route_parity("api-tickets") is None


def test_legacy_or_shadow_with_clean_parity_says_start_a_rollout_or_a_5_percent_canary() -> None:
    stored_run("passed")
    assert next_step_hint("api-tickets") == CLEAN
    set_route_state("api-tickets", "shadow")
    assert next_step_hint("api-tickets") == CLEAN


def test_failed_parity_says_fix_the_differences_in_the_report_first() -> None:
    stored_run("passed")
    failed = stored_run("failed", passed=13, failed=3)
    assert next_step_hint("api-tickets") == (
        f"parity failed (run #{failed.pk}): 3 of 16 cases differ: fix the differences in the report "
        f"(/admin/gateway_routing/parityrun/{failed.pk}/change/) first, then manage.py parity api-tickets"
    )
    assert next_step_hint("api-ticket-detail") == "run parity: manage.py parity api-ticket-detail"  # not compared in it


def test_a_run_that_could_not_be_made_says_so_and_to_run_again() -> None:
    errored = stored_run("error")
    assert next_step_hint("api-ticket-detail") == (
        f"parity error (run #{errored.pk}): unknown route 'x': see the report "
        f"(/admin/gateway_routing/parityrun/{errored.pk}/change/), then manage.py parity api-ticket-detail"
    )


def test_shadow_with_mismatches_points_to_the_shadow_report() -> None:
    stored_run("passed")
    set_route_state("api-tickets", "shadow")
    for signature, count in (("a", 4), ("b", 1)):
        ShadowMismatch.objects.create(route="api-tickets", signature=signature, count=count, method="GET",
                                      path="/api/tickets/", legacy_status=200, new_status=200)
    assert next_step_hint("api-tickets") == (
        "5 shadow mismatches (2 kinds): see the shadow report (/admin/gateway_routing/shadowmismatch/report/)"
    )


@pytest.mark.parametrize(
    ("percent", "hint"),
    [
        (5, "canary 5%: raise the percentage (manage.py routes set api-tickets canary --percent 25) or set new (manage.py routes set api-tickets new)"),
        (50, "canary 50%: raise the percentage (manage.py routes set api-tickets canary --percent 100) or set new (manage.py routes set api-tickets new)"),
        (100, "canary 100%: set new (manage.py routes set api-tickets new)"),
    ],
)
def test_canary_says_raise_the_percentage_or_set_new(percent: int, hint: str) -> None:
    set_route_state("api-tickets", "canary", percent=percent)
    assert next_step_hint("api-tickets") == hint


def test_canary_with_failed_parity_says_fix_or_roll_back() -> None:
    set_route_state("api-tickets", "canary", percent=5)
    run = stored_run("failed", passed=15, failed=1)
    assert next_step_hint("api-tickets") == (
        f"parity failed (run #{run.pk}): 1 of 16 cases differ: fix the differences first, or go back: manage.py routes rollback api-tickets"
    )


@pytest.mark.parametrize("state", ["new", "redirect"])
def test_new_and_redirect_say_when_to_remove_the_legacy_view(state: str) -> None:
    set_route_state("tickets-page", state)
    assert next_step_hint("tickets-page") == (
        f"{state}: remove the legacy view once manage.py routes coverage shows no legacy requests on it "
        "(undo: manage.py routes rollback tickets-page)"
    )


def test_a_running_rollout_shows_its_progress_and_how_to_stop_it() -> None:
    rollout = Rollout.objects.create(route="api-tickets", steps=[{"state": "shadow"}, {"state": "new"}],
                                     step=0, step_started_at=timezone.now(), started_by="admin")
    hint = next_step_hint("api-tickets")
    assert hint.startswith(f"rollout #{rollout.pk} step 1/2 shadow: held ")
    assert hint.endswith("; stop it: manage.py routes rollout api-tickets --stop")


def test_a_running_parity_run_shows_its_progress() -> None:
    run = ParityRun.objects.create(routes=["api-tickets"], done=3, total=16)
    assert next_step_hint("api-tickets") == f"parity run #{run.pk} running (3/16 cases) (/admin/gateway_routing/parityrun/{run.pk}/change/)"
    assert next_step_hint("api-ticket-detail") == "run parity: manage.py parity api-ticket-detail"


def test_a_run_just_made_counts_instead_of_the_stored_ones() -> None:
    stored_run("failed", passed=10, failed=6)
    assert next_step_hint("api-tickets", parity=RouteSummary("api-tickets", cases=16, agree=15, noise=1)) == CLEAN


@pytest.mark.parametrize("name", ["nope", "", "api-tickets "])
def test_an_undeclared_route_is_refused(name: str) -> None:
    with pytest.raises(RoutingError, match="unknown route"):
        next_step_hint(name)


def test_a_tampered_summary_counts_as_nothing_rather_than_failing() -> None:
    ParityRun.objects.create(status="passed", summary={"api-tickets": {"cases": "lots", "passed": -1, "failed": True}})
    parity = last_route_parity("api-tickets")
    assert parity is not None and (parity.cases, parity.passed, parity.failed, parity.status) == (0, 0, 0, "passed")


def _parity(*args: str, **options: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("parity", *args, stdout=out, stderr=err, **options)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_clean_command_run_ends_with_the_next_step_of_each_route(demo_users: Any) -> None:
    code, out, _ = _parity("api-tickets", "api-ticket-detail")
    assert code == 0
    assert out.endswith(
        f"\n\nNext for api-tickets: {CLEAN}\n"
        "Next for api-ticket-detail: parity clean: start a rollout (manage.py routes rollout api-ticket-detail) "
        "or manage.py routes set api-ticket-detail canary --percent 5\n"
    )
    code, out, err = _parity("api-tickets", "--format", "json")
    assert code == 0 and json.loads(out)["exit_code"] == 0  # stdout stays the JSON document
    assert f"Next for api-tickets: {CLEAN}" in err


@pytest.mark.django_db(transaction=True)
def test_a_differing_command_run_prints_no_next_step(parity_routes: Any, build_gateway: Any) -> None:
    code, out, err = _parity("wrong-tickets", "--user", "alice", app_factory=build_gateway)
    assert code == 1 and "Next for" not in out + err
