"""pytest plugin: parity cases as ordinary tests (registered through the ``pytest11`` entry point).

* the ``parity`` fixture (async): a ``ParityCheck`` on a gateway built by the
  ``parity_app_factory`` fixture (override it to compare through another gateway), with a
  transactional database (the gateway's threads use their own connections);
* ``@pytest.mark.parity(route=..., ignore=[...], unordered=[...], raise_on_mismatch=True,
  freeze_time=datetime, seed=N, redact=[...])`` sets the fixture's options for one test;
* ``pytest --parity`` runs only the tests that are marked or use the fixture, and ends with
  the per-route summary; ``--parity-report=PATH`` writes every case checked in the session
  as HTML, JSON or JUnit XML (by the file's suffix).

Nothing here imports Django at start-up: plugins load before pytest-django configures it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

if TYPE_CHECKING:
    from fastapi_gateway.parity.check import ParityCheck
    from fastapi_gateway.parity.results import CaseResult

__all__ = ["parity", "parity_app_factory"]

_RESULTS = pytest.StashKey[list["CaseResult"]]()
_MARKER = (
    "parity(route=None, ignore=(), unordered=(), raise_on_mismatch=True, freeze_time=None, seed=None, redact=()): "
    "a parity test; options of its `parity` fixture"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("parity", "legacy/new parity")
    group.addoption("--parity", action="store_true", default=False,
                    help="run only parity tests (marked `parity` or using the `parity` fixture) and summarise them per route")
    group.addoption("--parity-report", metavar="PATH", default=None,
                    help="write the parity cases of this session to PATH (.html, .json or .xml)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER)
    config.stash[_RESULTS] = []


def _is_parity_test(item: pytest.Item) -> bool:
    return item.get_closest_marker("parity") is not None or "parity" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--parity"):
        return
    selected = [item for item in items if _is_parity_test(item)]
    deselected = [item for item in items if not _is_parity_test(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    results = config.stash.get(_RESULTS, [])
    report_path = config.getoption("--parity-report")
    if not results or not (config.getoption("--parity") or report_path):
        return
    from fastapi_gateway.parity.reports import format_for_path, render, render_summary_table
    from fastapi_gateway.parity.results import RunReport

    report = RunReport(list(results), title="Parity (pytest)")
    terminalreporter.write_sep("=", "parity")
    terminalreporter.write_line(report.headline())
    terminalreporter.write(render_summary_table(report))
    for case in report.cases:
        if case.outcome in ("differ", "error"):
            terminalreporter.write_line(f"{case.outcome.upper()} {case.title()}: {case.error or ', '.join(case.fields())}")
    if report_path:
        Path(report_path).write_text(render(report, format_for_path(report_path, "html")), encoding="utf-8")
        terminalreporter.write_line(f"parity report written to {report_path}")


@pytest.fixture
def parity_app_factory() -> Callable[[], Any]:
    """Builds the gateway parity runs through: the project's API routers, no pages, no routing
    layer. Override this fixture to compare through another gateway (built inside the test's loop)."""

    def build() -> Any:
        from fastapi_gateway import create_app

        return create_app(gradio_pages=(), migrated_routes=())

    return build


_Fixture = TypeVar("_Fixture", bound=Callable[..., Any])


def _async_fixture(function: _Fixture) -> _Fixture:
    """pytest-asyncio's fixture decorator (strict or auto mode alike)."""
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - pytest then refuses the async fixture with its own message
        return cast(_Fixture, pytest.fixture(function))
    return cast(_Fixture, pytest_asyncio.fixture(function))


@_async_fixture
async def parity(request: pytest.FixtureRequest, parity_app_factory: Callable[[], Any]) -> AsyncIterator[ParityCheck]:
    """A ``ParityCheck`` for this test; its cases end up in the session's summary and report."""
    request.getfixturevalue("transactional_db")
    from fastapi_gateway.orm import closing_worker_connections
    from fastapi_gateway.routing.table import declared_routes

    from fastapi_gateway.parity.check import ParityCheck
    from fastapi_gateway.parity.determinism import Determinism
    from fastapi_gateway.parity.redaction import Redactor
    from fastapi_gateway.parity.rules import Rules
    from fastapi_gateway.parity.runner import ParityRunner

    marker = request.node.get_closest_marker("parity")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    runner = ParityRunner(
        parity_app_factory(),
        routes=declared_routes(),
        redactor=Redactor.from_settings(options.get("redact", ())),
        determinism=Determinism(frozen_at=options.get("freeze_time"), seed=options.get("seed")),
    )
    check = ParityCheck(
        runner,
        route=options.get("route"),
        rules=Rules(ignore=tuple(options.get("ignore", ())), unordered=tuple(options.get("unordered", ()))),
        raise_on_mismatch=options.get("raise_on_mismatch", True),
    )
    with closing_worker_connections():  # the in-memory test database's, of the gateway's threads
        async with runner:
            try:
                yield check
            finally:
                request.config.stash[_RESULTS].extend(check.results)
