"""The run ``manage.py parity`` makes, as one function the command and stored runs share.

The gateway is built as the ASGI entrypoint builds it (same ``GATEWAY`` configuration) but
without its routing layer, so every legacy URL reaches Django and every new URL its new
handler whatever state the route table is in. The cases are the selected routes' defaults,
the cases of TOML files and, if asked, replays of recorded shadow mismatches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi_gateway.conf import setting
from fastapi_gateway.migrated_route import MigratedRoute
from fastapi_gateway.orm import run_orm
from fastapi_gateway.parity.cases import Case
from fastapi_gateway.parity.default_cases import default_cases
from fastapi_gateway.parity.determinism import Determinism
from fastapi_gateway.parity.exceptions import ParityError
from fastapi_gateway.parity.identities import sample_usernames
from fastapi_gateway.parity.redaction import Redactor
from fastapi_gateway.parity.results import RunReport
from fastapi_gateway.parity.runner import ParityRunner, Progress
from fastapi_gateway.routing.shadow_cases import shadow_cases

__all__ = ["AppFactory", "SuiteOptions", "quiet_expected_4xx", "run_suite", "select_routes"]

AppFactory = Callable[[], Any]
Started = Callable[[Sequence[Case]], None]


@dataclass(frozen=True)
class SuiteOptions:
    """What to compare and how: the command's options, with the same defaults."""

    routes: Sequence[str] = ()  # declared route names; empty: every declared route
    file_cases: Sequence[Case] = ()
    from_shadow: bool = False
    defaults: bool = True
    users: Sequence[str] = ()  # empty: ``GATEWAY["PARITY_USERS"]``, else a staff user and two others
    determinism: Determinism = field(default_factory=Determinism)
    timeout: float = 10.0
    redact: Sequence[str] = ()
    shadow_limit: int = 20
    app_factory: AppFactory | None = None  # the gateway to compare through; default: the entrypoint's


def gateway_without_routing(*, with_pages: bool) -> Any:
    """The gateway of ``fastapi_gateway.asgi``, minus its routing layer (and pages if unneeded)."""
    from fastapi_gateway import create_app

    return create_app(migrated_routes=(), gradio_pages=None if with_pages else ())


def _errors_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR


@contextmanager
def quiet_expected_4xx() -> Iterator[None]:
    """Default cases ask for 401s and 404s on purpose; Django logs each as a warning.

    A filter, not a level: building the gateway runs ``django.setup()`` again, whose logging
    configuration resets the levels of Django's loggers (but keeps their filters).
    """
    logger = logging.getLogger("django.request")
    logger.addFilter(_errors_only)
    try:
        yield
    finally:
        logger.removeFilter(_errors_only)


def select_routes(declared: Sequence[MigratedRoute], names: Sequence[str]) -> list[MigratedRoute]:
    known = {route.name: route for route in declared}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ParityError(f"unknown route {', '.join(map(repr, unknown))}; declared routes: {', '.join(known) or '(none)'}")
    return [known[name] for name in names] if names else list(declared)


async def run_suite(
    options: SuiteOptions, declared: Sequence[MigratedRoute], *,
    progress: Progress | None = None, started: Started | None = None,
) -> RunReport:
    """Run the cases ``options`` select; ``started`` hears the cases once they are known.

    Raises ``ParityError`` when nothing can be run (unknown route, no case at all)."""
    selected = select_routes(declared, options.routes)
    pages = {route.name for route in declared if route.page}
    with_pages = any(route.page for route in selected) or any(case.route in pages for case in options.file_cases)
    factory = options.app_factory
    app = factory() if factory is not None else gateway_without_routing(with_pages=with_pages)
    redactor = Redactor.from_settings(list(options.redact))
    async with ParityRunner(app, routes=declared, redactor=redactor, determinism=options.determinism, timeout=options.timeout) as runner:
        users = list(options.users) or await run_orm(sample_usernames, tuple(setting("PARITY_USERS")))
        cases: list[Case] = []
        warnings: list[str] = []
        if options.defaults:
            defaults, warnings = await default_cases(runner, selected, users, declared=declared)
            cases += defaults
        cases += options.file_cases
        if options.from_shadow:
            replays, replay_warnings = await run_orm(shadow_cases, selected, users, per_route=options.shadow_limit)
            cases += replays
            warnings += replay_warnings
        if not cases:
            raise ParityError("no cases to run (no defaults, no --cases, nothing recorded in shadow)")
        if started is not None:
            started(cases)
        return await runner.run(cases, progress=progress, warnings=warnings)
