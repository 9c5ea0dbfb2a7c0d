"""Who a routed request is, as far as the route table may trust it.

A canary puts a person on one side for good, and the rollout gates read the numbers of the
people the new side served. Both must rest on an identity the client cannot choose: a
signed-in user, or a session the session store really holds. A made-up ``sessionid`` cookie
is no one: such a visitor stays on legacy (else a client could try cookie values until it
lands on the side it wants) and its requests are left out of the gates (else a flood of
anonymous requests that both sides refuse alike could dilute a broken new side's numbers,
or a few slow ones roll a healthy one back).

Whether an anonymous session exists is asked of the store once per key and remembered for
``_TTL`` seconds (at most ``_MAX`` keys), so a visitor's requests cost one lookup a minute.
"""

from __future__ import annotations

import time

from starlette.types import Scope

from fastapi_gateway.identity.session import load_session, session_key_from_headers, user_for_scope
from fastapi_gateway.orm import run_orm

__all__ = ["verified_identity"]

_TTL = 60.0
_MAX = 10_000
_known: dict[str, tuple[float, bool]] = {}


def _exists(session_key: str) -> bool:
    return bool(load_session(session_key).exists(session_key))


async def _session_exists(session_key: str) -> bool:
    now = time.monotonic()
    known = _known.get(session_key)
    if known is not None and now - known[0] < _TTL:
        return known[1]
    try:
        exists = await run_orm(_exists, session_key)
    except Exception:  # noqa: BLE001 - a store that cannot say is no proof: no one
        return False
    if len(_known) >= _MAX:
        _known.clear()
    _known[session_key] = (now, exists)
    return exists


async def verified_identity(scope: Scope) -> str | None:
    """``user:<pk>`` when signed in, ``session:<key>`` for a session the store holds, else None."""
    user = await user_for_scope(scope)
    if user.is_authenticated:
        return f"user:{getattr(user, 'pk', '')}"
    session_key = session_key_from_headers(scope.get("headers", ()))
    if session_key and await _session_exists(session_key):
        return f"session:{session_key}"
    return None
