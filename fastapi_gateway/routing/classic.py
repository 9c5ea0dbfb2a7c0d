"""The classic page stays reachable while its route is not ``new``.

A migrated page in ``redirect`` or ``canary`` sends its legacy URL to the new page, which is
what most visitors should get; a visitor who asks for the classic page (a link to the legacy
URL with ``?classic=1``) gets Django's page, and a session cookie keeps them on it while they
move around that page (its filters, its pagination). ``?classic=0`` drops the choice. Once the
route is ``new`` the classic page is retired: the choice is ignored, and pages can say so
(``classic_available``).
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import Message, Scope, Send

from fastapi_gateway.migrated_route import RouteState

__all__ = ["COOKIE", "classic_available", "classic_choice", "remember_choice"]

COOKIE = "gateway_classic"
_ASKED = {"1": True, "0": False}


def classic_available(state: RouteState) -> bool:
    """Whether a visitor may still choose the classic page of a route in this state."""
    return state is not RouteState.NEW


def _chosen(scope: Scope) -> set[str]:
    cookie = SimpleCookie()
    try:
        cookie.load(Headers(scope=scope).get("cookie", ""))
    except Exception:  # noqa: BLE001 - a malformed Cookie header is no choice, not an error
        return set()
    morsel = cookie.get(COOKIE)
    return {name for name in morsel.value.split(".") if name} if morsel else set()


def classic_choice(scope: Scope, route_name: str) -> tuple[bool, set[str] | None]:
    """``(wants_classic, new_cookie_names)``: the query's ``classic=1``/``0`` decides and is
    remembered (``new_cookie_names`` is the cookie's next value); without it, the cookie decides."""
    chosen = _chosen(scope)
    asked = [value for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1")) if key == "classic"]
    if asked and asked[-1] in _ASKED:
        wants = _ASKED[asked[-1]]
        names = chosen | {route_name} if wants else chosen - {route_name}
        return wants, (names if names != chosen else None)
    return route_name in chosen, None


def remember_choice(send: Send, names: set[str] | None) -> Send:
    """``send`` with the choice's cookie on the response (a session cookie, for this site)."""
    if names is None:
        return send
    value = ".".join(sorted(names))
    header = f"{COOKIE}={value}; Path=/; SameSite=Lax; HttpOnly" + ("" if value else "; Max-Age=0")

    async def with_cookie(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", header.encode("latin-1"))]}
        await send(message)

    return with_cookie
