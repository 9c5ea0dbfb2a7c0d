"""``manage.py routes`` — list, flip and roll back migrated routes, live on every worker."""

from __future__ import annotations

import getpass
import json
from datetime import datetime
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from fastapi_gateway.exceptions import RoutingError
from fastapi_gateway.migrated_route import RouteState
from fastapi_gateway.routing.table import declared_routes, rollback_route, set_route_state


def _actor(explicit: str | None) -> str:
    if explicit:
        return explicit
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "cli"


class Command(BaseCommand):
    help = "List migrated routes with their states; `set NAME STATE` or `rollback NAME` changes one."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="print every route as a JSON list (same as `list --json`)")
        actions = parser.add_subparsers(dest="action")
        listing = actions.add_parser("list", help="the route table (the default)")
        listing.add_argument("--json", action="store_true", help="machine-readable output")
        setter = actions.add_parser("set", help="move a route to a state")
        setter.add_argument("name")
        setter.add_argument("state", help=", ".join(state.value for state in RouteState))
        setter.add_argument("--percent", type=int, default=None, help="share of users on the new side (canary)")
        setter.add_argument("--reason", default="", help="why, for the audit trail")
        setter.add_argument("--actor", default=None, help="who (default: cli:<login name>)")
        rollback = actions.add_parser("rollback", help="step a route back: undo its latest change not yet undone")
        rollback.add_argument("name")
        rollback.add_argument("--reason", default="")
        rollback.add_argument("--actor", default=None)
        history = actions.add_parser("history", help="the audit trail of a route (or all)")
        history.add_argument("name", nargs="?")
        history.add_argument("--limit", type=int, default=20)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options.get("action") or "list"
        try:
            if action == "set":
                setting = set_route_state(
                    options["name"], options["state"], percent=options["percent"],
                    reason=options["reason"], actor=_actor(options["actor"]),
                )
                suffix = f" ({setting.percent}%)" if setting.state is RouteState.CANARY else ""
                self.stdout.write(self.style.SUCCESS(f"{options['name']} is now {setting.state.value}{suffix}"))
            elif action == "rollback":
                setting = rollback_route(options["name"], reason=options["reason"], actor=_actor(options["actor"]))
                suffix = f" ({setting.percent}%)" if setting.state is RouteState.CANARY else ""
                self.stdout.write(self.style.SUCCESS(f"{options['name']} rolled back to {setting.state.value}{suffix}"))
            elif action == "history":
                self._history(options.get("name"), options["limit"])
            else:
                self._list(as_json=options.get("json", False))
        except RoutingError as exc:
            raise CommandError(str(exc)) from exc

    def _rows(self) -> list[dict[str, Any]]:
        from fastapi_gateway.routing.models import RouteChange, RouteStateRecord

        records = {record.name: record for record in RouteStateRecord.objects.all()}
        rows = []
        for route in declared_routes():
            record = records.get(route.name)
            change = RouteChange.objects.filter(name=route.name).first()  # the last one
            rows.append({
                "name": route.name,
                "legacy": route.legacy,
                "new": route.new,
                "state": record.state if record else RouteState.LEGACY.value,
                "percent": record.percent if record and record.state == RouteState.CANARY.value else 0,
                "changed_at": change.changed_at.isoformat() if change else None,
                "changed_by": change.changed_by if change else "",
                "reason": change.reason if change else "",
            })
        return rows

    def _list(self, *, as_json: bool) -> None:
        rows = self._rows()
        if as_json:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write("No migrated routes are declared (GATEWAY['ROUTES'] in settings).")
            return
        header = ("NAME", "STATE", "PERCENT", "LEGACY URL", "NEW URL", "LAST CHANGE")
        lines = [header] + [
            (
                row["name"], row["state"], f"{row['percent']}%" if row["state"] == "canary" else "-",
                row["legacy"], row["new"],
                f"{timezone.localtime(datetime.fromisoformat(row['changed_at'])):%Y-%m-%d %H:%M:%S} by {row['changed_by'] or '?'}"
                if row["changed_at"] else "never",
            )
            for row in rows
        ]
        widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
        for line in lines:
            self.stdout.write("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())

    def _history(self, name: str | None, limit: int) -> None:
        from fastapi_gateway.routing.models import RouteChange

        changes = RouteChange.objects.all()
        if name:
            changes = changes.filter(name=name)
        for change in changes[:limit]:
            percent = f" {change.to_percent}%" if change.to_state == "canary" else ""
            self.stdout.write(
                f"{change.changed_at:%Y-%m-%d %H:%M:%S}  {change.name}  {change.from_state} -> {change.to_state}{percent}"
                f"  by {change.changed_by or '?'}" + (f"  ({change.reason})" if change.reason else "")
            )
