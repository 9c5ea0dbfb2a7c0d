"""JSON compares as structure: key order never, list order unless unordered, numbers and
timestamps as values, and every difference named by its path."""

from __future__ import annotations

from fastapi_gateway.parity.compare_json import compare_json
from fastapi_gateway.parity.difference import EXTRA, MISSING, TYPE, Difference
from fastapi_gateway.parity.rules import Rules

TICKETS = [{"id": n, "title": f"t{n}", "updated_at": f"2024-05-0{n}T10:00:00+00:00"} for n in range(1, 6)]


def test_key_order_never_matters_and_the_differing_field_is_named() -> None:
    assert compare_json({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"d": 3, "c": 2}, "a": 1}) == []
    changed = [dict(item) for item in TICKETS]
    changed[2]["title"] = "other"
    assert compare_json(TICKETS, changed) == [Difference("$[2].title", "t3", "other")]


def test_missing_extra_and_type_changes_are_told_apart() -> None:
    assert compare_json({"a": 1, "b": "1", "c": True}, {"b": 1, "c": 1, "d": None}) == [
        Difference("$.a", 1, None, MISSING),
        Difference("$.b", "1", 1, TYPE),
        Difference("$.c", True, 1, TYPE),  # JSON true is not 1
        Difference("$.d", None, None, EXTRA),
    ]


def test_list_order_matters_unless_the_path_is_unordered() -> None:
    reversed_tickets = list(reversed(TICKETS))
    assert {d.path for d in compare_json(TICKETS, reversed_tickets)} >= {"$[0].id", "$[4].title"}
    assert compare_json(TICKETS, reversed_tickets, unordered=["$"]) == []
    nested = {"tags": ["b", "a"], "other": ["x", "y"]}
    assert compare_json(nested, {"tags": ["a", "b"], "other": ["y", "x"]}, unordered=["$.tags"]) == [
        Difference("$.other[0]", "x", "y"), Difference("$.other[1]", "y", "x"),
    ]


def test_unordered_lists_match_items_with_ignored_fields_left_out() -> None:
    shuffled = [dict(item, updated_at="2030-01-01T00:00:00Z") for item in reversed(TICKETS)]
    assert compare_json(TICKETS, shuffled, unordered=["$"], ignore=["$[*].updated_at"]) == []


def test_ignore_selectors_leave_fields_out_at_any_depth() -> None:
    legacy = {"id": 1, "meta": {"token": "a", "generated": 1}, "items": [{"token": "x", "v": 1}]}
    new = {"id": 1, "meta": {"token": "b", "generated": 2}, "items": [{"token": "y", "v": 1}]}
    assert compare_json(legacy, new, ignore=["$..token", "$.meta.generated"]) == []
    assert [d.path for d in compare_json(legacy, new, ignore=["$..token"])] == ["$.meta.generated"]


def test_an_inserted_item_is_one_extra_item_not_every_later_one() -> None:
    inserted = TICKETS[:2] + [{"id": 99, "title": "new", "updated_at": "x"}] + TICKETS[2:]
    assert compare_json(TICKETS, inserted) == [Difference("$.length", 5, 6), Difference("$[2]", None, inserted[2], EXTRA)]


def test_numbers_and_timestamps_compare_as_values_within_tolerance() -> None:
    assert compare_json({"n": 1}, {"n": 1.0}) == []
    assert compare_json({"n": 0.1 + 0.2}, {"n": 0.3}) != []
    assert compare_json({"n": 0.1 + 0.2}, {"n": 0.3}, rules=Rules(number_tolerance=1e-9)) == []
    assert compare_json({"at": "2024-05-01T10:00:00+00:00"}, {"at": "2024-05-01T10:00:00Z"}) == []
    assert compare_json({"at": "2024-05-01T10:00:00+00:00"}, {"at": "2024-05-01T10:00:00.4Z"}) != []
    assert compare_json({"at": "2024-05-01T10:00:00+00:00"}, {"at": "2024-05-01T10:00:00.4Z"}, rules=Rules(time_tolerance=1)) == []
