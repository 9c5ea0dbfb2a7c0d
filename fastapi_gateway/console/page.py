"""The migration console's page: one ``gr.Blocks`` over ``console.data`` and ``console.actions``.

Every callback asks the gateway for the event's Django user and wants active staff with the
admin's permissions before it reads or changes anything (``console.permissions``: the guard
refused others already; a user demoted since the page opened is refused on the next click). Values from the browser are only passed on to
``actions``, which checks them against the declared routes. Tables and charts refresh on a
timer; ORM work runs in a worker thread.
"""

from __future__ import annotations

import html
import json
import logging
from datetime import timedelta
from typing import Any

import gradio as gr
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from fastapi_gateway.console import TITLE, data
from fastapi_gateway.console.actions import Action, PlannedAction, actor_for, perform, plan_action
from fastapi_gateway.console.exceptions import ConsoleDenied, ConsoleInputError
from fastapi_gateway.console.permissions import MISMATCHES, PARITY_RUNS, may_view
from fastapi_gateway.console.reports import report_url
from fastapi_gateway.identity.dependencies import django_user
from fastapi_gateway.migrated_route import RouteState
from fastapi_gateway.orm import run_orm
from fastapi_gateway.pages.account_bar import add_account_bar
from fastapi_gateway.pages.markdown import code_span, escape_markdown

__all__ = ["OVERVIEW_HEADERS", "REFRESH_SECONDS", "WINDOWS", "build"]

logger = logging.getLogger("fastapi_gateway")

from fastapi_gateway.console import TITLE
REFRESH_SECONDS = 2.0
WINDOWS = {"Last minute": 1, "Last 5 minutes": 5, "Last 15 minutes": 15, "Last hour": 60, "Last 6 hours": 360}
_DEFAULT_WINDOW = "Last 5 minutes"
OVERVIEW_HEADERS = [
    "route", "state", "last change", "requests legacy / new", "5xx legacy / new", "p50 ms legacy / new",
    "p99 ms legacy / new", "fallbacks", "shadow agree / differ / error / dropped", "parity", "rollout", "next step",
]
MISMATCH_HEADERS = ["id", "seen", "first seen", "last seen", "method", "path", "differing fields", "legacy status", "new status"]
AUDIT_HEADERS = ["id", "when", "from", "to", "by", "reason", "undoes"]
PARITY_HEADERS = ["run", "started", "by", "reason", "routes", "status", "progress", "result", "finished", "report"]
ROLLOUT_HEADERS = ["id", "status", "started", "by", "reason", "steps", "progress", "finished"]
COVERAGE_HEADERS = ["URL pattern", "URL name", "requests", "legacy", "new", "route", "state", "new side's share"]
DIFFERENCE_HEADERS = ["where", "kind", "legacy", "new"]
_CHARTS = {
    "requests": ({"minutes": "float64", "side": "str", "requests": "int64"}, "requests", "side"),
    "errors": ({"minutes": "float64", "side": "str", "errors_percent": "float64"}, "errors_percent", "side"),
    "latency": ({"minutes": "float64", "series": "str", "ms": "float64"}, "ms", "series"),
}
_PRIVATE: dict[str, Any] = {"api_visibility": "private"}
_QUIET: dict[str, Any] = {**_PRIVATE, "show_progress": "hidden", "concurrency_limit": 8, "trigger_mode": "always_last"}


async def _staff(request: gr.Request | None, *, to_act: bool = False) -> str:
    """The event's actor, ``console:<username>``, or a ``gr.Error`` for anyone but active staff
    allowed to see the route table (``to_act``: to change it)."""
    return (await _viewer(request, to_act=to_act))[0]


async def _viewer(request: gr.Request | None, *, to_act: bool = False) -> tuple[str, Any]:
    """The event's actor and Django user, checked as ``_staff`` checks them."""
    user = await django_user(request)
    try:
        return await run_orm(actor_for, user, to_act=to_act), user
    except ConsoleDenied as denied:
        raise gr.Error(str(denied), title="Not allowed", print_exception=False) from None


def _window(value: Any) -> int:
    return WINDOWS.get(value, WINDOWS[_DEFAULT_WINDOW]) if isinstance(value, str) else WINDOWS[_DEFAULT_WINDOW]


def _pair(legacy: Any, new: Any) -> str:
    shown = ["–" if value is None else str(value) for value in (legacy, new)]
    return " / ".join(shown)


def _state_text(state: Any, percent: Any) -> str:
    if not state:
        return "–"
    return f"canary {percent}%" if state == RouteState.CANARY.value else str(state)


def _percent_text(share: float) -> str:
    return f"{share * 100:.1f}%"


def _link(url: str | None, text: str) -> str:
    return f"[{escape_markdown(text)}]({url})" if url else escape_markdown(text)


def _overview_table(rows: list[dict[str, Any]]) -> list[list[Any]]:
    table = []
    for row in rows:
        legacy, new = row["legacy"], row["new"]
        change = f"{row['changed_at']} by {row['changed_by'] or '?'}" + (f": {row['reason']}" if row["reason"] else "") if row["changed_at"] else "never"
        table.append([
            row["route"], row["state_text"], change,
            _pair(legacy["requests"], new["requests"]),
            _pair(_percent_text(legacy["error_rate"]), _percent_text(new["error_rate"])),
            _pair(legacy["p50_ms"], new["p50_ms"]), _pair(legacy["p99_ms"], new["p99_ms"]),
            new["fallbacks"],
            f"{new['shadow_agree']} / {new['shadow_differ']} / {new['shadow_error']} / {new['shadow_dropped']}",
            _link(row["parity_report"], row["parity"] or "none yet"),
            row["rollout"] or "–", row["next_step"],
        ])
    return table


def _parity_table(rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [row["id"], row["started_at"], row["by"], row["reason"], row["routes"], row["status"], row["progress"],
         row["result"], row["finished_at"], _link(row["report"], "report") if row["report"] else "–"]
        for row in rows
    ]


def _chart(name: str, points: list[dict[str, Any]], minutes: int) -> Any:
    import pandas as pd  # type: ignore[import-untyped]  # a dependency of Gradio's, untyped here

    columns, _, _ = _CHARTS[name]
    frame = pd.DataFrame({column: pd.Series([point[column] for point in points], dtype=dtype) for column, dtype in columns.items()})
    return gr.update(value=frame, x_lim=[-minutes, 0])


def _route_summary(row: dict[str, Any] | None) -> str:
    if row is None:
        return "Choose a declared route."
    change = (f"last changed {row['changed_at']} by {escape_markdown(row['changed_by'] or '?')}"
              + (f": “{escape_markdown(row['reason'])}”" if row["reason"] else "")) if row["changed_at"] else "never changed"
    lines = [
        f"### {escape_markdown(row['route'])}: {row['state_text']}",
        f"`{row['legacy_url']}` → `{row['new_url']}` · {change}",
    ]
    if row["rollout"]:
        lines.append(f"**Rollout:** {escape_markdown(row['rollout'])}")
    lines.append(f"**Last parity run:** {_link(row['parity_report'], row['parity'] or 'none yet')}")
    if row["next_step"]:
        lines.append(f"**Next:** {escape_markdown(row['next_step'])}")
    return "\n\n".join(lines)


def _refresh_seconds(minutes: int) -> float:
    """How often the numbers of a window are read again: a long window moves slowly, and
    summing hours of every process's rows every 2 s would load the database for nothing."""
    return REFRESH_SECONDS if minutes <= 15 else 10.0 if minutes <= 60 else 30.0


def _overview(window: Any, console_path: str, user: Any) -> tuple[list[list[Any]], list[list[Any]], str]:
    now = timezone.now()
    rows = data.route_overview(now - timedelta(minutes=_window(window)), report_url=lambda pk: report_url(console_path, pk))
    runs = (_parity_table(data.parity_rows(None, report_url=lambda pk: report_url(console_path, pk)))
            if may_view(user, PARITY_RUNS) else [])
    return _overview_table(rows), runs, f"Updated {data.shown_time(now)} · numbers of the {str(window).lower()}, every process"


def _coverage(window: Any) -> list[list[Any]]:
    since = timezone.now() - timedelta(minutes=_window(window))
    return [
        [row["pattern"] if row["pattern"] is not None else "(no pattern: 404)", row.get("name") or "", row["requests"],
         row.get("legacy_requests", ""), row.get("new_requests", ""), row.get("route") or "–",
         _state_text(row.get("state"), row.get("percent")), _percent_text(float(row.get("new_share") or 0.0))]
        for row in data.coverage(since)
    ]


def _route_view(route: Any, window: Any, console_path: str, user: Any) -> dict[str, Any]:
    """What the route's tabs show ``user``: shadow mismatches (other users' requests and
    answers) and parity runs only to those the admin shows them to."""
    names = data.route_names()
    if not isinstance(route, str) or route not in names:
        return {"summary": "Choose a declared route.", "charts": {name: [] for name in _CHARTS}, "mismatches": [],
                "parity": [], "audit": [], "rollouts": []}
    now = timezone.now()
    minutes = _window(window)
    since = now - timedelta(minutes=minutes)
    urls = lambda pk: report_url(console_path, pk)  # noqa: E731
    row = next(iter(data.route_overview(since, report_url=urls, names=[route])), None)
    return {
        "summary": _route_summary(row),
        "charts": data.chart_points(route, since, now=now, step_seconds=minutes),  # about 60 points a window
        "mismatches": data.mismatch_rows(route) if may_view(user, MISMATCHES) else [],
        "parity": _parity_table(data.parity_rows(route, report_url=urls)) if may_view(user, PARITY_RUNS) else [],
        "audit": data.audit_rows(route),
        "rollouts": data.rollout_rows(route),
    }


def _route_defaults(route: Any) -> tuple[str, int, str]:
    """The form's starting values for a route: its state, percent and declared rollout steps."""
    from fastapi_gateway.routing.rollouts import declared_plan
    from fastapi_gateway.routing.table import LEGACY, load_states

    if not isinstance(route, str) or route not in data.route_names():
        return RouteState.LEGACY.value, 0, ""
    setting = load_states([route], only=True).get(route, LEGACY)
    steps = declared_plan(route).steps
    spec = ",".join(f"canary:{step.percent}" if step.state is RouteState.CANARY else step.state.value for step in steps)
    return setting.state.value, setting.percent, spec


def build(console_path: str = "/ui/migration") -> gr.Blocks:
    """The console page for ``console_path`` (where its parity reports are linked from)."""
    names = data.route_names()
    with gr.Blocks(title=TITLE) as demo:
        add_account_bar(demo, legacy_links=_admin_links())
        gr.Markdown(f"# {TITLE}")
        with gr.Row(equal_height=True):
            window = gr.Dropdown(list(WINDOWS), value=_DEFAULT_WINDOW, label="Numbers over", scale=1, elem_id="console-window")
            live = gr.Checkbox(value=True, label="Live", scale=0, min_width=100, elem_id="console-live")
            refresh = gr.Button("Refresh", scale=0, min_width=100)
        updated = gr.Markdown(elem_id="console-updated")
        overview = gr.Dataframe(
            headers=OVERVIEW_HEADERS, datatype=["str"] * 9 + ["markdown", "str", "str"], type="array",
            interactive=False, label="Every declared route", elem_id="console-routes", wrap=True,
            column_widths=["9%", "7%", "14%", "7%", "7%", "7%", "7%", "5%", "8%", "9%", "10%", "10%"],
        )
        route = gr.Dropdown(names, value=names[0] if names else None, label="Route", elem_id="console-route")
        summary = gr.Markdown(elem_id="console-route-summary")
        with gr.Tabs():
            with gr.Tab("Numbers"):
                with gr.Row():
                    plots = {
                        name: gr.LinePlot(x="minutes", y=y, color=color, x_title="minutes (0 = now)", y_lim=[0, None],
                                          y_title={"requests": "requests", "errors_percent": "5xx %", "ms": "ms"}[y],
                                          title={"requests": "Requests", "errors": "5xx answers", "latency": "Latency p50 / p99"}[name],
                                          elem_id=f"console-chart-{name}")
                        for name, (_, y, color) in _CHARTS.items()
                    }
            with gr.Tab("Actions", elem_id="console-actions"):
                gr.Markdown("Each action applies to the route chosen above, needs a reason and a confirmation, and is "
                            "written to the route's audit trail as `console:<your username>`.")
                with gr.Row():
                    state = gr.Dropdown([s.value for s in RouteState], value=RouteState.LEGACY.value, label="State",
                                        elem_id="console-state")
                    percent = gr.Number(value=0, precision=0, minimum=0, maximum=100, label="Canary percent",
                                        elem_id="console-percent")
                    steps = gr.Textbox(label="Rollout steps", placeholder="shadow,canary:5,canary:25,new", max_lines=1,
                                       elem_id="console-steps")
                    all_routes = gr.Checkbox(value=False, label="Parity run of every route")
                reason = gr.Textbox(label="Reason (required)", max_lines=2, elem_id="console-reason")
                with gr.Row():
                    review_buttons = {
                        Action.SET_STATE: gr.Button("Set state…", elem_id="console-review-set-state"),
                        Action.ROLLBACK: gr.Button("Roll back…", elem_id="console-review-rollback"),
                        Action.START_ROLLOUT: gr.Button("Start rollout…", elem_id="console-review-start-rollout"),
                        Action.STOP_ROLLOUT: gr.Button("Stop rollout…", elem_id="console-review-stop-rollout"),
                        Action.PARITY_RUN: gr.Button("Start parity run…", elem_id="console-review-parity-run"),
                    }
                review = gr.Markdown(elem_id="console-review")
                with gr.Row():
                    confirm = gr.Button("Confirm", variant="stop", visible=False, elem_id="console-confirm")
                    cancel = gr.Button("Cancel", visible=False, elem_id="console-cancel")
                result = gr.Markdown(elem_id="console-result")
            with gr.Tab("Shadow mismatches"):
                mismatches = gr.Dataframe(headers=MISMATCH_HEADERS, type="array", interactive=False, wrap=True,
                                          label="Kinds of mismatch (redacted, as stored)")
                mismatch = gr.Dropdown([], value=None, label="Show both sides of", elem_id="console-mismatch")
                mismatch_title = gr.Markdown()
                differences = gr.Dataframe(headers=DIFFERENCE_HEADERS, type="array", interactive=False, wrap=True,
                                           label="Differences")
                with gr.Row():
                    legacy_body = gr.Code(label="Legacy answer", interactive=False)
                    new_body = gr.Code(label="New answer", interactive=False)
            with gr.Tab("Parity"):
                route_parity = gr.Dataframe(headers=PARITY_HEADERS, type="array", interactive=False, wrap=True,
                                            datatype=["str"] * 9 + ["markdown"], label="Parity runs of this route")
            with gr.Tab("Audit trail"):
                audit = gr.Dataframe(headers=AUDIT_HEADERS, type="array", interactive=False, wrap=True,
                                     label="Changes of this route", elem_id="console-audit")
            with gr.Tab("Rollouts"):
                rollouts = gr.Dataframe(headers=ROLLOUT_HEADERS, type="array", interactive=False, wrap=True,
                                        label="Rollouts of this route")
        with gr.Accordion("Coverage: every URL pattern of the site, with its requests over the window", open=False):
            coverage = gr.Dataframe(headers=COVERAGE_HEADERS, type="array", interactive=False, wrap=True,
                                    label="Requests per URL pattern", elem_id="console-coverage")
        with gr.Accordion("All parity runs", open=False):
            all_parity = gr.Dataframe(headers=PARITY_HEADERS, type="array", interactive=False, wrap=True,
                                      datatype=["str"] * 9 + ["markdown"], label="Parity runs")
        pending = gr.State(None)
        timer = gr.Timer(REFRESH_SECONDS)

        async def show_overview(window_value: Any, request: gr.Request) -> tuple[Any, ...]:
            _, user = await _viewer(request)
            return await run_orm(_overview, window_value, console_path, user)

        async def show_coverage(window_value: Any, request: gr.Request) -> Any:
            await _staff(request)
            return await run_orm(_coverage, window_value)

        async def pace(window_value: Any, request: gr.Request) -> Any:
            await _staff(request)
            return gr.Timer(value=_refresh_seconds(_window(window_value)))

        async def show_route(route_value: Any, window_value: Any, request: gr.Request) -> tuple[Any, ...]:
            _, user = await _viewer(request)
            view = await run_orm(_route_view, route_value, window_value, console_path, user)
            minutes = _window(window_value)
            ids = [row["id"] for row in view["mismatches"]]
            choices = [(f"#{row['id']} {row['method']} {row['path']} ({row['count']}×)", row["id"])
                       for row in view["mismatches"]]
            return (
                view["summary"],
                *(_chart(name, view["charts"][name], minutes) for name in _CHARTS),
                [[row[key] for key in ("id", "count", "first_seen", "last_seen", "method", "path", "fields",
                                       "legacy_status", "new_status")] for row in view["mismatches"]],
                gr.update(choices=choices, value=None) if not ids else gr.update(choices=choices),
                view["parity"],
                [[row[key] for key in ("id", "at", "from", "to", "by", "reason", "undoes")] for row in view["audit"]],
                [[row[key] for key in ("id", "status", "started_at", "by", "reason", "steps", "progress", "finished_at")]
                 for row in view["rollouts"]],
            )

        async def show_mismatch(route_value: Any, mismatch_id: Any, request: gr.Request) -> tuple[Any, ...]:
            _, user = await _viewer(request)
            if not isinstance(route_value, str) or isinstance(mismatch_id, bool) or not isinstance(mismatch_id, int):
                return "", [], gr.update(value="", language=None), gr.update(value="", language=None)
            detail = await run_orm(_mismatch, route_value, mismatch_id, user)
            if detail is None:
                return "No such mismatch of this route.", [], gr.update(value="", language=None), gr.update(value="", language=None)
            title = (f"**#{detail['id']}** {escape_markdown(detail['method'])} {code_span(detail['path'])}: legacy "
                     f"{detail['legacy_status']}, new {detail['new_status'] if detail['new_status'] is not None else 'no answer'}, "
                     f"seen {detail['count']}×" + (f" · [diff in the admin]({detail['diff_url']})" if detail["diff_url"] else ""))
            rows = [[item["path"], item["kind"], _shown_value(item["path"], item["legacy"]), _shown_value(item["path"], item["new"])]
                    for item in detail["differences"]]
            return (title, rows,
                    gr.update(value=detail["legacy_body"], language=data.body_language(detail["legacy_body"])),
                    gr.update(value=detail["new_body"], language=data.body_language(detail["new_body"])))

        async def fill_form(route_value: Any, request: gr.Request) -> tuple[Any, ...]:
            await _staff(request)
            return await run_orm(_route_defaults, route_value)

        async def switch_route(route_value: Any, request: gr.Request) -> tuple[Any, ...]:
            """A new route: its values in the form, and any reviewed action of the last one dropped."""
            return (*await fill_form(route_value, request), None, "", gr.update(visible=False), gr.update(visible=False))

        async def switch_live(on: Any, request: gr.Request) -> Any:
            await _staff(request)
            return gr.Timer(active=on is True)

        def reviewer(action: Action) -> Any:
            async def review_action(route_value: Any, state_value: Any, percent_value: Any, steps_value: Any,
                                    reason_value: Any, all_value: Any, request: gr.Request) -> tuple[Any, ...]:
                actor = await _staff(request, to_act=True)
                try:
                    planned = await run_orm(plan_action, action, actor=actor, route=route_value, state=state_value,
                                            percent=percent_value, steps=steps_value, reason=reason_value,
                                            all_routes=all_value is True)
                except ConsoleInputError as refused:
                    gr.Warning(html.escape(refused.message), title="Not possible")
                    return (None, f"**Not possible:** {escape_markdown(refused.message)}", gr.update(visible=False),
                            gr.update(visible=False), "")
                text = f"{planned.description}\n\nReason: “{escape_markdown(planned.reason)}”. Confirm to go ahead."
                return planned, text, gr.update(visible=True), gr.update(visible=True), ""

            review_action.__name__ = f"review_{action.value}"
            return review_action

        async def confirm_action(planned: Any, request: gr.Request) -> tuple[Any, ...]:
            actor = await _staff(request, to_act=True)
            if not isinstance(planned, PlannedAction):
                return None, "", gr.update(visible=False), gr.update(visible=False), "Nothing to confirm: review an action first."
            try:
                done = await run_orm(perform, planned, actor=actor)
            except ConsoleInputError as refused:
                gr.Warning(html.escape(refused.message), title="Not done")
                return None, "", gr.update(visible=False), gr.update(visible=False), f"**Not done:** {escape_markdown(refused.message)}"
            except Exception:  # noqa: BLE001 - the operator gets a message; the log gets the traceback
                logger.exception("console action %s of %s failed", planned.action.value, planned.route)
                return (None, "", gr.update(visible=False), gr.update(visible=False),
                        "**Failed:** the action could not be completed; the server log has the details.")
            return None, "", gr.update(visible=False), gr.update(visible=False), f"**Done.** {escape_markdown(done)}"

        async def cancel_action(request: gr.Request) -> tuple[Any, ...]:
            await _staff(request)
            return None, "", gr.update(visible=False), gr.update(visible=False), "Cancelled: nothing was changed."

        overview_outputs = [overview, all_parity, updated]
        route_outputs = [summary, *plots.values(), mismatches, mismatch, route_parity, audit, rollouts]
        review_outputs = [pending, review, confirm, cancel, result]
        for name, trigger in (("load", demo.load), ("refresh", refresh.click), ("window", window.change), ("tick", timer.tick)):
            trigger(show_overview, [window], overview_outputs, api_name=f"overview_{name}", **_QUIET)
            trigger(show_route, [route, window], route_outputs, api_name=f"route_{name}", **_QUIET)
        for name, trigger in (("load", demo.load), ("refresh", refresh.click), ("window", window.change)):
            trigger(show_coverage, [window], [coverage], api_name=f"coverage_{name}", **_QUIET)
        window.change(pace, [window], [timer], api_name="pace", **_PRIVATE)
        live.change(switch_live, [live], [timer], api_name="live", **_PRIVATE)
        route.change(show_route, [route, window], route_outputs, api_name="route_change", **_QUIET)
        form_outputs = [state, percent, steps, pending, review, confirm, cancel]
        demo.load(switch_route, [route], form_outputs, api_name="form_load", **_PRIVATE)
        route.change(switch_route, [route], form_outputs, api_name="form_route", **_PRIVATE)
        mismatch.change(show_mismatch, [route, mismatch], [mismatch_title, differences, legacy_body, new_body],
                        api_name="mismatch", **_PRIVATE)
        inputs = [route, state, percent, steps, reason, all_routes]
        for action, button in review_buttons.items():
            button.click(reviewer(action), inputs, review_outputs, api_name=f"review_{action.value}", **_PRIVATE)
        confirmed = confirm.click(confirm_action, [pending], review_outputs, api_name="confirm", **_PRIVATE)
        confirmed.then(show_overview, [window], overview_outputs, api_name="overview_after", **_QUIET)
        confirmed.then(show_route, [route, window], route_outputs, api_name="route_after", **_QUIET)
        confirmed.then(fill_form, [route], [state, percent, steps], api_name="form_after", **_PRIVATE)
        cancel.click(cancel_action, None, review_outputs, api_name="cancel", **_PRIVATE)
    return demo


def _mismatch(route: str, mismatch_id: int, user: Any) -> dict[str, Any] | None:
    if route not in data.route_names() or not may_view(user, MISMATCHES):
        return None
    return data.mismatch_detail(route, mismatch_id)


def _shown_value(path: str, value: Any, limit: int = 200) -> str:
    """A differing value as the report shows it: JSON values as JSON (``"5"`` is not ``5``)."""
    text = json.dumps(value, ensure_ascii=False, default=str) if path.startswith("$") or not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _admin_links() -> list[tuple[str, str]]:
    """Links to the route table, audit trail and shadow report in the admin, when it is installed."""
    links = []
    for label, name in (("Route table", "admin:gateway_routing_routestaterecord_changelist"),
                        ("Shadow report", "admin:gateway_routing_shadowmismatch_report")):
        try:
            links.append((label, reverse(name)))
        except NoReverseMatch:
            continue
    return links
