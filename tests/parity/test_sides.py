"""Parity reaches the gateway below its routing layer, with a Host the gateway accepts."""

from __future__ import annotations

from typing import Any

from fastapi_gateway.parity.sides import below_routing, default_host
from fastapi_gateway.routing.middleware import RoutingMiddleware

from .conftest import ROUTE


def test_the_routing_layer_is_skipped_and_an_app_without_one_is_used_as_is(build_gateway: Any) -> None:
    routed = build_gateway(migrated_routes=[ROUTE["api-tickets"]])
    inner = below_routing(routed)
    assert inner is not routed and not isinstance(inner, RoutingMiddleware)
    node: Any = routed.middleware_stack
    while not isinstance(node, RoutingMiddleware):
        node = node.app
    assert inner is node.app
    plain = build_gateway()
    assert below_routing(plain) is plain


def test_the_host_is_a_concrete_allowed_host() -> None:
    assert default_host(["*", ".example.com", "x"]) == "example.com"
    assert default_host(["*"]) == "localhost"
