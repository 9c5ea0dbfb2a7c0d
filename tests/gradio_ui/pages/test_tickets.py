"""The tickets page's callbacks, called as Gradio calls them, against real Django data.

``demo_users`` is ``manage.py seed_demo``: alice and bob own 9 tickets each (3 per status,
titles starting with their name) and admin is staff.
"""

from __future__ import annotations

import json

import gradio as gr
import pytest
from django.contrib.auth.models import AbstractUser

from fastapi_gateway.orm import run_orm
from gradio_ui.identity import SignInRequired
from gradio_ui.pages import tickets as page
from legacy_django.tickets.models import Ticket

from ..conftest import NodeRunner, RequestFactory

pytestmark = pytest.mark.django_db(transaction=True)


def titles(rows: list[list[object]]) -> list[str]:
    return [str(row[1]) for row in rows]


async def test_alice_sees_her_tickets_and_none_of_bobs(
    gr_request: RequestFactory, demo_users: dict[str, AbstractUser]
) -> None:
    status, rows = await page.load_tickets_page(gr_request("alice"))
    assert status == "All"
    assert len(rows) == 9
    assert all(title.startswith("Alice:") for title in titles(rows))
    assert all(len(row) == len(page.COLUMNS) for row in rows)
    assert rows[0][4].endswith(" UTC")


async def test_staff_see_every_ticket(gr_request: RequestFactory, demo_users: dict[str, AbstractUser]) -> None:
    _, rows = await page.load_tickets_page(gr_request("admin"))
    assert {title.split(":")[0] for title in titles(rows)} == {"Alice", "Bob"}
    assert len(rows) == 18


async def test_status_filter_is_prefilled_from_the_page_url(
    gr_request: RequestFactory, demo_users: dict[str, AbstractUser]
) -> None:
    status, rows = await page.load_tickets_page(gr_request("alice", status="pending"))
    assert status == "pending"
    assert len(rows) == 3
    assert {row[2] for row in rows} == {"pending"}


async def test_an_unknown_status_in_the_url_shows_everything(
    gr_request: RequestFactory, demo_users: dict[str, AbstractUser]
) -> None:
    status, rows = await page.load_tickets_page(gr_request("alice", status="bogus"))
    assert status == "All"
    assert len(rows) == 9


async def test_changing_the_filter_lists_that_status(
    gr_request: RequestFactory, demo_users: dict[str, AbstractUser]
) -> None:
    rows = await page.list_ticket_rows("closed", gr_request("bob"))
    assert len(rows) == 3
    assert all(row[2] == "closed" and row[1].startswith("Bob:") for row in rows)
    assert len(await page.list_ticket_rows("All", gr_request("bob"))) == 9


async def test_a_status_outside_the_choices_is_a_clear_error(
    gr_request: RequestFactory, demo_users: dict[str, AbstractUser]
) -> None:
    with pytest.raises(gr.Error, match="Unknown status"):
        await page.list_ticket_rows("<b>nope</b>", gr_request("alice"))


async def test_rows_are_newest_change_first(
    gr_request: RequestFactory, demo_users: dict[str, AbstractUser]
) -> None:
    rows = await page.list_ticket_rows("All", gr_request("alice"))
    oldest = rows[-1][0]
    await run_orm(lambda: Ticket.objects.get(pk=oldest).save())
    rows = await page.list_ticket_rows("All", gr_request("alice"))
    assert rows[0][0] == oldest


async def test_the_create_form_makes_a_ticket_owned_by_the_user(
    gr_request: RequestFactory, alice: AbstractUser
) -> None:
    rows, title, body, message = await page.create_ticket_from_form(
        "  Keyboard missing keys ", "The Q key fell off.", "high", "All", gr_request("alice")
    )
    ticket = await run_orm(Ticket.objects.select_related("owner").get, title="Keyboard missing keys")
    assert ticket.owner.get_username() == "alice"
    assert (ticket.body, ticket.priority, ticket.status) == ("The Q key fell off.", "high", "open")
    assert message == f"Created ticket #{ticket.pk}."
    assert (title, body) == ("", ""), "the form is cleared for the next ticket"
    assert rows[0][:4] == [ticket.pk, "Keyboard missing keys", "open", "high"]
    assert len(rows) == 10


async def test_a_ticket_created_under_a_filter_that_hides_it_says_where_it_went(
    gr_request: RequestFactory, alice: AbstractUser
) -> None:
    rows, _, _, message = await page.create_ticket_from_form("Mouse", "", "normal", "closed", gr_request("alice"))
    ticket = await run_orm(Ticket.objects.get, title="Mouse")
    assert ticket.pk not in [row[0] for row in rows]  # the closed filter hides an open ticket
    assert message.startswith(f"Created ticket #{ticket.pk}.")
    assert "“closed” filter hides it" in message and f"](/tickets/{ticket.pk}/)" in message
    _, _, _, shown = await page.create_ticket_from_form("Pad", "", "normal", "open", gr_request("alice"))
    assert shown == f"Created ticket #{(await run_orm(Ticket.objects.get, title='Pad')).pk}."


async def test_the_refreshed_table_keeps_the_current_filter(
    gr_request: RequestFactory, alice: AbstractUser
) -> None:
    rows, *_ = await page.create_ticket_from_form("New one", "", "low", "closed", gr_request("alice"))
    assert len(rows) == 3 and "New one" not in titles(rows)


async def test_an_empty_title_is_refused_without_crashing(
    gr_request: RequestFactory, alice: AbstractUser
) -> None:
    # Outside a live Gradio event, gr.Warning falls back to a Python warning: catch it here.
    with pytest.warns(UserWarning, match="Title: This field cannot be blank."):
        rows, title, body, message = await page.create_ticket_from_form(
            "   ", "body kept", "normal", "All", gr_request("alice")
        )
    assert message.startswith("**Not created.**") and "Title: This field cannot be blank." in message
    assert rows == title == body == gr.skip(), "table and typed text are left as they were"
    assert await run_orm(Ticket.objects.filter(owner__username="alice").count) == 9


async def test_an_invalid_priority_is_refused_with_the_fields_message(
    gr_request: RequestFactory, alice: AbstractUser
) -> None:
    with pytest.warns(UserWarning, match="Priority: Value &#x27;&lt;script&gt;&#x27;"):
        *_, message = await page.create_ticket_from_form(
            "Fine title", "", "<script>", "All", gr_request("alice")
        )
    assert "Priority:" in message and "<script>" not in message


async def test_a_deactivated_user_cannot_create_or_list(
    gr_request: RequestFactory, inactive_carol: AbstractUser
) -> None:
    with pytest.raises(SignInRequired):
        await page.create_ticket_from_form("x", "", "normal", "All", gr_request("carol"))
    with pytest.raises(SignInRequired):
        await page.load_tickets_page(gr_request("carol"))
    assert await run_orm(Ticket.objects.count) == 0


def test_selecting_a_row_picks_its_ticket_id() -> None:
    rows = [[7, "A", "open", "low", "x"], [3, "B", "open", "low", "x"]]
    clicked_title = gr.SelectData(None, {"index": [1, 1], "value": "B", "row_value": rows[1]})
    assert page.select_ticket(rows, clicked_title) == 3
    # Without row_value (older clients) the row index is used.
    by_index = gr.SelectData(None, {"index": [0, 2], "value": "open"})
    assert page.select_ticket(rows, by_index) == 7
    assert page.select_ticket([], gr.SelectData(None, {"index": [5, 0], "value": None})) is None


@pytest.mark.parametrize(
    ("selected", "destination"),
    [("6", "/tickets/6/"), (12, "/tickets/12/"), ("", None), (None, None), ("0", None)],
)
def test_open_in_legacy_site_goes_to_the_tickets_detail_page(
    run_node: NodeRunner, selected: object, destination: str | None
) -> None:
    program = f"""
const visited = [];
const window = {{ location: {{ assign(url) {{ visited.push(url); }} }} }};
({page.OPEN_IN_LEGACY_JS})({json.dumps(selected)});
console.log(JSON.stringify(visited));
"""
    assert json.loads(run_node(program)) == ([destination] if destination else [])


async def test_the_page_wires_its_callbacks() -> None:
    blocks = page.build()
    wired = {fn.fn for fn in blocks.fns.values()}
    assert {
        page.load_tickets_page,
        page.list_ticket_rows,
        page.select_ticket,
        page.create_ticket_from_form,
    } <= wired
    (open_legacy,) = [
        fn for fn in blocks.fns.values() if fn.fn is None and fn.js == page.OPEN_IN_LEGACY_JS
    ]
    assert [block.label for block in open_legacy.inputs] == ["Selected ticket"]
    table = next(b for b in blocks.blocks.values() if isinstance(b, gr.Dataframe))
    assert table.headers == page.COLUMNS
    status = next(b for b in blocks.blocks.values() if isinstance(b, gr.Dropdown) and b.label == "Status")
    assert [choice[1] for choice in status.choices] == ["All", "open", "pending", "closed"]


def _file_many(owner: AbstractUser, count: int) -> None:
    """``count`` tickets for ``owner``, several changed at each instant (ties broken by id)."""
    from datetime import datetime, timedelta, timezone

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    made = Ticket.objects.bulk_create(Ticket(title=f"many {n}", owner=owner) for n in range(count))
    for n, ticket in enumerate(made):
        Ticket.objects.filter(pk=ticket.pk).update(updated_at=start + timedelta(minutes=n // 4))


async def test_the_table_pages_older_and_newer_through_every_ticket_once(
    gr_request: RequestFactory, demo_users: dict[str, AbstractUser]
) -> None:
    await run_orm(_file_many, demo_users["alice"], 2 * page.PAGE_SIZE + 7)
    expected = await run_orm(
        lambda: list(Ticket.objects.filter(owner__username="alice").order_by("-updated_at", "-id").values_list("id", flat=True))
    )
    request = gr_request("alice")
    _, first = await page.load_tickets_page(request)
    assert len(first) == page.PAGE_SIZE
    pages = [first]
    while True:
        turned = await page.older_ticket_rows("All", pages[-1], request)
        if not isinstance(turned, list):
            break  # gr.skip(): the last page stays
        pages.append(turned)
        assert len(pages) < 10
    assert [row[0] for rows in pages for row in rows] == expected
    assert [len(rows) for rows in pages] == [page.PAGE_SIZE, page.PAGE_SIZE, 16]
    # And back: each "Newer" gives the page before, the first page says it is the newest.
    back = pages[-1]
    for earlier in reversed(pages[:-1]):
        back = await page.newer_ticket_rows("All", back, request)
        assert back == earlier
    assert not isinstance(await page.newer_ticket_rows("All", back, request), list)


async def test_pages_keep_the_status_filter(gr_request: RequestFactory, demo_users: dict[str, AbstractUser]) -> None:
    await run_orm(_file_many, demo_users["bob"], page.PAGE_SIZE + 3)  # all open
    request = gr_request("bob")
    first = await page.list_ticket_rows("open", request)
    second = await page.older_ticket_rows("open", first, request)
    assert {row[2] for row in first + second} == {"open"}
    assert len(first) + len(second) == page.PAGE_SIZE + 3 + 3


async def test_a_forged_table_positions_the_page_but_never_widens_it(
    gr_request: RequestFactory, demo_users: dict[str, AbstractUser]
) -> None:
    """The pager reads one id from the table the browser echoes; whatever it is, the rows are
    alice's own, and a malformed table gives the first page, never an error."""
    bobs = await run_orm(lambda: list(Ticket.objects.filter(owner__username="bob").values_list("id", flat=True)))
    request = gr_request("alice")
    _, first = await page.load_tickets_page(request)
    forged_tables = [
        [[bobs[0], "x", "open", "low", "now"]],  # another user's ticket
        [[999999999, "x"]],
        [[2**70]], [[-3]], [[0]], [[True]], [["12abc"]], [["١٢"]], [[1.5]], [[float("nan")]], [[None]],
        [], None, "not a table", {"data": [[1]]}, [[{"$gt": 0}]], [[[1]]],
    ]  # fmt: skip
    for forged in forged_tables:
        for turn in (page.older_ticket_rows, page.newer_ticket_rows):
            rows = await turn("All", forged, request)
            assert rows == first, (forged, turn.__name__, rows)


async def test_the_pager_buttons_are_wired_to_the_table() -> None:
    blocks = page.build()
    wired = {fn.fn: fn for fn in blocks.fns.values()}
    for callback in (page.older_ticket_rows, page.newer_ticket_rows):
        event = wired[callback]
        assert [type(block).__name__ for block in event.inputs] == ["Dropdown", "Dataframe"]
        assert [type(block).__name__ for block in event.outputs] == ["Dataframe"]
