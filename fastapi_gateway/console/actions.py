"""The console's actions: set a state, roll back, start or stop a rollout, start a parity run.

Each goes in two steps, as a careful operator would at a terminal: ``plan_action`` validates
what the browser sent (a hostile client may send anything: every value is checked against the
declared routes and the route table's own rules) and describes what will happen; only
``perform`` changes anything, after checking again that the route is still where the plan
saw it. Both take the actor, ``console:<username>``, written to the same audit trail as the
command line's ``cli:<login>`` and the admin's ``admin:<username>``.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from dataclasses import dataclass
from typing import Any

from fastapi_gateway.console.exceptions import ConsoleDenied, ConsoleInputError
from fastapi_gateway.console.permissions import ROUTES, may_change, may_use_console
from fastapi_gateway.exceptions import GatewayError, RoutingError
from fastapi_gateway.migrated_route import RouteState
from fastapi_gateway.pages.markdown import escape_markdown
from fastapi_gateway.routing.rollouts import ACTIVE, parse_steps
from fastapi_gateway.routing.table import LEGACY, declared_routes, load_states, validate_state

__all__ = ["Action", "PlannedAction", "actor_for", "perform", "plan_action"]

logger = logging.getLogger("fastapi_gateway")

MAX_REASON = 1000
MAX_STEPS = 500


class Action(str, enum.Enum):
    SET_STATE = "set_state"
    ROLLBACK = "rollback"
    START_ROLLOUT = "start_rollout"
    STOP_ROLLOUT = "stop_rollout"
    PARITY_RUN = "parity_run"


@dataclass(frozen=True)
class PlannedAction:
    """A validated action waiting for its confirmation; ``seen`` is the route's state and
    percent when it was planned (``rollout`` the rollout a stop is for), so a change made
    meanwhile by someone else is not overridden."""

    action: Action
    route: str  # "" for a parity run of every declared route
    actor: str
    reason: str
    description: str  # Markdown: what confirming will do
    state: str = ""
    percent: int | None = None
    steps: str = ""
    seen: tuple[str, int] | None = None
    rollout: int | None = None


def actor_for(user: Any, *, to_act: bool = False) -> str:
    """``console:<username>`` for active staff who may see the route table (and, ``to_act``,
    change it: the admin's permissions); ``ConsoleDenied`` for anyone else. May query the
    database (permissions): call it off the event loop."""
    username = user.get_username() if getattr(user, "is_authenticated", False) is True else None
    if username is None or not may_use_console(user):
        raise ConsoleDenied(username)
    if to_act and not may_change(user, ROUTES):
        raise ConsoleDenied(username, acting=True)
    return f"console:{username}"


def _route(value: Any) -> str:
    names = [route.name for route in declared_routes()]
    if not isinstance(value, str) or value not in names:
        shown = repr(value)[:80] if value not in (None, "") else "no route"
        raise ConsoleInputError(f"Unknown route {shown}: choose one of {', '.join(names) or '(none declared)'}.", field="route")
    return value


def _reason(value: Any) -> str:
    reason = value.strip() if isinstance(value, str) else ""
    if not reason:
        raise ConsoleInputError("Say why: a reason is required, and is kept in the audit trail.", field="reason")
    if len(reason) > MAX_REASON:
        raise ConsoleInputError(f"The reason is too long ({len(reason)} characters; at most {MAX_REASON}).", field="reason")
    return reason


def _percent(value: Any) -> int | None:
    """A whole number as the browser may send it (5, 5.0), or None; anything else refused."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise ConsoleInputError(f"The percentage must be a whole number from 0 to 100, not {str(value)[:40]!r}.", field="percent")
    return value


def _state(value: Any, percent: Any) -> tuple[RouteState, int]:
    if not isinstance(value, str):
        raise ConsoleInputError("Choose a state.", field="state")
    number = _percent(percent) if value == RouteState.CANARY.value else None
    try:
        return validate_state(value, number)
    except RoutingError as error:
        raise ConsoleInputError(f"{str(error)[:200]}.", field="percent" if "percent" in str(error) else "state") from error


def _current(route: str) -> tuple[str, int]:
    setting = load_states([route], only=True).get(route, LEGACY)
    return setting.state.value, setting.percent


def _shown(state: str, percent: int) -> str:
    return f"canary {percent}%" if state == RouteState.CANARY.value else state


def _active_rollout(route: str) -> Any:
    from fastapi_gateway.routing.models import Rollout

    return Rollout.objects.filter(route=route, status__in=ACTIVE).first()


def plan_action(action: Any, *, actor: str, route: Any = None, state: Any = None, percent: Any = None,
                steps: Any = None, reason: Any = None, all_routes: bool = False) -> PlannedAction:
    """Validate an action and describe it; nothing is changed. Raises ``ConsoleInputError``
    with a message for the operator."""
    try:
        kind = Action(action)
    except ValueError:
        raise ConsoleInputError(f"Unknown action {str(action)[:40]!r}.") from None
    if kind is Action.PARITY_RUN and all_routes:
        name = ""
    else:
        name = _route(route)
    why = _reason(reason)
    plan = PlannedAction(kind, name, actor, why, "", seen=_current(name) if name else None)
    now = _shown(*plan.seen) if plan.seen else ""
    target = f"**{escape_markdown(name)}**"
    if kind is Action.SET_STATE:
        route_state, route_percent = _state(state, percent)
        if (route_state.value, route_percent) == plan.seen:
            raise ConsoleInputError(f"{name} is already {now}.", field="state")
        plan = dataclasses.replace(plan, state=route_state.value, percent=route_percent,
                                   description=f"Move {target} from {now} to **{_shown(route_state.value, route_percent)}**.")
    elif kind is Action.ROLLBACK:
        plan = dataclasses.replace(plan, description=f"Roll {target} back one step: {_rollback_preview(name)}.")
    elif kind is Action.START_ROLLOUT:
        if _active_rollout(name) is not None:
            raise ConsoleInputError(f"{name} already has a rollout running or paused: stop it first.")
        spec = steps if isinstance(steps, str) else ""
        if len(spec) > MAX_STEPS:
            raise ConsoleInputError(f"The steps are too long (at most {MAX_STEPS} characters).", field="steps")
        try:
            parsed = parse_steps(spec)
        except RoutingError as error:
            raise ConsoleInputError(f"Steps: {str(error)[:200]}.", field="steps") from error
        plan_steps = ",".join(f"canary:{step.percent}" if step.state is RouteState.CANARY else step.state.value for step in parsed)
        plan = dataclasses.replace(plan, steps=plan_steps, description=(
            f"Start a rollout of {target} (now {now}): {escape_markdown(' → '.join(map(str, parsed)))}. It moves to "
            f"{escape_markdown(str(parsed[0]))} at once, then advances while its gates hold and goes back to legacy "
            "when one fails."))
    elif kind is Action.STOP_ROLLOUT:
        rollout = _active_rollout(name)
        if rollout is None:
            raise ConsoleInputError(f"{name} has no rollout running or paused.")
        plan = dataclasses.replace(plan, seen=None, rollout=rollout.pk, description=(
            f"Stop rollout #{rollout.pk} of {target} where it is: the route stays where the rollout has taken it "
            f"(now {now}; roll it back if needed)."))
    else:
        plan = dataclasses.replace(plan, description=(
            f"Start a parity run comparing the legacy and new answers of {target if name else 'every declared route'}; "
            "its report is kept and listed under Parity runs."))
    return plan


def _rollback_preview(name: str) -> str:
    from fastapi_gateway.routing.models import RouteChange

    last = (RouteChange.objects.filter(name=name, undoes__isnull=True, undone_by__isnull=True)
            .order_by("-changed_at", "-id").first())
    if last is None:
        raise ConsoleInputError(f"{name} has no change left to roll back.")
    return (f"undo change #{last.pk} ({_shown(last.from_state, last.from_percent)} → {_shown(last.to_state, last.to_percent)} "
            f"by {escape_markdown(last.changed_by or '?')}), back to **{_shown(last.from_state, last.from_percent)}**")


def perform(plan: PlannedAction, *, actor: str) -> str:
    """Do a planned action as ``actor`` (who must be the planner); returns what was done.

    Everything is checked again here: the plan's values against today's declarations, and the
    route's state against what the plan saw."""
    if plan.actor != actor:
        raise ConsoleInputError("This action was reviewed by someone else: review it again.")
    name = _route(plan.route) if plan.route or plan.action is not Action.PARITY_RUN else ""
    reason = _reason(plan.reason)
    if name and plan.seen is not None and _current(name) != plan.seen:
        raise ConsoleInputError(f"{name} changed since you reviewed this (now {_shown(*_current(name))}): review it again.")
    if plan.action is Action.STOP_ROLLOUT and getattr(_active_rollout(name), "pk", None) != plan.rollout:
        raise ConsoleInputError(f"Rollout #{plan.rollout} of {name} is no longer running: review again.")
    try:
        done = _do(plan, name, reason, actor)
    except GatewayError as error:  # the route table's, a rollout's or a parity run's refusal
        raise ConsoleInputError(f"{str(error)[:300]}.") from error
    logger.info("console: %s by %s: %s", plan.action.value, actor, done,
                extra={"event": "console_action", "action": plan.action.value, "route": name, "actor": actor, "reason": reason})
    return done


def _do(plan: PlannedAction, name: str, reason: str, actor: str) -> str:
    from fastapi_gateway.routing import rollouts
    from fastapi_gateway.routing.table import rollback_route, set_route_state

    if plan.action is Action.SET_STATE:
        route_state, percent = _state(plan.state, plan.percent)
        setting = set_route_state(name, route_state.value, percent=percent if route_state is RouteState.CANARY else None,
                                  reason=reason, actor=actor)
        return f"{name} is now {_shown(setting.state.value, setting.percent)}."
    if plan.action is Action.ROLLBACK:
        setting = rollback_route(name, reason=reason, actor=actor)
        return f"{name} rolled back to {_shown(setting.state.value, setting.percent)}."
    if plan.action is Action.START_ROLLOUT:
        rollout_plan = dataclasses.replace(rollouts.declared_plan(name), steps=parse_steps(plan.steps))
        rollout = rollouts.start_rollout(name, rollout_plan, actor=actor, reason=reason)
        return f"Rollout #{rollout.pk} of {name} started: {rollouts.rollout_progress(rollout)}"
    if plan.action is Action.STOP_ROLLOUT:
        rollout = rollouts.stop_rollout(name, actor=actor, reason=reason)
        return f"Rollout #{rollout.pk} of {name} stopped; the route stays {_shown(*_current(name))}."
    from fastapi_gateway.parity.runs import start_parity_run

    run = start_parity_run([name] if name else [route.name for route in declared_routes()], actor=actor, reason=reason)
    return f"Parity run #{run.pk} started ({'of ' + name if name else 'of every declared route'}); its progress shows under Parity runs."
