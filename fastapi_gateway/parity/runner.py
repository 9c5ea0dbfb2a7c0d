"""Run parity cases: each side asked in turn, legacy twice, compared, noise set apart, redacted.

The order of one case is legacy, new, legacy: the second legacy answer tells which fields
vary by themselves (noise), and sandwiching the new side between the two legacy answers
means anything that drifts with time drifts across the new answer too. Cases run one at a
time: frozen time is process-wide, and unsafe cases share one database connection.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.middleware.csrf import get_token

from fastapi_gateway.orm import run_orm
from fastapi_gateway.migrated_route import SAFE_METHODS, MigratedRoute
from fastapi_gateway.parity.cases import Case, FunctionCase, HttpCase
from fastapi_gateway.parity.compare import compare_json, compare_replies
from fastapi_gateway.parity.determinism import Determinism
from fastapi_gateway.parity.difference import Difference
from fastapi_gateway.parity.exceptions import ParityError, SideUnreachable, UnknownUser
from fastapi_gateway.parity.identities import SessionPool
from fastapi_gateway.parity.cases import to_jsonable
from fastapi_gateway.parity.difference import split_noise
from fastapi_gateway.parity.observation import observe, observe_value
from fastapi_gateway.parity.redaction import Redactor
from fastapi_gateway.parity.reply import Reply
from fastapi_gateway.parity.results import AGREE, DIFFER, ERROR, NOISE, CaseResult, RunReport
from fastapi_gateway.parity.rules import Rules
from fastapi_gateway.parity.sandbox import rolled_back
from fastapi_gateway.parity.sides import Sides, default_host, lifespan

__all__ = ["ParityRunner", "Progress", "Call"]

Progress = Callable[[int, int, CaseResult], None]
_UNAVAILABLE = frozenset({502, 503, 504})
_BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def _csrf_header_name() -> str:
    meta = settings.CSRF_HEADER_NAME
    return (meta[len("HTTP_"):] if meta.startswith("HTTP_") else meta).replace("_", "-").lower()


class ParityRunner:
    """``async with ParityRunner(app, routes=...) as runner: report = await runner.run(cases)``

    ``app`` is the gateway (any ``create_app(...)``); ``routes`` are the declarations whose
    rules (``parity_ignore``, ``parity_unordered``, ``page``) apply to their cases.
    """

    def __init__(
        self,
        app: Any,
        *,
        routes: Sequence[MigratedRoute] = (),
        redactor: Redactor | None = None,
        determinism: Determinism | None = None,
        rules: Rules | None = None,
        timeout: float = 10.0,
        host: str | None = None,
        run_lifespan: bool = True,
    ) -> None:
        self.app = app
        self.routes = {route.name: route for route in routes}
        self.redactor = redactor or Redactor()
        self.determinism = determinism or Determinism()
        self.rules = (rules or Rules()).plus(Rules(ignore_cookies=(settings.CSRF_COOKIE_NAME,)))
        self.sides = Sides(app, host=host or default_host(settings.ALLOWED_HOSTS), timeout=timeout)
        self.sessions = SessionPool()
        self._run_lifespan = run_lifespan
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> ParityRunner:
        await self._stack.__aenter__()
        try:
            self._stack.enter_context(self.determinism.applied())
            if self._run_lifespan:
                await self._stack.enter_async_context(lifespan(self.app))
            self._stack.push_async_callback(run_orm, self.sessions.close)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        await self._stack.__aexit__(kind, error, tb)

    async def run(self, cases: Iterable[Case], *, progress: Progress | None = None, title: str = "Parity report",
                  warnings: Sequence[str] = ()) -> RunReport:
        cases = list(cases)
        started = time.perf_counter()
        results: list[CaseResult] = []
        for index, case in enumerate(cases, start=1):
            result = await self.run_case(case)
            results.append(result)
            if progress is not None:
                progress(index, len(cases), result)
        return RunReport(
            results, title=title, duration_s=time.perf_counter() - started,
            determinism=self.determinism.as_dict(), warnings=[self.redactor.url(warning) for warning in warnings],
        )

    def _result(self, case: Case) -> CaseResult:
        """The case as reports name it: a hand-written URL (or a name made of one) shows no secret."""
        return CaseResult(
            route=case.route, name=self.redactor.url(case.name), kind=case.kind, method=case.method,
            legacy_target=self.redactor.url(case.legacy) if isinstance(case, HttpCase) else _qualname(case.legacy),
            new_target=self.redactor.url(case.new) if isinstance(case, HttpCase) else _qualname(case.new),
            user=case.user, source=self.redactor.url(case.source),
        )

    async def run_case(self, case: Case) -> CaseResult:
        result = self._result(case)
        try:
            if isinstance(case, HttpCase):
                await self._http(case, result)
            else:
                await self._function(case, result)
        except ParityError as exc:
            result.outcome, result.error = ERROR, self.redactor.text(str(exc))
        return result

    # HTTP cases ---------------------------------------------------------------------------

    def rules_for(self, case: Case) -> Rules:
        route = self.routes.get(case.route)
        return self.rules.plus(Rules.for_route(route) if route else Rules()).plus(case.rules)

    async def fetch(self, target: str, user: str | None) -> Reply:
        """A plain GET of the legacy side as ``user`` (used to find sample ids and filters)."""
        return await self.sides.request("legacy", "GET", target, headers=await self._headers("GET", user, ()))

    async def _headers(self, method: str, user: str | None, extra: Sequence[tuple[str, str]], *, page: bool = False) -> list[tuple[str, str]]:
        headers = [("accept", _BROWSER_ACCEPT)] if page else []
        cookies: list[str] = []
        if user is not None:
            cookies.append(f"{settings.SESSION_COOKIE_NAME}={await run_orm(self.sessions.cookie, user)}")
        if method not in SAFE_METHODS:
            # What a same-origin page sends: Django's token in the cookie and in the header.
            request = HttpRequest()
            masked = get_token(request)
            cookies.append(f"{settings.CSRF_COOKIE_NAME}={request.META['CSRF_COOKIE']}")
            headers += [(_csrf_header_name(), masked), ("origin", self.sides.origin), ("referer", f"{self.sides.origin}/")]
        if cookies:
            headers.append(("cookie", "; ".join(cookies)))
        return headers + list(extra)

    async def _ask(self, side: str, case: HttpCase, target: str, headers: Sequence[tuple[str, str]]) -> tuple[Reply, float]:
        self.determinism.reseed()
        started = time.perf_counter()
        if case.unsafe:
            async with rolled_back():
                reply = await self.sides.request(side, case.method, target, headers=headers, body=case.body)
        else:
            reply = await self.sides.request(side, case.method, target, headers=headers, body=case.body)
        return reply, (time.perf_counter() - started) * 1000

    async def _http(self, case: HttpCase, result: CaseResult) -> None:
        rules = self.rules_for(case)
        headers = await self._headers(case.method, case.user, case.headers, page=rules.page)
        legacy, legacy_ms = await self._ask("legacy", case, case.legacy, headers)
        new, new_ms = await self._ask("new", case, case.new, headers)
        again, again_ms = await self._ask("legacy", case, case.legacy, headers)
        result.legacy = observe(legacy, (legacy_ms + again_ms) / 2, self.redactor, extra_headers=rules.headers)
        result.new = observe(new, new_ms, self.redactor, extra_headers=rules.headers)
        for side, reply, other in (("new", new, legacy), ("legacy", legacy, new)):
            if reply.status in _UNAVAILABLE and reply.status != other.status:
                raise SideUnreachable(side, f"{case.method} {reply.target} answered {reply.status} ({self.redactor.text(_excerpt(reply))})")
        noise = compare_replies(legacy, again, rules)
        self._judge(result, compare_replies(legacy, new, rules), noise, (legacy, new, again))

    def _judge(self, result: CaseResult, differences: list[Difference], noise: list[Difference],
               replies: tuple[Reply | None, Reply | None, Reply | None] = (None, None, None)) -> None:
        """The verdict, with both lists redacted (``replies``: legacy, new, legacy again, for HTML)."""
        legacy, new, again = replies
        real, _excused = split_noise(differences, noise)
        result.differences = self.redactor.differences(real, legacy, new)
        result.noise = self.redactor.differences(noise, legacy, again)
        result.outcome = DIFFER if real else NOISE if noise else AGREE

    # Function cases (Scientist-style) -------------------------------------------------------

    async def run_experiment(self, case: FunctionCase) -> tuple[CaseResult, Call]:
        """The case's result and the control's first call: what an experiment hands back."""
        result = self._result(case)
        control = Call()
        try:
            control = await self._function(case, result)
        except ParityError as exc:
            result.outcome, result.error = ERROR, self.redactor.text(str(exc))
        return result, control

    async def _call(self, function: Callable[..., Any], case: FunctionCase, args: tuple[Any, ...]) -> Call:
        """One call; an exception is an observed result too (its type and message)."""

        def observed(call: Call) -> Call:
            if call.error is None:
                call.observed = to_jsonable(case.clean(call.value) if case.clean else call.value)
            else:
                call.observed = {"raised": type(call.error).__name__, "message": str(call.error)}
            return call

        def call_sync() -> Call:
            try:
                return observed(Call(value=function(*args, **case.kwargs)))
            except Exception as exc:  # noqa: BLE001 - the candidate raising is what we compare
                return observed(Call(error=exc))

        self.determinism.reseed()
        started = time.perf_counter()
        async with AsyncExitStack() as stack:
            if case.unsafe:
                await stack.enter_async_context(rolled_back())
            if inspect.iscoroutinefunction(function):
                try:
                    call = Call(value=await function(*args, **case.kwargs))
                except Exception as exc:  # noqa: BLE001
                    call = Call(error=exc)
                call = await run_orm(observed, call)
            else:
                call = await run_orm(call_sync)
        call.milliseconds = (time.perf_counter() - started) * 1000
        return call

    async def _function(self, case: FunctionCase, result: CaseResult) -> Call:
        args = case.args
        if case.user is not None:
            args = (await run_orm(_user, case.user), *args)
        rules = self.rules.plus(case.rules)
        legacy = await self._call(case.legacy, case, args)
        new = await self._call(case.new, case, args)
        again = await self._call(case.legacy, case, args)
        result.legacy = observe_value(legacy.observed, (legacy.milliseconds + again.milliseconds) / 2, self.redactor)
        result.new = observe_value(new.observed, new.milliseconds, self.redactor)
        self._judge(
            result, compare_json(legacy.observed, new.observed, rules=rules), compare_json(legacy.observed, again.observed, rules=rules)
        )
        return legacy


@dataclass
class Call:
    """What one call of a function gave: its value or exception, and that as JSON values."""

    value: Any = None
    error: Exception | None = None
    observed: Any = None
    milliseconds: float = 0.0


def _user(username: str) -> Any:
    model = get_user_model()
    try:
        return model._default_manager.get_by_natural_key(username)
    except model.DoesNotExist:
        raise UnknownUser(username) from None


def _qualname(function: Callable[..., Any]) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"


def _excerpt(reply: Reply, limit: int = 200) -> str:
    text = reply.body.decode("utf-8", "replace").strip()
    return (text[:limit] + "…") if len(text) > limit else text or "empty body"
