"""Noise excuses a varying value, not a field the new side drops or retypes."""

from __future__ import annotations

from fastapi_gateway.parity.difference import EXTRA, MISSING, TYPE, Difference
from fastapi_gateway.parity.difference import split_noise


def test_a_value_that_varies_on_the_legacy_side_is_noise() -> None:
    noise = [Difference("$.generated_at", "10:00", "10:01")]
    real, noisy = split_noise([Difference("$.generated_at", "10:00", "09:00"), Difference("$.title", "a", "b")], noise)
    assert [d.path for d in real] == ["$.title"]
    assert [d.path for d in noisy] == ["$.generated_at"]


def test_dropping_or_retyping_a_noisy_field_is_still_a_difference() -> None:
    noise = [Difference("$.token", "a", "b")]
    dropped, retyped = Difference("$.token", "a", None, MISSING), Difference("$.token", "a", 1, TYPE)
    assert split_noise([dropped, retyped], noise) == ([dropped, retyped], [])
    # unless the legacy side itself sometimes leaves it out
    assert split_noise([dropped], [Difference("$.token", None, "b", EXTRA)]) == ([], [dropped])


def test_noise_covers_what_is_below_it_and_a_varying_length_covers_the_list() -> None:
    noise = [Difference("$.items.length", 3, 4)]
    inside = Difference("$.items[2].name", "x", "y")
    assert split_noise([inside, Difference("$.items", 1, 2)], noise)[1] == [inside, Difference("$.items", 1, 2)]
