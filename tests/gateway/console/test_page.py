"""The console through the real gateway and Gradio app: who gets in, and actions over the queue."""

from __future__ import annotations

from typing import Any

import pytest

from fastapi_gateway.orm import run_orm
from fastapi_gateway.routing.models import ParityRun, RouteChange, RouteStateRecord, ShadowMismatch
from tests.gradio_protocol import new_session_hash, run_event

from tests.gateway.conftest import client_for, login

from .conftest import CONSOLE, Console, same_origin

pytestmark = pytest.mark.django_db(transaction=True)


async def test_anonymous_browser_is_sent_to_the_login(console: Console) -> None:
    response = await console.anonymous.get(f"{CONSOLE}/", headers={"Accept": "text/html"})
    assert response.status_code == 302
    assert response.headers["location"] == f"/accounts/login/?next={CONSOLE}/"


async def test_staff_get_the_page_in_the_sites_chrome(console: Console) -> None:
    response = await console.admin.get(f"{CONSOLE}/", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert 'id="site-header"' in response.text
    assert console.config["title"] == "Migration console · Support desk"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/", None),
        ("GET", "/config", None),
        ("GET", "/gradio_api/info", None),
        ("POST", "/gradio_api/queue/join", {"data": [], "fn_index": 0, "session_hash": "abcdef123456"}),
        ("GET", "/gradio_api/queue/data?session_hash=abcdef123456", None),
        ("GET", "/gradio_api/heartbeat/abcdef123456", None),
        ("POST", "/gradio_api/run/confirm", {"data": [None], "session_hash": "abcdef123456"}),
        ("POST", "/gradio_api/upload", None),
        ("GET", "/gradio_api/file=/etc/hostname", None),
        ("GET", "/parity/1/", None),
    ],
)
async def test_a_user_who_is_not_staff_gets_403_everywhere_under_it(console: Console, method: str, path: str, body: Any) -> None:
    response = await console.alice.request(method, CONSOLE + path, json=body, headers=same_origin(console.alice))
    assert response.status_code == 403, response.text


async def test_a_user_who_is_not_staff_is_told_so_in_the_browser(console: Console) -> None:
    response = await console.alice.get(f"{CONSOLE}/", headers={"Accept": "text/html"})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "not open to your account" in response.text


async def test_the_overview_lists_every_declared_route(console: Console) -> None:
    completed = await run_event(console.admin, CONSOLE, console.fn("overview_load"), ["Last 5 minutes"])
    assert completed["success"] is True, completed
    table = completed["output"]["data"][0]
    assert [row[0] for row in table["data"]] == ["api-tickets", "api-ticket-detail", "tickets-page"]
    assert {row[1] for row in table["data"]} == {"legacy"}


async def _review_and_confirm(console: Console, action: str, form: list[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Review an action, then confirm it, in one Gradio session (its reviewed action is kept there)."""
    session_hash = new_session_hash()
    reviewed = await run_event(console.admin, CONSOLE, console.fn(f"review_{action}"), form, session_hash=session_hash)
    confirmed = await run_event(console.admin, CONSOLE, console.fn("confirm"), [None], session_hash=session_hash)
    return reviewed, confirmed


async def test_setting_a_state_through_the_queue_is_audited_as_the_console(console: Console) -> None:
    session_hash = new_session_hash()
    reviewed = await run_event(console.admin, CONSOLE, console.fn("review_set_state"),
                               ["api-tickets", "canary", 5, "", "first users", False], session_hash=session_hash)
    assert "Move **api-tickets** from legacy to **canary 5%**" in reviewed["output"]["data"][1], reviewed
    assert not await run_orm(RouteChange.objects.exists), "nothing changes before the confirmation"

    confirmed = await run_event(console.admin, CONSOLE, console.fn("confirm"), [None], session_hash=session_hash)
    assert confirmed["success"] is True, confirmed
    assert "api-tickets is now canary 5%" in confirmed["output"]["data"][4]
    change = await run_orm(lambda: RouteChange.objects.get())
    assert (change.name, change.to_state, change.to_percent, change.changed_by, change.reason) == (
        "api-tickets", "canary", 5, "console:admin", "first users")
    record = await run_orm(lambda: RouteStateRecord.objects.get(name="api-tickets"))
    assert (record.state, record.percent) == ("canary", 5)
    # Confirming twice does not do it twice: the reviewed action was used up.
    again = await run_event(console.admin, CONSOLE, console.fn("confirm"), [None], session_hash=session_hash)
    assert "Nothing to confirm" in again["output"]["data"][4]
    assert await run_orm(RouteChange.objects.count) == 1


async def test_a_confirmation_needs_the_review_of_the_same_session(console: Console) -> None:
    """A reviewed action lives in the server's state of the session that reviewed it: another
    session (another tab, or a client sending its own "reviewed action") has nothing to confirm."""
    await run_event(console.admin, CONSOLE, console.fn("review_set_state"), ["api-tickets", "new", None, "", "go", False])
    forged = {"action": "set_state", "route": "api-tickets", "state": "new", "actor": "console:admin", "reason": "x"}
    confirmed = await run_event(console.admin, CONSOLE, console.fn("confirm"), [forged])
    assert "Nothing to confirm" in confirmed["output"]["data"][4]
    assert not await run_orm(RouteChange.objects.exists)


async def test_a_rollback_through_the_queue(console: Console) -> None:
    await _review_and_confirm(console, "set_state", ["api-tickets", "new", None, "", "go", False])
    reviewed, confirmed = await _review_and_confirm(console, "rollback", ["api-tickets", "new", None, "", "broke", False])
    assert "back to **legacy**" in reviewed["output"]["data"][1]
    assert "rolled back to legacy" in confirmed["output"]["data"][4]
    last = await run_orm(lambda: RouteChange.objects.first())
    assert (last.to_state, last.changed_by, last.undoes_id is not None) == ("legacy", "console:admin", True)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (["api-tickets", "new", None, "", "", False], "a reason is required"),
        (["api-tickets", "new", None, "", "   ", False], "a reason is required"),
        (["api-tickets", "legacy", None, "", "again", False], "already legacy"),
    ],
)
async def test_bad_input_gets_a_message_not_a_change(console: Console, form: list[Any], message: str) -> None:
    reviewed, confirmed = await _review_and_confirm(console, "set_state", form)
    assert reviewed["success"] is True
    assert message in reviewed["output"]["data"][1]
    assert "Nothing to confirm" in confirmed["output"]["data"][4]
    assert not await run_orm(RouteChange.objects.exists)


@pytest.mark.parametrize(
    "form",
    [
        ["no-such-route", "new", None, "", "why", False],
        ["api-tickets", "sideways", None, "", "why", False],
        ["api-tickets", "canary", 101, "", "why", False],
        ["api-tickets", "canary", -1, "", "why", False],
        [["api-tickets"], "new", None, "", "why", False],
        ["api-tickets", "canary", "5; DROP TABLE", "", "why", False],
    ],
)
async def test_hostile_values_are_refused_without_a_traceback(console: Console, form: list[Any]) -> None:
    reviewed, confirmed = await _review_and_confirm(console, "set_state", form)
    refused = not reviewed["success"] or "Not possible" in str(reviewed["output"]["data"][1])
    assert refused, reviewed
    assert "Traceback" not in str(reviewed)
    assert "Nothing to confirm" in confirmed["output"]["data"][4]
    assert not await run_orm(RouteChange.objects.exists)


async def test_parity_reports_are_listed_and_served_to_staff_alone(console: Console) -> None:
    finished = await run_orm(lambda: ParityRun.objects.create(
        routes=["api-tickets"], status="failed", done=2, total=2, summary={"api-tickets": {"cases": 2, "passed": 1, "failed": 1}},
        report="<!doctype html><title>Parity</title><p>1 case differs</p><script>alert(1)</script>"))
    running = await run_orm(lambda: ParityRun.objects.create(routes=["api-tickets"], status="running", total=4))
    completed = await run_event(console.admin, CONSOLE, console.fn("route_load"), ["api-tickets", "Last 5 minutes"])
    parity_table = completed["output"]["data"][6]["data"]
    assert [row[0] for row in parity_table] == [running.pk, finished.pk]
    assert parity_table[1][-1] == f"[report]({CONSOLE}/parity/{finished.pk}/)"
    assert parity_table[0][-1] == "–", "a running run has no report yet"

    report = await console.admin.get(f"{CONSOLE}/parity/{finished.pk}/")
    assert report.status_code == 200 and "1 case differs" in report.text
    assert report.headers["content-security-policy"].startswith("sandbox; default-src 'none'")
    assert (await console.admin.get(f"{CONSOLE}/parity/{running.pk}/")).status_code == 404
    assert (await console.admin.get(f"{CONSOLE}/parity/999999/")).status_code == 404
    assert (await console.alice.get(f"{CONSOLE}/parity/{finished.pk}/")).status_code == 403
    assert (await console.anonymous.get(f"{CONSOLE}/parity/{finished.pk}/")).status_code == 401


async def test_a_mismatch_is_shown_side_by_side_only_under_its_route(console: Console) -> None:
    record = await run_orm(lambda: ShadowMismatch.objects.create(
        route="api-tickets", signature="abc", method="GET", path="/api/tickets/", legacy_status=200, new_status=200,
        differences=[{"path": "$[0].title", "legacy": "A", "new": "B", "kind": "changed"}],
        legacy_body='[{"title": "A"}]', new_body='[{"title": "B"}]'))
    session_hash = new_session_hash()
    shown = await run_event(console.admin, CONSOLE, console.fn("route_change"), ["api-tickets", "Last 5 minutes"],
                            session_hash=session_hash)
    assert shown["output"]["data"][4]["data"][0][0] == record.pk
    detail = await run_event(console.admin, CONSOLE, console.fn("mismatch"), ["api-tickets", record.pk], session_hash=session_hash)
    title, differences, legacy, new = detail["output"]["data"]
    assert f"**#{record.pk}**" in title
    assert differences["data"] == [["$[0].title", "changed", '"A"', '"B"']]
    assert '"A"' in legacy["value"] and '"B"' in new["value"]
    # Asked under another route (its id is real), nothing is shown.
    other = await run_event(console.admin, CONSOLE, console.fn("route_change"), ["api-ticket-detail", "Last 5 minutes"],
                            session_hash=session_hash)
    assert other["output"]["data"][4]["data"] == []
    elsewhere = await run_event(console.admin, CONSOLE, console.fn("mismatch"), ["api-ticket-detail", record.pk],
                                session_hash=session_hash)
    assert not elsewhere["success"] or elsewhere["output"]["data"][0] in ("", "No such mismatch of this route.")


async def test_coverage_lists_the_sites_url_patterns_with_their_routes(console: Console) -> None:
    completed = await run_event(console.admin, CONSOLE, console.fn("coverage_load"), ["Last 5 minutes"])
    rows = {row[0]: row for row in completed["output"]["data"][0]["data"]}
    assert rows["api/tickets/"][5:7] == ["api-tickets", "legacy"]
    assert rows["tickets/new/"][5] == "–"


async def test_a_long_window_is_read_again_less_often(console: Console) -> None:
    paced = await run_event(console.admin, CONSOLE, console.fn("pace"), ["Last 6 hours"])
    assert paced["output"]["data"][0]["value"] == 30.0
    hostile = await run_event(console.admin, CONSOLE, console.fn("pace"), ["Last 1000 years"])
    assert not hostile["success"] or hostile["output"]["data"][0]["value"] == 2.0


async def _staff_member(username: str, demo_password: str, *permissions: str) -> Any:
    """An active staff account that is not a superuser, with only ``permissions`` (codenames)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    def make() -> Any:
        user = get_user_model().objects.create_user(username, password=demo_password, is_staff=True)
        user.user_permissions.set(Permission.objects.filter(content_type__app_label="gateway_routing", codename__in=permissions))
        return user

    return await run_orm(make)


async def test_staff_without_the_admins_permissions_get_no_further_than_the_admin(console: Console, demo_password: str) -> None:
    """The staff flag alone opens the admin's index, not its route table: nor the console."""
    await _staff_member("carol", demo_password)
    async with client_for(console.app) as carol:
        await login(carol, "carol", demo_password)
        assert (await carol.get(f"{CONSOLE}/config")).status_code == 403
        assert (await carol.post(f"{CONSOLE}/gradio_api/queue/join", json={"data": [], "fn_index": 0, "session_hash": "carolcarol1"},
                                 headers=same_origin(carol))).status_code == 403
        assert (await carol.get("/admin/gateway_routing/routestaterecord/")).status_code == 403  # the admin agrees


async def test_who_may_see_the_route_table_may_not_change_it_nor_read_mismatches_without_the_permissions(
    console: Console, demo_password: str,
) -> None:
    record = await run_orm(lambda: ShadowMismatch.objects.create(
        route="api-tickets", signature="abc", method="GET", path="/api/tickets/", legacy_status=200, new_status=200,
        differences=[], legacy_body="[]", new_body="[1]"))
    finished = await run_orm(lambda: ParityRun.objects.create(routes=["api-tickets"], status="passed", done=1, total=1,
                                                              report="<p>report</p>"))
    await _staff_member("dave", demo_password, "view_routestaterecord")
    async with client_for(console.app) as dave:
        await login(dave, "dave", demo_password)
        config = await dave.get(f"{CONSOLE}/config")
        assert config.status_code == 200, config.text
        session_hash = new_session_hash()
        overview = await run_event(dave, CONSOLE, console.fn("overview_load"), ["Last 5 minutes"], session_hash=session_hash)
        assert [row[0] for row in overview["output"]["data"][0]["data"]][:1] == ["api-tickets"]
        assert overview["output"]["data"][1]["data"] == [], "no parity runs without their view permission"
        shown = await run_event(dave, CONSOLE, console.fn("route_change"), ["api-tickets", "Last 5 minutes"], session_hash=session_hash)
        assert shown["output"]["data"][4]["data"] == [] and shown["output"]["data"][6]["data"] == []
        detail = await run_event(dave, CONSOLE, console.fn("mismatch"), ["api-tickets", record.pk], session_hash=session_hash)
        assert not detail["success"] or detail["output"]["data"][0] == "No such mismatch of this route."
        assert (await dave.get(f"{CONSOLE}/parity/{finished.pk}/")).status_code == 403
        reviewed = await run_event(dave, CONSOLE, console.fn("review_set_state"), ["api-tickets", "new", None, "", "go", False],
                                   session_hash=session_hash)
        assert reviewed["success"] is False and "permission to change route states" in reviewed["output"]["error"]
        confirmed = await run_event(dave, CONSOLE, console.fn("confirm"), [None], session_hash=session_hash)
        assert confirmed["success"] is False
    assert not await run_orm(RouteChange.objects.exists)

    await _staff_member("erin", demo_password, "change_routestaterecord", "view_shadowmismatch", "view_parityrun")
    async with client_for(console.app) as erin:
        await login(erin, "erin", demo_password)
        session_hash = new_session_hash()
        await run_event(erin, CONSOLE, console.fn("route_change"), ["api-tickets", "Last 5 minutes"], session_hash=session_hash)
        detail = await run_event(erin, CONSOLE, console.fn("mismatch"), ["api-tickets", record.pk], session_hash=session_hash)
        assert f"**#{record.pk}**" in detail["output"]["data"][0]
        assert (await erin.get(f"{CONSOLE}/parity/{finished.pk}/")).status_code == 200
        await run_event(erin, CONSOLE, console.fn("review_set_state"), ["api-tickets", "new", None, "", "go", False],
                        session_hash=session_hash)
        confirmed = await run_event(erin, CONSOLE, console.fn("confirm"), [None], session_hash=session_hash)
        assert "api-tickets is now new" in confirmed["output"]["data"][4]
    assert (await run_orm(lambda: RouteChange.objects.get())).changed_by == "console:erin"


async def test_a_stored_path_is_shown_as_typed_never_as_markdown(console: Console) -> None:
    """Any signed-in user chooses the path a shadowed request stores; in the staff console it
    stays one code span, whatever backticks, links or images it holds."""
    path = "/api/tickets/?x=`[**Session expired: sign in again**](https://evil.example/login)`![t](https://evil.example/p.png)"
    record = await run_orm(lambda: ShadowMismatch.objects.create(
        route="api-tickets", signature="md", method="GET", path=path, legacy_status=200, new_status=200,
        differences=[], legacy_body="[]", new_body="[1]"))
    session_hash = new_session_hash()
    await run_event(console.admin, CONSOLE, console.fn("route_change"), ["api-tickets", "Last 5 minutes"], session_hash=session_hash)
    detail = await run_event(console.admin, CONSOLE, console.fn("mismatch"), ["api-tickets", record.pk], session_hash=session_hash)
    title = detail["output"]["data"][0]
    assert f" ``{path}`` :" in title or f"``{path}``:" in title, title
