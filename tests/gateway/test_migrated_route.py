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


# Patterns chosen to overlap: literal and parametrised routes under one prefix, a route that
# starts with a parameter, a parameter inside a segment, a ``path`` converter that spans
# segments, the same literal declared twice.
_OVERLAPPING = (
    MigratedRoute(name="l1", legacy="/api/tickets/", new="/n"),
    MigratedRoute(name="p1", legacy="/api/tickets/<int:pk>/", new="/n/{pk}"),
    MigratedRoute(name="p2", legacy="/api/tickets/<slug:slug>/", new="/n/{slug}"),
    MigratedRoute(name="l2", legacy="/api/tickets/new/", new="/n"),
    MigratedRoute(name="any", legacy="/<slug:first>/edit/", new="/n/{first}"),
    MigratedRoute(name="inseg", legacy="/files/file-<int:n>/", new="/n/{n}"),
    MigratedRoute(name="rest", legacy="/docs/<path:rest>", new="/n/{rest}"),
    MigratedRoute(name="l1again", legacy="/api/tickets/", new="/m"),
    MigratedRoute(name="deep", legacy="/a/b/c/<int:x>/d/<int:y>/", new="/n/{x}/{y}"),
    MigratedRoute(name="root", legacy="/", new="/n"),
)
_SEGMENTS = ("", "api", "tickets", "new", "7", "x-y", "edit", "files", "file-3", "docs", "a", "b", "c", "d", "%2F", "é")


def _linear(routes: tuple[MigratedRoute, ...], path: str) -> tuple[str, dict[str, object]] | None:
    matched = match_route(list(routes), path)
    return None if matched is None else (matched.route.name, matched.params)


def test_the_index_answers_as_trying_every_route_in_order_would() -> None:
    from hypothesis import given, settings, strategies as st

    from fastapi_gateway.migrated_route import RouteIndex

    index = RouteIndex(_OVERLAPPING)
    paths = st.lists(st.sampled_from(_SEGMENTS), max_size=7).map(lambda parts: "/" + "/".join(parts))

    @settings(max_examples=3000, deadline=None, database=None)
    @given(paths, st.booleans())
    def check(path: str, trailing: bool) -> None:
        path = path + "/" if trailing else path
        found = index.match(path)
        assert (None if found is None else (found.route.name, found.params)) == _linear(_OVERLAPPING, path)

    check()
    for path, expected in (("/api/tickets/", "l1"), ("/api/tickets/new/", "p2"), ("/api/tickets/5/", "p1"),
                           ("/x/edit/", "any"), ("/files/file-3/", "inseg"), ("/docs/a/b/c", "rest"), ("/", "root"),
                           ("/a/b/c/1/d/2/", "deep")):
        found = match_route(index, path)
        assert found is not None and found.route.name == expected, path
    assert list(index) == list(_OVERLAPPING) and len(index) == len(_OVERLAPPING)


def test_the_index_tries_only_the_routes_a_path_could_be() -> None:
    """1,000 declared routes: a path is tried against its own prefix's routes, not all of them."""
    from fastapi_gateway.migrated_route import RouteIndex

    tried: list[str] = []

    class Counting(MigratedRoute):
        def match(self, path: str) -> dict[str, object] | None:
            tried.append(self.name)
            return super().match(path)

    routes = [Counting(name=f"r{n}", legacy=f"/area{n}/items/<int:pk>/", new="/n/{pk}") for n in range(1000)]
    routes += [Counting(name=f"lit{n}", legacy=f"/page{n}/", new="/n") for n in range(1000)]
    index = RouteIndex(routes)
    found = index.match("/area999/items/4/")
    assert found is not None and found.route.name == "r999" and found.params == {"pk": 4}
    assert tried == ["r999"]
    tried.clear()
    found = index.match("/page500/")
    assert found is not None and found.route.name == "lit500" and tried == []
    assert index.match("/tickets/") is None and tried == []
