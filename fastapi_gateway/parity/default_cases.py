"""Cases every declared route gets without anyone writing them.

For each sample user (a staff user, two regular users) and anonymous:

* a route without URL parameters (a list): its URL; then each query parameter the new
  route declares in its OpenAPI schema, with each value its ``enum`` allows or, failing
  that, each value the legacy list shows in the field of that name (``?status=open``…),
  plus one unknown value (both sides must refuse it alike);
* a route with one parameter (a detail): the id of an object the user sees (their own), of an
  object only another user sees (``404`` on both, or the move leaks data), and of one that
  does not exist. Ids come from the legacy answer of the declared list route the detail
  URL extends (``/api/tickets/`` for ``/api/tickets/<int:pk>/``).

Everything is learned from the running legacy side and the new side's own schema, so it
works for another project's routes unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol
from urllib.parse import urlencode

from fastapi_gateway.parity.cases import HttpCase
from fastapi_gateway.parity.compare import decode_json
from fastapi_gateway.parity.reply import Reply
from fastapi_gateway.parity.rules import Rules
from fastapi_gateway.migrated_route import MigratedRoute

__all__ = ["default_cases", "UNKNOWN_VALUE"]

UNKNOWN_VALUE = "parity-unknown-value"
_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>\w+)>")
_MAX_VALUES = 6


class _Probe(Protocol):
    app: Any

    async def fetch(self, target: str, user: str | None) -> Reply: ...


def _template(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def _query_parameters(app: Any, new_path: str) -> list[tuple[str, list[str]]]:
    """``(name, enum values)`` of the query parameters the new route's OpenAPI GET declares."""
    try:
        schema = app.openapi()
    except Exception:  # noqa: BLE001 - no schema (not FastAPI, or a broken one): no variants
        return []
    for path, operations in schema.get("paths", {}).items():
        if _template(path) != _template(new_path) or "get" not in operations:
            continue
        found = []
        for parameter in operations["get"].get("parameters", []):
            if parameter.get("in") != "query":
                continue
            parameter_schema = parameter.get("schema", {})
            options = [parameter_schema, *parameter_schema.get("anyOf", [])]
            enum: list[Any] = next((option["enum"] for option in options if "enum" in option), [])
            found.append((str(parameter["name"]), [str(value) for value in enum]))
        return found
    return []


def _list_items(reply: Reply) -> list[dict[str, Any]] | None:
    if reply.status != 200:
        return None
    try:
        value = decode_json(reply.body)
    except ValueError:
        return None
    if isinstance(value, dict):  # a paginated envelope: the first list of objects in it
        value = next((item for item in value.values() if isinstance(item, list)), None)
    if not isinstance(value, list):
        return None
    return [item for item in value if isinstance(item, dict)]


def _ids(items: Iterable[dict[str, Any]]) -> list[Any]:
    return [item.get("id", item.get("pk")) for item in items if item.get("id", item.get("pk")) is not None]


class _Defaults:
    def __init__(self, probe: _Probe, known: Sequence[MigratedRoute], users: Sequence[str]) -> None:
        self.probe = probe
        self.known = known
        self.users = list(users)
        self.lists: dict[tuple[str, str | None], list[dict[str, Any]] | None] = {}
        self.warnings: list[str] = []

    async def listing(self, route: MigratedRoute, user: str | None) -> list[dict[str, Any]] | None:
        key = (route.name, user)
        if key not in self.lists:
            self.lists[key] = _list_items(await self.probe.fetch(route.legacy, user))
        return self.lists[key]

    def case(self, route: MigratedRoute, name: str, legacy: str, new: str, user: str | None) -> HttpCase:
        return HttpCase(name=name, legacy=legacy, new=new, route=route.name, user=user, source="default", rules=Rules())

    async def plain(self, route: MigratedRoute) -> list[HttpCase]:
        cases = [self.case(route, "anonymous", route.legacy, route.new, None)]
        variants = [] if route.page else await self.query_variants(route)
        for user in self.users:
            cases.append(self.case(route, "list", route.legacy, route.new, user))
            for label, query in variants:
                cases.append(self.case(route, label, f"{route.legacy}?{query}", f"{route.new}?{query}", user))
        return cases

    async def query_variants(self, route: MigratedRoute) -> list[tuple[str, str]]:
        variants: list[tuple[str, str]] = []
        for name, enum in _query_parameters(self.probe.app, route.new):
            values = enum
            if not values:
                seen: dict[str, None] = {}
                for user in self.users:
                    for item in await self.listing(route, user) or []:
                        if isinstance(item.get(name), (str, int)) and not isinstance(item.get(name), bool):
                            seen[str(item[name])] = None
                values = sorted(seen)
            if not values or len(values) > _MAX_VALUES:
                continue
            for value in values:
                variants.append((f"?{name}={value}", urlencode({name: value})))
            variants.append((f"?{name}= an unknown value", urlencode({name: UNKNOWN_VALUE})))
        return variants

    def parent(self, route: MigratedRoute) -> MigratedRoute | None:
        candidates = [
            other for other in self.known
            if other is not route and not other.page and not _PARAMETER.search(other.legacy)
            and route.legacy.startswith(other.legacy)
        ]
        return max(candidates, key=lambda other: len(other.legacy), default=None)

    async def detail(self, route: MigratedRoute) -> list[HttpCase]:
        parameters = _PARAMETER.findall(route.legacy)
        parent = self.parent(route)
        if len(parameters) != 1 or parent is None:
            self.warnings.append(
                f"{route.name}: no default cases (no declared list route that {route.legacy} extends "
                "to take sample ids from); add cases in a cases file"
            )
            return []
        name = parameters[0][1]
        owned = {user: _ids(await self.listing(parent, user) or []) for user in self.users}
        everything = list(dict.fromkeys(item for ids in owned.values() for item in ids))
        if not everything:
            self.warnings.append(f"{route.name}: the legacy list {parent.legacy} shows no ids to sample; no default cases")
            return []

        def urls(value: Any) -> tuple[str, str]:
            return route.legacy.replace(_PARAMETER.search(route.legacy).group(0), str(value)), route.new.format(**{name: value})  # type: ignore[union-attr]

        cases = [self.case(route, f"anonymous #{everything[0]}", *urls(everything[0]), None)]
        numeric = [value for value in everything if isinstance(value, int)]
        missing = max(numeric) + 1000 if numeric else UNKNOWN_VALUE
        for user in self.users:
            own = owned[user]
            if own:
                cases.append(self.case(route, f"visible to them #{own[0]}", *urls(own[0]), user))
            others = [value for value in everything if value not in own]
            if others:
                cases.append(self.case(route, f"another user's #{others[0]}", *urls(others[0]), user))
            cases.append(self.case(route, f"missing #{missing}", *urls(missing), user))
        return cases


async def default_cases(
    probe: _Probe, routes: Sequence[MigratedRoute], users: Sequence[str], *, declared: Sequence[MigratedRoute] = ()
) -> tuple[list[HttpCase], list[str]]:
    """The default cases of ``routes`` run as ``users`` (and anonymous), and what could not be made.

    ``declared`` (default: ``routes``) is where a detail route's list route is looked for.
    """
    defaults = _Defaults(probe, list(declared) or list(routes), users)
    cases: list[HttpCase] = []
    for route in routes:
        cases += await (defaults.detail(route) if _PARAMETER.search(route.legacy) else defaults.plain(route))
    return cases, defaults.warnings
