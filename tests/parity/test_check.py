"""ParityCheck: cases as code, Scientist experiments where the control always wins."""

from __future__ import annotations

from typing import Any

import pytest

from fastapi_gateway.parity.check import ParityCheck
from fastapi_gateway.parity.exceptions import ParityMismatch
from fastapi_gateway.parity.runner import ParityRunner
from legacy_django.tickets.queries import visible_tickets

pytestmark = pytest.mark.django_db(transaction=True)


def legacy_titles(user: Any) -> list[str]:
    return sorted(ticket.title for ticket in visible_tickets(user))


def new_titles(user: Any) -> list[str]:
    return sorted(visible_tickets(user).values_list("title", flat=True))


def wrong_titles(user: Any) -> list[str]:
    return legacy_titles(user)[1:]


def broken(user: Any) -> list[str]:
    raise LookupError("no such index")


async def test_a_differing_case_raises_naming_its_field(runner: ParityRunner) -> None:
    check = ParityCheck(runner)
    with pytest.raises(ParityMismatch, match=r"differs at \$\[0\]\.title") as raised:
        await check("/api/tickets/", "/parity-v2/wrong-tickets", user="alice")
    assert raised.value.result.route == "api-tickets"  # matched from the legacy URL
    assert (await check("/api/tickets/?status=open", "/api/v2/tickets?status=open", user="alice")).outcome == "agree"


async def test_without_raise_on_mismatch_results_are_collected(runner: ParityRunner) -> None:
    check = ParityCheck(runner, raise_on_mismatch=False)
    result = await check("/api/tickets/", "/parity-v2/wrong-tickets", user="alice", route="wrong-tickets")
    assert result.outcome == "differ" and check.results == [result]


async def test_a_declared_routes_defaults_run_from_code(runner: ParityRunner) -> None:
    results = await ParityCheck(runner).route("api-ticket-detail", users=["alice", "bob"])
    assert {result.outcome for result in results} == {"agree"}
    assert len(results) == 7  # anonymous, then visible / another user's / missing for each


async def test_an_experiment_returns_the_controls_value(runner: ParityRunner) -> None:
    check = ParityCheck(runner)
    titles = await check.experiment("titles", control=legacy_titles, candidate=new_titles, user="alice")
    assert titles == sorted(titles) and len(titles) == 9
    with pytest.raises(ParityMismatch, match=r"\$\.length"):
        await check.experiment("titles", control=legacy_titles, candidate=wrong_titles, user="alice")


async def test_a_raising_candidate_is_a_mismatch_and_a_raising_control_still_raises(runner: ParityRunner) -> None:
    check = ParityCheck(runner, raise_on_mismatch=False)
    titles = await check.experiment("titles", control=legacy_titles, candidate=broken, user="alice")
    assert len(titles) == 9
    assert check.results[-1].outcome == "differ"
    assert check.results[-1].new is not None and "LookupError" in check.results[-1].new.body
    with pytest.raises(LookupError):
        await check.experiment("reversed", control=broken, candidate=legacy_titles, user="alice")
