"""Route declarations: Django's own path patterns, new URLs, which methods may move."""

from __future__ import annotations

import pytest

from fastapi_gateway.routing import MigratedRoute
from fastapi_gateway.migrated_route import match_route
from migration_plan.routes import ROUTES


def test_bundled_routes_are_the_contracts() -> None:
    assert [route.name for route in ROUTES] == ["api-tickets", "api-ticket-detail", "tickets-page"]


def test_django_path_converters_match_and_convert() -> None:
    detail = MigratedRoute(name="detail", legacy="/api/tickets/<int:pk>/", new="/api/v2/tickets/{pk}")
    assert detail.match("/api/tickets/12/") == {"pk": 12}
    assert detail.match("/api/tickets/abc/") is None
    assert detail.match("/api/tickets/12/extra/") is None
    assert detail.match("/api/tickets/12") is None
    assert detail.new_url({"pk": 12}, b"x=1") == "/api/v2/tickets/12?x=1"


def test_first_declared_route_wins() -> None:
    matched = match_route(ROUTES, "/api/tickets/5/")
    assert matched is not None and matched.route.name == "api-ticket-detail" and matched.params == {"pk": 5}
    assert match_route(ROUTES, "/tickets/new/") is None


def test_only_safe_methods_move_or_shadow_by_default() -> None:
    route = MigratedRoute(name="r", legacy="/a/", new="/b")
    assert route.may_move("GET") and route.may_move("head") and not route.may_move("POST")
    opted = MigratedRoute(name="r", legacy="/a/", new="/b", methods=frozenset({"GET", "POST"}))
    assert opted.may_move("POST") and not opted.may_shadow("POST")
    shadowing = MigratedRoute(name="r", legacy="/a/", new="/b", methods=frozenset({"POST"}), shadow_unsafe=True)
    assert shadowing.may_shadow("POST")


@pytest.mark.parametrize(
    "kwargs",
    [{"name": "has space"}, {"name": ""}, {"redirect_status": 200}],
)
def test_bad_declarations_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        MigratedRoute(**{"name": "ok", "legacy": "/a/", "new": "/b", **kwargs})  # type: ignore[arg-type]
