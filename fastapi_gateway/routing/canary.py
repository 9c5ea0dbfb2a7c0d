"""Who is in a canary: a stable hash of the user, so the same person always sees the same side.

Logged-in users are bucketed by user id (the same on every device and after a new login);
anonymous visitors by a session the store holds (``routing.identity``); a visitor with neither, or a made-up cookie, stays on legacy. The
route name salts the hash, so being in one route's canary says nothing about another's.
"""

from __future__ import annotations

import hashlib

__all__ = ["in_canary", "canary_bucket"]


def canary_bucket(route_name: str, identity: str) -> float:
    """A number in [0, 100) fixed for this route and identity."""
    digest = hashlib.sha256(f"{route_name}\x00{identity}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 / 100


def in_canary(route_name: str, identity: str | None, percent: int) -> bool:
    if identity is None or percent <= 0:
        return False
    return percent >= 100 or canary_bucket(route_name, identity) < percent
