"""Noise: what differs between two answers of the legacy side itself (Diffy's idea).

Each case asks the legacy side twice; a field that changed between those two answers (a
timestamp, a token, a random order) says nothing about the new side, so a difference there
is reported as noise, not as a failure. Unlike Diffy, noise only excuses a *value*: a new
side that leaves a noisy field out, adds it, or changes its type is still a difference —
unless the legacy side itself did that between its two answers.
"""

from __future__ import annotations

from collections.abc import Sequence

from .difference import CHANGED, Difference
from .selectors import is_under

__all__ = ["split_noise"]


def _excused(difference: Difference, noise: Difference) -> bool:
    if not is_under(difference.path, noise.path):
        return False
    return difference.kind == CHANGED or noise.kind != CHANGED or noise.path.endswith(".length")


def split_noise(differences: Sequence[Difference], noise: Sequence[Difference]) -> tuple[list[Difference], list[Difference]]:
    """``(real, noisy)``: the differences of legacy vs new that the legacy-vs-legacy ``noise`` excuses."""
    real: list[Difference] = []
    noisy: list[Difference] = []
    for difference in differences:
        (noisy if any(_excused(difference, known) for known in noise) else real).append(difference)
    return real, noisy
