"""``ParityCheck``: parity cases written as code — the object the pytest ``parity`` fixture gives.

``await parity("/api/tickets/", "/api/v2/tickets", user="alice")`` runs one HTTP case;
``await parity.route("api-tickets")`` runs a declared route's default cases;
``await parity.experiment("visible", control=old, candidate=new, args=(user,))`` runs a
Scientist experiment and, like Scientist, always returns the control's result (or raises
the control's exception). With ``raise_on_mismatch`` (the default) a differing or failed
case raises ``ParityMismatch`` naming its fields; without it, results are only collected
(and reported at the end of the session).
"""

from __future__ import annotations

import json as json_module
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from fastapi_gateway.orm import run_orm
from fastapi_gateway.migrated_route import match_route
from fastapi_gateway.parity.cases import FunctionCase, HttpCase
from fastapi_gateway.parity.default_cases import default_cases
from fastapi_gateway.parity.exceptions import ParityError, ParityMismatch
from fastapi_gateway.parity.identities import sample_usernames
from fastapi_gateway.parity.results import DIFFER, ERROR, CaseResult
from fastapi_gateway.parity.rules import Rules
from fastapi_gateway.parity.runner import ParityRunner

__all__ = ["ParityCheck"]


class ParityCheck:
    def __init__(self, runner: ParityRunner, *, route: str | None = None, rules: Rules | None = None, raise_on_mismatch: bool = True) -> None:
        self.runner = runner
        self.route_name = route
        self.rules = rules or Rules()
        self.raise_on_mismatch = raise_on_mismatch
        self.results: list[CaseResult] = []

    def _route_for(self, legacy: str, explicit: str | None) -> str:
        if explicit or self.route_name:
            return explicit or self.route_name or ""
        matched = match_route(self.runner.routes.values(), urlsplit(legacy).path)
        return matched.route.name if matched else "(undeclared)"

    def _settle(self, result: CaseResult) -> CaseResult:
        self.results.append(result)
        if self.raise_on_mismatch and result.outcome in (DIFFER, ERROR):
            raise ParityMismatch(result)
        return result

    async def __call__(
        self,
        legacy: str,
        new: str | None = None,
        *,
        user: str | None = None,
        method: str = "GET",
        route: str | None = None,
        name: str | None = None,
        ignore: Iterable[str] = (),
        unordered: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        json: Any = None,
        unsafe: bool = False,
        number_tolerance: float = 0.0,
        time_tolerance: float = 0.0,
    ) -> CaseResult:
        """One request to both sides as ``user``; ``new`` defaults to ``legacy``."""
        request_headers = {header.lower(): value for header, value in (headers or {}).items()}
        if json is not None:
            body = json_module.dumps(json).encode()
            request_headers.setdefault("content-type", "application/json")
        case = HttpCase(
            name=name or f"{method.upper()} {legacy}", legacy=legacy, new=new or legacy, route=self._route_for(legacy, route),
            method=method, user=user, headers=tuple(request_headers.items()), body=body, unsafe=unsafe, source="pytest",
            rules=self.rules.plus(Rules(ignore=tuple(ignore), unordered=tuple(unordered),
                                        number_tolerance=number_tolerance, time_tolerance=time_tolerance)),
        )
        return self._settle(await self.runner.run_case(case))

    async def route(self, name: str, *, users: Iterable[str] | None = None) -> list[CaseResult]:
        """A declared route's default cases; ``ParityMismatch`` names the first differing one."""
        route = self.runner.routes.get(name)
        if route is None:
            raise ParityError(f"unknown route {name!r}; declared routes: {', '.join(self.runner.routes) or '(none)'}")
        usernames = list(users) if users is not None else await run_orm(sample_usernames)
        cases, _warnings = await default_cases(self.runner, [route], usernames, declared=list(self.runner.routes.values()))
        results = [await self.runner.run_case(case) for case in cases]
        self.results += results
        failing = [result for result in results if result.outcome in (DIFFER, ERROR)]
        if failing and self.raise_on_mismatch:
            raise ParityMismatch(failing[0])
        return results

    async def experiment(
        self,
        name: str,
        *,
        control: Callable[..., Any],
        candidate: Callable[..., Any],
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        user: str | None = None,
        clean: Callable[[Any], Any] | None = None,
        ignore: Iterable[str] = (),
        unordered: Iterable[str] = (),
        unsafe: bool = False,
        route: str = "functions",
    ) -> Any:
        """Call both with the same arguments, compare, and return what the control returned."""
        case = FunctionCase(
            name=name, legacy=control, new=candidate, args=tuple(args), kwargs=dict(kwargs or {}), user=user, route=route,
            rules=self.rules.plus(Rules(ignore=tuple(ignore), unordered=tuple(unordered))), clean=clean, unsafe=unsafe,
            source="pytest",
        )
        result, control_call = await self.runner.run_experiment(case)
        self._settle(result)
        if control_call.error is not None:
            raise control_call.error
        return control_call.value
