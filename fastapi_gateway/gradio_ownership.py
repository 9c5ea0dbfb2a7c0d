"""Who owns which Gradio session, event, upload and file.

Gradio keys its queue by a client-chosen ``session_hash`` and serves files by path, with
no idea of users. The guard records an owner — the Django user *and* the Django session —
for each identifier the first time it is used or handed out, and refuses everyone else.
Gradio's queue lives in the process, so this record does too; it is bounded so a client
inventing identifiers cannot grow it without limit.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

__all__ = ["Owner", "OwnershipRegistry", "Kind"]

Kind = Literal["session", "event", "upload", "file"]


@dataclass(frozen=True)
class Owner:
    """A Django user in one Django session (the key is stored hashed, never in clear)."""

    user_pk: str
    session_digest: str

    @classmethod
    def of(cls, user_pk: object, session_key: str) -> Owner:
        return cls(str(user_pk), hashlib.sha256(session_key.encode()).hexdigest())


class OwnershipRegistry:
    """A bounded, least-recently-used map from ``(kind, identifier)`` to its ``Owner``."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self._owners: OrderedDict[tuple[Kind, str], Owner] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, kind: Kind, identifier: str, owner: Owner) -> bool:
        """Bind a free identifier to ``owner``; True if ``owner`` holds it now."""
        key = (kind, identifier)
        with self._lock:
            current = self._owners.get(key)
            if current is None:
                self._owners[key] = owner
                self._evict()
                return True
            self._owners.move_to_end(key)
            return current == owner

    def grant(self, kind: Kind, identifier: str, owner: Owner) -> None:
        """Record an identifier the server handed to ``owner`` (event ids, file paths)."""
        with self._lock:
            self._owners[(kind, identifier)] = owner
            self._owners.move_to_end((kind, identifier))
            self._evict()

    def owns(self, kind: Kind, identifier: str, owner: Owner) -> bool:
        """True only for an identifier recorded for this very owner; unknown ones are not."""
        with self._lock:
            return self._owners.get((kind, identifier)) == owner

    def _evict(self) -> None:
        while len(self._owners) > self.max_entries:
            self._owners.popitem(last=False)

    def __len__(self) -> int:
        return len(self._owners)
