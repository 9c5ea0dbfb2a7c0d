"""The sizes of section k's run: its users and logins, its tabs, and the steps memory is read at.

The first curve spreads ``count`` tabs over ``users`` × ``LOGINS_PER_USER`` logins taken in
turn; the flood is one login, of a user of its own, opening ``flood`` tabs well past its
``MAX_PAGE_SESSIONS_PER_OWNER`` sessions. ``Plan.check`` refuses sizes under which a login of
the first curve would pass its sessions or its ``MAX_ENTRIES_PER_SESSION`` records (something
would leave the record and Gradio), or Gradio's holder would pass its own cap
(``state_session_capacity``): the bound the section shows must be the guard's, not Gradio's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fastapi_gateway.pages.ownership import MAX_ENTRIES_PER_SESSION, MAX_PAGE_SESSIONS_PER_OWNER, MAX_SESSIONS_PER_USER

from .guard_tabs import ENTRIES_PER_TAB

__all__ = [
    "DEMO_USERS", "FLAT_FROM", "FLOODER", "GRADIO_QUEUE_SESSIONS", "GRADIO_STATE_CAPACITY", "LOGINS_PER_USER",
    "Plan", "ROOM_LOGINS", "WARM_TABS_PER_LOGIN",
]

DEMO_USERS = ("alice", "bob", "admin")  # what ``manage.py seed_demo`` makes; the rest are written here
EXTRA_USER = "benchk{:02d}"  # letters and digits: the page escapes Markdown in the name it shows
FLOODER = "benchkflood"  # a user of its own: its one login floods
LOGINS_PER_USER = MAX_SESSIONS_PER_USER  # every user at its most logins: none let go of
ROOM_LOGINS = 2  # more logins of the first user, each letting go of one of its first
WARM_TABS_PER_LOGIN = 2
GRADIO_STATE_CAPACITY = 10_000  # gr.Blocks().state_session_capacity, which mount_gradio_app keeps
GRADIO_QUEUE_SESSIONS = 2_000  # gradio.queueing.Queue.pending_messages_per_session, an LRUCache
FLAT_FROM = 100  # the flood's growth is read from here: past its 64 sessions, with some margin


@dataclass(frozen=True)
class Plan:
    users: tuple[str, ...]  # the first curve's users, LOGINS_PER_USER logins each
    count: int  # the first curve's tabs
    many_steps: tuple[int, ...]
    flood: int  # the flooding login's tabs
    flood_steps: tuple[int, ...]

    @property
    def logins(self) -> int:
        return len(self.users) * LOGINS_PER_USER

    @property
    def warm(self) -> int:
        return WARM_TABS_PER_LOGIN * self.logins

    def tabs_of(self, login: int) -> int:
        """Tabs the first curve gives its ``login``-th login (taken in turn)."""
        return self.count // self.logins + (login < self.count % self.logins)

    @classmethod
    def of(cls, quick: bool) -> Plan:
        users, count, flood = (4, 1_000, 400) if quick else (20, 10_000, 1_000)
        names = (*DEMO_USERS, *(EXTRA_USER.format(n) for n in range(1, users - len(DEMO_USERS) + 1)))
        logins = users * LOGINS_PER_USER
        many_steps = (0, WARM_TABS_PER_LOGIN * logins, *range(count // 5, count + 1, count // 5))
        flood_steps = (0, MAX_PAGE_SESSIONS_PER_OWNER // 2, MAX_PAGE_SESSIONS_PER_OWNER, FLAT_FROM,
                       *range(flood // 4, flood + 1, flood // 4))
        return cls(names, count, many_steps, flood, tuple(sorted(set(flood_steps))))

    def check(self) -> None:
        if math.ceil(self.count / self.logins) > MAX_PAGE_SESSIONS_PER_OWNER:
            raise AssertionError("the first curve must keep every login within its sessions")
        if math.ceil(self.count / self.logins) * ENTRIES_PER_TAB > MAX_ENTRIES_PER_SESSION:
            raise AssertionError("the first curve must keep every login within its records")
        freed = self.tabs_of(0) + self.tabs_of(1)  # the first user's two least recently used logins
        held = self.count - freed + ROOM_LOGINS + MAX_PAGE_SESSIONS_PER_OWNER + 1  # +1: the freed hash rejoined
        if self.count > GRADIO_STATE_CAPACITY or held > GRADIO_STATE_CAPACITY:
            raise AssertionError("Gradio's holder must never pass its cap: the bound shown must be the guard's")
        if not (self.many_steps[1] < self.many_steps[2] and self.many_steps[-1] == self.count):
            raise AssertionError("the first curve's steps: 0, the warm-up, then up to its size")
        if not (FLAT_FROM in self.flood_steps and self.flood_steps[-1] == self.flood):
            raise AssertionError("the flood's steps hold FLAT_FROM and end at its size")
