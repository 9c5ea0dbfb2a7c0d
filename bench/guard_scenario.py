"""Section k's run against one gateway: its two curves, the room between them, then the checks.

In order, on one server:

* *many logins, nothing let go of*: the plan's ``count`` tabs over its logins, taken in turn
  (``Plan``), so no login passes its sessions and nothing leaves the record or Gradio.
* *room*: the first user's logins are used once more one after the other (each rejoins its
  first tab: no new session), then its ninth and tenth logins each open a tab: the guard lets
  go of its two least recently used logins, their tabs and Gradio's state of them. Gradio's
  holder is below its cap again, so the next curve shows the guard's bound, not Gradio's cap.
* *one login past its budget*: a new login, of a user of its own, opens the plan's ``flood``
  tabs; from its ``MAX_PAGE_SESSIONS_PER_OWNER + 1``-th tab on, each lets go of its oldest,
  Gradio's state with it.

Then the checks, each a request a browser could send: another user joining a live tab of the
first curve gets 403; the first user's first login, let go of by its ninth, gets 403 on
``queue/data`` of its own first tab; the flooding login joining its own newest tab works (200,
the event completes); its oldest tab, let go of, is refused to it (403 on ``queue/data``); and
another login joining that freed ``session_hash`` works (200, its own name in the answer: a
fresh session; that Gradio's state of it is fresh is
``tests/gateway/pages/test_ownership.py::test_a_tab_past_the_logins_budget_takes_gradios_state_of_the_oldest_with_it``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import httpx

from .guard_curves import IN_FLIGHT, Curve, walk
from .guard_plan import LOGINS_PER_USER, Plan
from .guard_tabs import TabOwner, data_status, event_fn_index, join_status, open_tab
from .login import Login
from .servers import RunningServer

__all__ = ["run_scenario"]

KEEPALIVE_EXPIRY = 2.0  # seconds: under uvicorn's --timeout-keep-alive (5 s), which the gateway keeps


async def run_scenario(server: RunningServer, plan: Plan, many_logins: Sequence[Login], room_logins: Sequence[Login],
                       flooder: Login, log: Callable[[str], None]) -> tuple[Curve, Curve, dict[str, bool]]:
    """The two curves and, by what each check states, whether it held."""
    def client(login: Login) -> httpx.AsyncClient:
        # Each login's connections sit idle while the other logins' tabs open (163 of them): one
        # taken up again just as the server closed it for keep-alive (uvicorn's 5 s) failed a
        # tab with ReadError(''), and the whole run with it. A browser retries such a request on
        # a new connection; here an idle connection is dropped well before the server's limit.
        return httpx.AsyncClient(base_url=server.url, cookies=login.cookies, timeout=60,
                                 limits=httpx.Limits(max_connections=IN_FLIGHT, keepalive_expiry=KEEPALIVE_EXPIRY))

    many = [TabOwner(login, client(login)) for login in many_logins]
    room = [TabOwner(login, client(login)) for login in room_logins]
    one = TabOwner(flooder, client(flooder))
    first, flooded = Curve("many logins"), Curve("one login")
    checks: dict[str, bool] = {}
    try:
        fn_index = await event_fn_index(many[0])
        await walk(server, many, fn_index, first, plan.many_steps, log)
        # The first user's logins, used again one after the other (each rejoins its first tab:
        # no new session), so its first two are its least recently used; then its ninth and
        # tenth logins each open a tab, and the guard lets go of those two.
        for number, owner in enumerate(many[:LOGINS_PER_USER]):
            await open_tab(owner, fn_index, -1, first.session_hashes[number])
        for owner in room:
            await open_tab(owner, fn_index, -1)
        await walk(server, [one], fn_index, flooded, plan.flood_steps, log)

        # A live tab of the first curve: the first tab of a login of a user in the middle;
        # the stranger is the last login, of the last user.
        live, stranger = plan.logins // 2, plan.logins - 1
        if live // LOGINS_PER_USER in (0, stranger // LOGINS_PER_USER):
            raise AssertionError("the live tab must be another user's than the first and the stranger's")
        newest, oldest = flooded.session_hashes[plan.flood - 1], flooded.session_hashes[0]
        checks["another user joining a live tab of the first curve: 403"] = (
            await join_status(many[stranger], fn_index, first.session_hashes[live]) == 403)
        checks["the first user's first login, let go of by its ninth, reading its first tab: 403"] = (
            await data_status(many[0], first.session_hashes[0]) == 403)
        checks["the flooding login joining its newest tab: 200"] = await join_status(one, fn_index, newest) == 200
        checks["the flooding login reading its oldest tab, let go of: 403"] = await data_status(one, oldest) == 403
        checks["another login joining that freed tab: 200, a fresh session"] = (
            await join_status(many[stranger], fn_index, oldest) == 200)
    finally:
        for owner in (*many, *room, one):
            await owner.client.aclose()
    return first, flooded, checks
