"""Who owns which Gradio session, event, upload and file.

Gradio keys its queue by a client-chosen ``session_hash`` and serves files by path, with
no idea of users. The guard records an owner — the Django user *and* the Django session —
for each identifier the server handed out or the first time it is used, and refuses
everyone else. Gradio's queue lives in the process, so this record does too.

The record is kept per owner, each with a budget of its own: a flood from one user can only
push out that user's oldest records (and, past ``max_sessions_per_user`` Django sessions,
that user's oldest session), never another user's. One user's records therefore cost at most
``max_sessions_per_user * max_entries_per_session`` entries, about ``PER_USER_BOUND_BYTES``.

Gradio sessions (browser tabs) have a budget of their own, ``max_page_sessions_per_owner``
per owner: each one costs Gradio about 45 KiB of state (bench/RESULTS.md, section k), which
Gradio keeps for its last 10,000 sessions of all users alike. What the registry lets go of it
reports to ``on_release``: the guard then drops Gradio's own state for that session or
upload, so one user's memory is bounded by these budgets and nobody else's state is pushed out.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Owner", "OwnershipRegistry", "Kind", "PER_USER_BOUND_BYTES"]

Kind = Literal["session", "event", "upload", "file"]

logger = logging.getLogger("fastapi_gateway.pages.guard")  # its parts log as the guard (filtered: routing.log_redaction)

#: Identifiers that belong to one owner only (the first to use them, or the one handed them).
_EXCLUSIVE: frozenset[Kind] = frozenset({"session", "event", "upload"})

MAX_ENTRIES_PER_SESSION = 4096
MAX_SESSIONS_PER_USER = 8
#: Gradio sessions (tabs) one login keeps; opening one more lets go of its oldest.
MAX_PAGE_SESSIONS_PER_OWNER = 64
#: Measured upper bound of one user's records at the limits above, with 200-byte paths
#: (``tests/gateway/pages/test_ownership.py::test_one_users_flood_is_bounded_in_memory``).
PER_USER_BOUND_BYTES = 24 * 1024 * 1024


@dataclass(frozen=True)
class Owner:
    """A Django user in one Django session (the key is stored hashed, never in clear)."""

    user_pk: str
    session_digest: str

    @classmethod
    def of(cls, user_pk: object, session_key: str) -> Owner:
        return cls(str(user_pk), hashlib.sha256(session_key.encode()).hexdigest())


@dataclass
class _Records:
    """One owner's identifiers, oldest first."""

    entries: OrderedDict[tuple[Kind, str], None] = field(default_factory=OrderedDict)
    page_sessions: int = 0  # how many of the entries are Gradio sessions


class OwnershipRegistry:
    """Bounded per owner; exclusive identifiers are also indexed globally to refuse others."""

    def __init__(
        self,
        *,
        max_entries_per_session: int = MAX_ENTRIES_PER_SESSION,
        max_sessions_per_user: int = MAX_SESSIONS_PER_USER,
        max_page_sessions_per_owner: int = MAX_PAGE_SESSIONS_PER_OWNER,
        on_release: Callable[[Kind, str], None] | None = None,
    ) -> None:
        if min(max_entries_per_session, max_sessions_per_user, max_page_sessions_per_owner) < 1:
            raise ValueError("the ownership budgets must be positive")
        self.max_entries_per_session = max_entries_per_session
        self.max_sessions_per_user = max_sessions_per_user
        self.max_page_sessions_per_owner = max_page_sessions_per_owner
        self.on_release = on_release
        self._released: list[tuple[Kind, str]] = []
        self._holders: dict[tuple[Kind, str], Owner] = {}
        self._users: dict[str, OrderedDict[str, _Records]] = {}
        self._lock = threading.Lock()

    def claim(self, kind: Kind, identifier: str, owner: Owner) -> bool:
        """Bind a free identifier to ``owner``; True if ``owner`` holds it now."""
        key = (kind, identifier)
        with self._lock:
            holder = self._holders.get(key)
            if holder is not None and holder != owner:
                return False
            self._add(key, owner)
        if self._released:
            self._report_released()
        return True

    def grant(self, kind: Kind, identifier: str, owner: Owner) -> bool:
        """Record an identifier the server itself handed to ``owner`` (event ids, file paths).

        An exclusive identifier already held by someone else is not taken from them; a file
        may be granted to several owners (Gradio's cache is content-addressed: two users who
        produce the same bytes get the same path). Returns whether ``owner`` now holds it.
        """
        return self.claim(kind, identifier, owner) if kind in _EXCLUSIVE else self._grant_shared(kind, identifier, owner)

    def owns(self, kind: Kind, identifier: str, owner: Owner) -> bool:
        """True only for an identifier recorded for this very owner; unknown ones are not."""
        key = (kind, identifier)
        with self._lock:
            records = self._find(owner)
            if records is None or key not in records.entries:
                return False
            if kind in _EXCLUSIVE and self._holders.get(key) != owner:
                return False
            records.entries.move_to_end(key)
            return True

    def held(self, kind: Kind, identifier: str) -> bool:
        """Whether anyone holds an exclusive identifier."""
        with self._lock:
            return (kind, identifier) in self._holders

    def __len__(self) -> int:
        with self._lock:
            return sum(len(records.entries) for sessions in self._users.values() for records in sessions.values())

    def _grant_shared(self, kind: Kind, identifier: str, owner: Owner) -> bool:
        with self._lock:
            self._add((kind, identifier), owner)
        if self._released:
            self._report_released()
        return True

    def _find(self, owner: Owner) -> _Records | None:
        sessions = self._users.get(owner.user_pk)
        return None if sessions is None else sessions.get(owner.session_digest)

    def _ensure(self, owner: Owner) -> _Records:
        sessions = self._users.setdefault(owner.user_pk, OrderedDict())
        records = sessions.get(owner.session_digest)
        if records is not None:
            sessions.move_to_end(owner.session_digest)
            return records
        records = sessions[owner.session_digest] = _Records()
        while len(sessions) > self.max_sessions_per_user:
            digest, oldest = sessions.popitem(last=False)
            self._forget(oldest, Owner(owner.user_pk, digest))
        return records

    def _add(self, key: tuple[Kind, str], owner: Owner) -> None:
        records = self._ensure(owner)
        if key not in records.entries and key[0] == "session":
            records.page_sessions += 1
        records.entries[key] = None
        records.entries.move_to_end(key)
        if key[0] in _EXCLUSIVE:
            self._holders[key] = owner
        if records.page_sessions > self.max_page_sessions_per_owner:
            oldest = next(entry for entry in records.entries if entry[0] == "session")
            self._drop(records, oldest, owner)
        while len(records.entries) > self.max_entries_per_session:
            self._drop(records, next(iter(records.entries)), owner)

    def _drop(self, records: _Records, key: tuple[Kind, str], owner: Owner) -> None:
        del records.entries[key]
        if key[0] == "session":
            records.page_sessions -= 1
        self._release(key, owner)

    def _forget(self, records: _Records, owner: Owner) -> None:
        for key in records.entries:
            self._release(key, owner)

    def _release(self, key: tuple[Kind, str], owner: Owner) -> None:
        if key[0] in _EXCLUSIVE and self._holders.get(key) == owner:
            del self._holders[key]
            if self.on_release is not None:
                self._released.append(key)

    def _report_released(self) -> None:
        """Tell ``on_release`` what was let go of, outside the lock; a failing callback is
        logged, and the record stays consistent whatever it does."""
        with self._lock:
            released, self._released = self._released, []
        callback = self.on_release
        if callback is None:
            return
        for kind, identifier in released:
            try:
                callback(kind, identifier)
            except Exception:  # noqa: BLE001 - the record is already right; Gradio keeps a copy longer
                logger.exception("forgetting a released Gradio %s failed", kind)
